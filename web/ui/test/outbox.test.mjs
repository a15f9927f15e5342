import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox, PIECE, MAX_WAITING } from '../src/outbox.js';

// line records what an Outbox offers it; it takes up to room octets
// (Infinity: everything) and then refuses until room is raised.
function line(room = Infinity) {
  const l = { got: [], room, timers: [] };
  l.offer = (piece) => {
    if (piece.length > l.room) return false;
    l.room -= piece.length;
    l.got.push(Uint8Array.from(piece));
    return true;
  };
  l.schedule = (fn) => l.timers.push(fn);
  l.fire = () => { const t = l.timers; l.timers = []; for (const f of t) f(); };
  l.all = () => Buffer.concat(l.got);
  return l;
}

function bytes(n, seed = 0) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

test('a paste larger than a WebSocket message goes in pieces, in order', () => {
  const l = line();
  const o = new Outbox(l.offer, l.schedule);
  const paste = bytes(1100000);
  assert.equal(o.push(paste), true);
  assert.ok(l.got.length >= Math.ceil(paste.length / PIECE));
  assert.ok(l.got.every((p) => p.length > 0 && p.length <= PIECE));
  assert.deepEqual(l.all(), Buffer.from(paste));
  assert.equal(o.waiting, 0);
});

test('a full line holds the rest back, then takes it in order', () => {
  const l = line(PIECE);
  const o = new Outbox(l.offer, l.schedule);
  const paste = bytes(5 * PIECE + 123, 1);
  o.push(paste);
  o.push(Uint8Array.of(0x0d)); // Enter typed after the paste
  assert.equal(l.got.length, 1);
  assert.equal(o.waiting, 4 * PIECE + 124);
  assert.equal(l.timers.length, 1, 'one retry scheduled');
  o.push(Uint8Array.of(0x41)); // typing while held back: queued, no second timer
  assert.equal(l.timers.length, 1);
  while (o.waiting > 0) {
    l.room = PIECE;
    l.fire();
  }
  const want = Buffer.concat([Buffer.from(paste), Buffer.of(0x0d, 0x41)]);
  assert.deepEqual(l.all(), want);
  assert.equal(l.timers.length, 0);
});

test('keys typed while the line is stalled are joined, none dropped', () => {
  const l = line(0);
  const o = new Outbox(l.offer, l.schedule);
  const typed = [];
  for (let i = 0; i < 1600; i++) {
    const k = Uint8Array.of(0x30 + (i % 10));
    typed.push(k[0]);
    assert.equal(o.push(k), true);
  }
  assert.equal(l.got.length, 0);
  l.room = Infinity;
  l.fire();
  assert.equal(l.got.length, 1, 'one piece for 1600 keys');
  assert.deepEqual(l.all(), Buffer.from(typed));
});

test('one paste larger than MAX_WAITING is taken whole when nothing waits', () => {
  const l = line(0);
  const o = new Outbox(l.offer, l.schedule);
  const big = new Uint8Array(MAX_WAITING + PIECE + 7).map((_, i) => i % 251);
  assert.equal(o.push(big), true);
  assert.equal(o.push(Uint8Array.of(1)), false, 'more behind it is refused');
  l.room = Infinity;
  l.fire();
  assert.deepEqual(l.all(), Buffer.from(big));
});

test('input beyond MAX_WAITING is refused, not queued', () => {
  const l = line(0);
  const o = new Outbox(l.offer, l.schedule);
  assert.equal(o.push(new Uint8Array(MAX_WAITING)), true);
  assert.equal(o.push(Uint8Array.of(1)), false);
  assert.equal(o.waiting, MAX_WAITING);
  o.clear();
  assert.equal(o.waiting, 0);
  l.room = Infinity;
  l.fire();
  assert.equal(l.got.length, 0, 'cleared input is not sent');
});
