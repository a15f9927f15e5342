import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCodec, binaryString, terminalText } from '../src/codec.js';

test('UTF-8 character split across messages', () => {
  const c = makeCodec('utf-8');
  const b = new TextEncoder().encode('é€');
  assert.equal(c.decode(b.slice(0, 1)) + c.decode(b.slice(1, 3)) + c.decode(b.slice(3)), 'é€');
});

test('CP437 codec', () => {
  const c = makeCodec('cp437');
  assert.equal(c.name, 'cp437');
  assert.equal(c.decode(Uint8Array.from([0xc9, 0xcd, 0xbb])), '╔═╗');
  assert.deepEqual(c.encode('╔'), Uint8Array.from([0xc9]));
});

test('unknown codec is UTF-8', () => {
  assert.equal(makeCodec('ebcdic').name, 'utf-8');
});

test('binary strings are octets', () => {
  assert.deepEqual(binaryString('\x1b[M \xff'), Uint8Array.from([0x1b, 0x5b, 0x4d, 0x20, 0xff]));
});

test('DEL is dropped from what the terminal is given', () => {
  assert.equal(terminalText('a\x7fb\x7f\x7f'), 'ab');
  assert.equal(terminalText('\x1b[1mno DEL\x1b[0m'), '\x1b[1mno DEL\x1b[0m');
  assert.equal(terminalText(makeCodec('utf-8').decode(Uint8Array.from([0x41, 0x7f, 0x42]))), 'AB');
  // In CP437 DEL is a glyph, the house, as a PC's screen showed it.
  assert.equal(terminalText(makeCodec('cp437').decode(Uint8Array.from([0x41, 0x7f, 0x42]))), 'A\u2302B');
});
