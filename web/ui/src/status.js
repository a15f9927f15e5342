// Call status for the status line. The gateway tells a text caller why a
// call ends in the last words it sends before hanging up (bridge/call.go):
// "BUSY" as the only output (or after a short line saying why, see
// heardBusy), "NO CARRIER (access denied)", "Hanging up;
// you will be called back." and other "NO CARRIER (...)" lines. CallStatus
// keeps the tail of the output and classifies it when the line closes, so
// text a backend prints in mid-session ("NO CARRIER" in a file listing)
// does not change the status.

// Status states, also the data-state attribute of the status line.
export const State = Object.freeze({
  IDLE: 'idle',
  CONNECTING: 'connecting',
  AUTHENTICATING: 'authenticating',
  CONNECTED: 'connected',
  STALLED: 'stalled',
  BUSY: 'busy',
  DENIED: 'denied',
  CALLBACK: 'callback',
  HUNGUP: 'hungup',
  UNREACHABLE: 'unreachable',
  REFUSED: 'refused',
  HOSTKEY: 'hostkey',
});

// States a V.42 call's end may report (web/wasm classify); others are
// taken as hung up.
const V42_END = new Set([State.DENIED, State.BUSY, State.CALLBACK, State.HOSTKEY, State.HUNGUP]);

const TAIL = 512; // octets of output kept for classification

// What a gateway may say before its BUSY result line for the call to
// count busy (bridge/call.go busyMessage), the bounds of the Go callers'
// reader (internal/busyline, used by gateway dial and web/v42caller): the reason
// in at most MAX_BUSY_LINES lines of printable ASCII, each at most
// MAX_BUSY_LINE_LEN octets, MAX_BUSY_HEARD octets in all. Anything longer
// or stranger is not a BUSY, so a hostile gateway cannot put control
// characters or more than a short line into the status line.
export const MAX_BUSY_LINES = 2;
export const MAX_BUSY_LINE_LEN = 120;
export const MAX_BUSY_HEARD = 256;

// MAX_NOTICE_LEN bounds a notice's text, as the gateway does
// (transport/ws MaxNoticeLen).
export const MAX_NOTICE_LEN = 200;

// noticeText is the text of a notice control message from the gateway
// ({"type":"notice","text":"..."}), or null for any other message.
export function noticeText(message) {
  if (typeof message !== 'string' || message.length > 1024) return null;
  try {
    const m = JSON.parse(message);
    return m !== null && typeof m === 'object' && m.type === 'notice' && typeof m.text === 'string' ? m.text : null;
  } catch {
    return null;
  }
}

// heardBusy tells whether heard (the whole output of a call, one
// character per octet) was the gateway's BUSY result: BUSY alone on the
// last line, preceded by nothing or by at most MAX_BUSY_LINES short
// printable lines, the gateway's reason ("\r\ndialgate: redialled too
// soon; try again in 2 s\r\nBUSY\r\n"). Blank lines and blanks around
// the words do not count. why is the reason's lines joined by a space,
// '' for a bare BUSY.
export function heardBusy(heard) {
  const no = { busy: false, why: '' };
  if (heard.length > MAX_BUSY_HEARD) return no;
  const lines = [];
  for (const raw of heard.split(/[\r\n]/)) {
    const line = raw.replace(/^[ \t\v\f]+|[ \t\v\f]+$/g, '');
    if (line === '') continue;
    if (lines.length === MAX_BUSY_LINES + 1) return no;
    lines.push(line);
  }
  if (lines.length === 0 || lines[lines.length - 1] !== 'BUSY') return no;
  const reason = lines.slice(0, -1);
  if (reason.some((l) => l.length > MAX_BUSY_LINE_LEN || !/^[\x20-\x7e]*$/.test(l))) return no;
  return { busy: true, why: reason.join(' ') };
}

// busyHint is a BUSY reason without the gateway's name the gateway puts
// before it ("dialgate: " in "dialgate: all lines busy; try again
// later"; a gateway_name is at most 64 octets), for the status line; as
// web/v42caller's BusyError.Hint.
export function busyHint(why) {
  const i = why.indexOf(': ');
  return i > 0 && i <= 64 && why.length > i + 2 ? why.slice(i + 2) : why;
}

// redialDelay is how many seconds a BUSY for redialling too soon (the
// gateway's hold-off after a call from this address: "redialled too
// soon; try again in 2 s") asks the caller to wait, from the status
// line's text; 0 for any other status, or a wait over a minute.
export function redialDelay(text) {
  const m = /^busy: redialled too soon; try again in (\d{1,2}) s$/.exec(text);
  return m ? Number(m[1]) : 0;
}

// Why a WebSocket that never opened failed, as far as a browser can tell
// (it hides the HTTP status of a refused upgrade; main.js asks the line's
// path over plain HTTP instead): the kinds unanswered() takes.
export const NoAnswer = Object.freeze({
  TIMEOUT: 'timeout', // no answer within the connect timeout
  UNREACHABLE: 'unreachable', // not even plain HTTP reaches the gateway
  NOT_FOUND: 'notfound', // HTTP 404 at the line's path
  REFUSED: 'refused', // the path answers HTTP, the upgrade was refused
});

// closeDetail words a WebSocket close code (RFC 6455 §7.4.1) the gateway
// or the browser gave the line, with the close frame's reason if any.
// Normal closes have no words: the status says "hung up".
export function closeDetail(code, reason) {
  if (!code || code === 1000 || code === 1005) return '';
  const words = {
    1001: 'the gateway went away',
    1006: 'the connection was lost',
    1007: 'the gateway refused invalid data',
    1008: 'the gateway refused the line (policy)',
    1009: 'the gateway refused a message too big for it',
    1011: 'the gateway failed',
  }[code] || 'closed';
  return `${reason || words} (close code ${code})`;
}

export class CallStatus {
  constructor() {
    this.state = State.IDLE;
    this.detail = '';
    this.tail = '';
    this.received = 0;
    this.opened = false;
    this.ended = false;
    this.liveDetail = ''; // the detail a stall hides
    this.stalls = new Map(); // source -> words, of the stall in progress
    this.notice = ''; // the gateway's words for a connected call (noticed)
  }

  // connecting: a WebSocket is being opened.
  connecting() {
    this.state = State.CONNECTING;
    this.detail = '';
    this.tail = '';
    this.received = 0;
    this.opened = false;
    this.ended = false;
    this.notice = '';
    this.stalls.clear();
  }

  // noticed: the gateway's words for the user during the call (a
  // {"type":"notice"} control message, such as its drain: "the gateway
  // is shutting down: this call ends within 30 s"). While the call is
  // connected they take the place of the detail; only a line of
  // printable ASCII is taken, so a gateway cannot put controls or a
  // screenful into the status line.
  noticed(text) {
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_NOTICE_LEN || !/^[\x20-\x7e]*$/.test(text)) return;
    this.notice = text;
  }

  // answered: the WebSocket is established, but the call still shows
  // as connecting until open(): a gateway with no line for the call
  // says BUSY and hangs up at once, and "connected" flashed before
  // "busy" (browser trial). A close meanwhile is classified as after
  // open().
  answered() {
    this.opened = true;
  }

  // open: the WebSocket is established (the gateway answered).
  open() {
    this.opened = true;
    this.state = State.CONNECTED;
  }

  // authenticating: the WebSocket is established and the V.42 caller runs
  // LAPM and Access Security; ready() says when the session is up.
  authenticating() {
    this.opened = true;
    this.state = State.AUTHENTICATING;
    this.detail = '';
  }

  // stall: the call is up but the gateway has stopped answering (why
  // says for how long); the line may be down, or only slow. Only a
  // connected call stalls. source names what noticed it: the page's
  // keepalive pings ('line', the default) or a V.42 session's link
  // ('link'), whose polls go unanswered long before the pings do on a
  // fast line; the call is stalled while either says so, in the words
  // of the first.
  stall(why, source = 'line') {
    if (this.state !== State.CONNECTED && this.state !== State.STALLED) return;
    this.stalls.set(source, why);
    if (this.state === State.CONNECTED) {
      this.state = State.STALLED;
      this.liveDetail = this.detail;
    }
    this.detail = this.stalls.values().next().value;
  }

  // unstall: source hears the gateway again; once no source says the
  // call is stalled it is connected as before.
  unstall(source = 'line') {
    this.stalls.delete(source);
    if (this.state !== State.STALLED) return;
    if (this.stalls.size > 0) {
      this.detail = this.stalls.values().next().value;
      return;
    }
    this.state = State.CONNECTED;
    this.detail = this.liveDetail;
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
    // A plain hang-up: the session's last words (fed as on the text
    // path; the gateway's "NO CARRIER (...)" travels inside the sealed
    // link) say why, as they do for a text call.
    let m;
    if (this.state === State.HUNGUP && !this.detail && (m = /NO CARRIER \(([^)\r\n]*)\)\s*$/.exec(this.tail))) {
      this.detail = m[1];
    }
    return this.state;
  }

  // unanswered records why a WebSocket that never opened failed (a
  // NoAnswer kind); path is the line's path, for the words.
  unanswered(kind, path) {
    this.ended = true;
    switch (kind) {
      case NoAnswer.TIMEOUT:
        this.state = State.UNREACHABLE;
        this.detail = 'the gateway did not answer in time';
        break;
      case NoAnswer.NOT_FOUND:
        this.state = State.REFUSED;
        this.detail = `the gateway has no line at ${path} (HTTP 404)`;
        break;
      case NoAnswer.REFUSED:
        this.state = State.REFUSED;
        this.detail = 'the gateway refused the connection (origin not allowed, or too many connections; its log says which)';
        break;
      default:
        this.state = State.UNREACHABLE;
        this.detail = 'the gateway could not be reached';
    }
    return this.state;
  }

  // closed classifies the end of the call from the last output (text
  // login) unless end() or unanswered() already said how it ended; code
  // and reason are the WebSocket's close code and reason, worded when the
  // output says nothing.
  closed(code, reason) {
    if (this.ended) {
      // A V.42 call its caller saw end as a bare hang-up because the
      // line went: the close code says how (1006 when the gateway died).
      if (this.state === State.HUNGUP && !this.detail) this.detail = closeDetail(code, reason);
      return this.state;
    }
    const tail = this.tail;
    let m;
    let busy;
    if (!this.opened) {
      this.state = State.UNREACHABLE;
      this.detail = 'the gateway could not be reached';
    } else if (this.received === tail.length && (busy = heardBusy(tail)).busy) {
      this.state = State.BUSY;
      this.detail = busy.why ? busyHint(busy.why) : 'all lines are busy; try again later';
    } else if (/NO CARRIER \(access denied\)\s*$/.test(tail)) {
      this.state = State.DENIED;
      this.detail = 'access denied';
    } else if ((m = /NO CARRIER \((too many attempts[^)]*)\)\s*$/.exec(tail))) {
      this.state = State.DENIED;
      this.detail = m[1];
    } else if (/you will be called back\.?\s*(NO CARRIER)?\s*$/.test(tail)) {
      this.state = State.CALLBACK;
      // It calls the line registered for the account: a page cannot
      // answer a call, so the user must wait there, not here.
      this.detail = 'the gateway will call back the line registered for this account; a browser cannot take that call';
    } else if ((m = /NO CARRIER \(([^)\r\n]*)\)\s*$/.exec(tail))) {
      this.state = State.HUNGUP;
      this.detail = m[1];
    } else {
      this.state = State.HUNGUP;
      this.detail = closeDetail(code, reason);
    }
    return this.state;
  }

  // text is the status line's wording.
  text() {
    const words = {
      [State.IDLE]: 'not connected',
      [State.CONNECTING]: 'connecting…',
      [State.AUTHENTICATING]: 'authenticating…',
      [State.CONNECTED]: 'connected',
      [State.STALLED]: 'stalled',
      [State.BUSY]: 'busy',
      [State.DENIED]: 'denied',
      [State.CALLBACK]: 'callback',
      [State.HUNGUP]: 'hung up',
      [State.UNREACHABLE]: 'no answer',
      [State.REFUSED]: 'refused',
      [State.HOSTKEY]: 'HOST KEY CHANGED',
    };
    const w = words[this.state] ?? this.state;
    if (this.notice && this.state === State.CONNECTED) return `${w}: ${this.notice}`;
    return this.detail ? `${w}: ${this.detail}` : w;
  }
}
