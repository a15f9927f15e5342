import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHostKey, forgetHostKey } from '../src/hostkeys.js';

class MemStorage {
  constructor() { this.m = new Map(); }
  getItem(k) { return this.m.has(k) ? this.m.get(k) : null; }
  setItem(k, v) { this.m.set(k, String(v)); }
  removeItem(k) { this.m.delete(k); }
}

test('first use pins, same key passes, changed key is refused', () => {
  const st = new MemStorage();
  let r = checkHostKey(st, 'bbs.example:443', 'SHA256:aaa');
  assert.deepEqual([r.ok, r.firstUse], [true, true]);
  r = checkHostKey(st, 'bbs.example:443', 'SHA256:aaa');
  assert.deepEqual([r.ok, r.firstUse], [true, false]);
  r = checkHostKey(st, 'bbs.example:443', 'SHA256:bbb');
  assert.equal(r.ok, false);
  assert.equal(r.message, 'pinned SHA256:aaa, offered SHA256:bbb');
  // The refused key did not replace the pin.
  assert.equal(checkHostKey(st, 'bbs.example:443', 'SHA256:aaa').ok, true);
});

test('pins are per host', () => {
  const st = new MemStorage();
  checkHostKey(st, 'a:1', 'SHA256:aaa');
  assert.equal(checkHostKey(st, 'b:1', 'SHA256:bbb').firstUse, true);
  assert.equal(checkHostKey(st, 'a:1', 'SHA256:bbb').ok, false);
});

test('forget lets a new key be pinned', () => {
  const st = new MemStorage();
  checkHostKey(st, 'a:1', 'SHA256:aaa');
  forgetHostKey(st, 'a:1');
  assert.equal(checkHostKey(st, 'a:1', 'SHA256:bbb').firstUse, true);
});

test('storage that throws fails open to first use, never to a silent pin', () => {
  const broken = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('denied'); }, removeItem() {} };
  const r = checkHostKey(broken, 'a:1', 'SHA256:aaa');
  assert.equal(r.firstUse, true);
});
