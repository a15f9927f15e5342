import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CP437_HIGH, decodeCP437, encodeCP437 } from '../src/cp437.js';

test('CP437 high half has 128 distinct characters', () => {
  assert.equal([...CP437_HIGH].length, 128);
  assert.equal(new Set(CP437_HIGH).size, 128);
});

test('CP437 known code points', () => {
  // Values from IBM code page 437 (also Python's cp437 codec).
  const want = { 0x80: 0x00c7, 0x9e: 0x20a7, 0xb0: 0x2591, 0xb3: 0x2502, 0xc4: 0x2500,
    0xc9: 0x2554, 0xdb: 0x2588, 0xdf: 0x2580, 0xe1: 0x00df, 0xe6: 0x00b5, 0xf9: 0x2219,
    0xfa: 0x00b7, 0xfe: 0x25a0, 0xff: 0x00a0 };
  for (const [b, cp] of Object.entries(want)) {
    assert.equal(decodeCP437([Number(b)]).codePointAt(0), cp, `octet ${Number(b).toString(16)}`);
  }
});

test('CP437 keeps ASCII and control characters', () => {
  const ansi = [0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x0d, 0x0a, 0x07, 0x08];
  assert.equal(decodeCP437(ansi), String.fromCharCode(...ansi));
});

test('CP437 shows DEL as the house, and the house is DEL', () => {
  assert.equal(decodeCP437([0x7f]), '\u2302');
  assert.deepEqual(encodeCP437('\u2302\x7f'), Uint8Array.from([0x7f, 0x7f]));
});

test('CP437 round trip of every octet', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(encodeCP437(decodeCP437(all)), all);
});

test('CP437 encodes unmappable characters as ?', () => {
  assert.deepEqual(encodeCP437('a€😀░'), Uint8Array.from([0x61, 0x3f, 0x3f, 0xb0]));
});
