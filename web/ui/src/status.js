// Call status for the status line. The gateway tells a text caller why a
// call ends in the last words it sends before hanging up (bridge/call.go):
// "BUSY" as the only output, "NO CARRIER (access denied)", "Hanging up;
// you will be called back." and other "NO CARRIER (...)" lines. CallStatus
// keeps the tail of the output and classifies it when the line closes, so
// text a backend prints in mid-session ("NO CARRIER" in a file listing)
// does not change the status.

// Status states, also the data-state attribute of the status line.
export const State = Object.freeze({
  IDLE: 'idle',
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  BUSY: 'busy',
  DENIED: 'denied',
  CALLBACK: 'callback',
  HUNGUP: 'hungup',
  UNREACHABLE: 'unreachable',
  HOSTKEY: 'hostkey',
});

// States a V.42 call's end may report (web/wasm classify); others are
// taken as hung up.
const V42_END = new Set([State.DENIED, State.BUSY, State.CALLBACK, State.HOSTKEY, State.HUNGUP]);

const TAIL = 512; // octets of output kept for classification

export class CallStatus {
  constructor() {
    this.state = State.IDLE;
    this.detail = '';
    this.tail = '';
    this.received = 0;
    this.opened = false;
    this.ended = false;
  }

  // connecting: a WebSocket is being opened.
  connecting() {
    this.state = State.CONNECTING;
    this.detail = '';
    this.tail = '';
    this.received = 0;
    this.opened = false;
    this.ended = false;
  }

  // open: the WebSocket is established (the gateway answered).
  open() {
    this.opened = true;
    this.state = State.CONNECTED;
  }

  // feed records octets received from the gateway.
  feed(bytes) {
    this.received += bytes.length;
    let s = '';
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    this.tail = (this.tail + s).slice(-TAIL);
  }

  // ready: the V.42 caller established the session (detail names it).
  ready(detail) {
    this.state = State.CONNECTED;
    this.detail = detail;
  }

  // end records how a V.42 call ended, as the caller classified it; a
  // later closed() keeps it.
  end(state, detail) {
    this.ended = true;
    this.state = V42_END.has(state) ? state : State.HUNGUP;
    this.detail = detail || '';
    return this.state;
  }

  // closed classifies the end of the call from the last output (text
  // login) unless end() already said how it ended.
  closed() {
    if (this.ended) return this.state;
    const tail = this.tail;
    let m;
    if (!this.opened) {
      this.state = State.UNREACHABLE;
      this.detail = 'the gateway could not be reached';
    } else if (this.received === tail.length && /^\s*BUSY\s*$/.test(tail)) {
      this.state = State.BUSY;
      this.detail = 'all lines are busy; try again later';
    } else if (/NO CARRIER \(access denied\)\s*$/.test(tail)) {
      this.state = State.DENIED;
      this.detail = 'access denied';
    } else if ((m = /NO CARRIER \((too many attempts[^)]*)\)\s*$/.exec(tail))) {
      this.state = State.DENIED;
      this.detail = m[1];
    } else if (/you will be called back\.?\s*(NO CARRIER)?\s*$/.test(tail)) {
      this.state = State.CALLBACK;
      this.detail = 'the gateway will call you back';
    } else if ((m = /NO CARRIER \(([^)\r\n]*)\)\s*$/.exec(tail))) {
      this.state = State.HUNGUP;
      this.detail = m[1];
    } else {
      this.state = State.HUNGUP;
      this.detail = '';
    }
    return this.state;
  }

  // text is the status line's wording.
  text() {
    const words = {
      [State.IDLE]: 'not connected',
      [State.CONNECTING]: 'connecting…',
      [State.CONNECTED]: 'connected',
      [State.BUSY]: 'busy',
      [State.DENIED]: 'denied',
      [State.CALLBACK]: 'callback',
      [State.HUNGUP]: 'hung up',
      [State.UNREACHABLE]: 'no answer',
      [State.HOSTKEY]: 'HOST KEY CHANGED',
    };
    const w = words[this.state] ?? this.state;
    return this.detail ? `${w}: ${this.detail}` : w;
  }
}
