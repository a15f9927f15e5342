// What the user types and pastes, on its way to the line: sent in order,
// in pieces of at most PIECE octets, each only when the line takes it.
// The gateway's WebSocket listener accepts messages of up to 1 MiB
// (transport/ws DefaultReadLimit) and hangs up on a larger one, so a big
// paste must not go as one message; and a line that is slow or stalled
// (a busy backend, a V.42 link waiting for acknowledgements) must hold
// the rest back rather than lose it or fill the browser's memory with it.

export const PIECE = 32 << 10; // octets per message, well below that limit
export const MAX_WAITING = 16 << 20; // octets held back before input is refused
export const RETRY_MS = 20; // how soon a line that refused a piece is offered it again

export class Outbox {
  // offer(piece) sends the piece (a Uint8Array of 1..PIECE octets) and
  // returns true, or returns false when the line cannot take it now; the
  // outbox then offers the same octets again RETRY_MS later (a browser's
  // WebSocket has no event for a drained send buffer). schedule is
  // setTimeout (called as a plain function: a browser's setTimeout
  // refuses another `this`) or a replacement for tests.
  constructor(offer, schedule = (fn, ms) => setTimeout(fn, ms)) {
    this.offer = offer;
    this.schedule = schedule;
    this.queue = []; // Uint8Arrays; the first is sent from this.head on
    this.head = 0;
    this.waiting = 0; // octets queued
    this.timer = false;
  }

  // push queues bytes behind everything pushed before and sends what the
  // line takes. It returns false, queuing nothing, when that would hold
  // more than MAX_WAITING octets back behind input pushed earlier; one
  // input (a paste) is taken whole, whatever its size, when nothing is
  // waiting: it is in the page's memory already, and the bound is for
  // what piles up while the line is stalled (browser trial: a 17 MiB
  // paste was dropped on a healthy line).
  push(bytes) {
    if (bytes.length === 0) return true;
    if (this.waiting > 0 && this.waiting + bytes.length > MAX_WAITING) return false;
    this.queue.push(bytes);
    this.waiting += bytes.length;
    this.pump();
    return true;
  }

  // clear forgets what has not been sent (the line closed).
  clear() {
    this.queue = [];
    this.head = 0;
    this.waiting = 0;
  }

  // next is the next piece: the first entry's rest, or small entries
  // (typed keys) joined up to PIECE octets.
  next() {
    const first = this.queue[0];
    const rest = first.length - this.head;
    if (rest >= PIECE || this.queue.length === 1) {
      return first.subarray(this.head, this.head + Math.min(rest, PIECE));
    }
    const piece = new Uint8Array(Math.min(this.waiting, PIECE));
    let n = 0;
    for (let i = 0, off = this.head; i < this.queue.length && n < piece.length; i++, off = 0) {
      const e = this.queue[i];
      const take = Math.min(e.length - off, piece.length - n);
      piece.set(e.subarray(off, off + take), n);
      n += take;
    }
    return piece;
  }

  // consume drops n sent octets from the front of the queue.
  consume(n) {
    this.waiting -= n;
    while (n > 0) {
      const left = this.queue[0].length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.queue.shift();
      this.head = 0;
    }
  }

  pump() {
    while (this.queue.length > 0) {
      const piece = this.next();
      if (!this.offer(piece)) {
        if (!this.timer) {
          this.timer = true;
          this.schedule(() => { this.timer = false; this.pump(); }, RETRY_MS);
        }
        return;
      }
      this.consume(piece.length);
    }
  }
}
