// Keepalive of the WebSocket line. A page cannot see the pings and pongs
// of RFC 6455, so a line that dies silently (a network blackhole) looks
// connected until the browser's TCP gives up, minutes later. The page
// therefore sends {"type":"ping"} control messages every PING_INTERVAL_MS
// and the gateway (transport/ws) answers each with {"type":"pong"}.
// Keepalive decides from the ticks of that interval alone (no clock: a
// tick a background tab's throttling delays counts as one tick): when
// STALL_TICKS ticks in a row find nothing at all heard from the gateway
// since the previous tick's ping, the line is stalled; anything heard
// ends that. Stalls are reported only after a first pong, so a gateway
// that does not know "ping" never makes the page cry stall.

export const PING_INTERVAL_MS = 10000;
export const STALL_TICKS = 2;

// PING is the control message the page sends.
export const PING = '{"type":"ping"}';

// isPong reports whether a text message from the gateway is a pong.
export function isPong(text) {
  if (typeof text !== 'string' || text.length > 1024) return false;
  try {
    const m = JSON.parse(text);
    return m !== null && typeof m === 'object' && m.type === 'pong';
  } catch {
    return false;
  }
}

export class Keepalive {
  // ping() sends a ping; onStall(true) says the line stalled,
  // onStall(false) that the gateway is heard again.
  constructor({ ping, onStall }) {
    this.ping = ping;
    this.onStall = onStall;
    this.armed = false; // a pong has been seen
    this.waiting = false; // a ping went out and nothing was heard since
    this.missed = 0; // ticks in a row that found waiting
    this.stalled = false;
  }

  // tick is called when the line opens and every PING_INTERVAL_MS
  // after: it counts an unanswered ping and sends the next one.
  tick() {
    if (this.waiting) {
      this.missed++;
      if (this.armed && !this.stalled && this.missed >= STALL_TICKS) {
        this.stalled = true;
        this.onStall(true);
      }
    }
    this.waiting = true;
    this.ping();
  }

  // heard records a message from the gateway (data or control).
  heard() {
    this.waiting = false;
    this.missed = 0;
    if (this.stalled) {
      this.stalled = false;
      this.onStall(false);
    }
  }

  // pong records a pong: the gateway answers pings.
  pong() {
    this.armed = true;
    this.heard();
  }
}
