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

// MAX_PINGS_OUT bounds the pings a SentLedger remembers while they go
// unanswered (a stall of many minutes): later ones are not recorded, so
// that the pongs that come after are taken for earlier pings, which
// confirms less, never more.
const MAX_PINGS_OUT = 64;

// SentLedger counts the input a text call sent on its line that the
// gateway has not confirmed taking. A pong answers a ping, which the
// gateway reads only after the input sent before it: each pong confirms
// what had been sent when its ping went. When the line is lost, the
// octets sent since the last confirmed ping may not have reached the
// gateway, and the page says so instead of losing them silently
// (browser trial: keys typed while the network was down were gone after
// "the connection was lost", with no word about them).
export class SentLedger {
  constructor() {
    this.total = 0; // octets of input sent
    this.confirmed = 0; // of those, how many the gateway confirmed
    this.pings = []; // this.total when each unanswered ping went
    this.skipped = 0; // pings sent, not recorded (pings was full), after those in it
    this.armed = false; // the gateway answers pings
  }

  // sent records n octets of input handed to the line.
  sent(n) {
    this.total += n;
  }

  // ping records a ping sent behind the input sent so far.
  // Once MAX_PINGS_OUT are unanswered, the next are counted, not
  // recorded, until all of those are answered: a pong is always paired
  // with its own ping, so it never confirms more than was sent before it
  // (review: after an overflow a recorded ping was paired with an older
  // one's pong).
  ping() {
    if (this.skipped === 0 && this.pings.length < MAX_PINGS_OUT) this.pings.push(this.total);
    else this.skipped++;
  }

  // pong records the answer to the oldest ping still unanswered.
  pong() {
    this.armed = true;
    if (this.pings.length > 0) this.confirmed = Math.max(this.confirmed, this.pings.shift());
    else if (this.skipped > 0) this.skipped--;
  }

  // unconfirmed is how many octets sent the gateway has not confirmed;
  // 0 while it has answered no ping (an older gateway: nothing is
  // known).
  get unconfirmed() {
    return this.armed ? this.total - this.confirmed : 0;
  }
}

// lostInputText words the input a call's end left undelivered: held
// octets the page had not sent yet (held back behind a slow line, then
// discarded), and unconfirmed octets sent on a line that was lost before
// the gateway confirmed them. '' when there are none.
export function lostInputText(held, unconfirmed) {
  const parts = [];
  if (unconfirmed > 0) parts.push(`the gateway had not confirmed the last ${unconfirmed} octets typed or pasted when the line was lost: they may not have reached it`);
  if (held > 0) parts.push(`${held} octets typed or pasted were still waiting to be sent and were discarded`);
  return parts.join('; ');
}

// stallText words a stall of the text call's line: the gateway silent
// for secs seconds, with unconfirmed octets of input sent that it has
// not confirmed. Pings queue behind input, so a program that reads no
// input, or a slow line still carrying a large paste, looks like a
// silent gateway (browser trial: a 300 KB paste over a 5000 octet/s line
// said "the network may be down" for 35 s while it went through whole).
// What the page has still to send is no measure of it: the system's
// socket buffers take a paste whole, and the page sees nothing left.
export function stallText(secs, unconfirmed) {
  const base = `the gateway has not answered for ${secs} s`;
  if (unconfirmed <= 0) return base;
  return `${base}, nor taken the input sent before its pings (the network may be slow or down, or the program the call reaches not reading it)`;
}
