import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  crc16, crc32, hexHeader, posHeader, headerPos, parseFileInfo, Reader, Receiver, ZmodemFilter,
  escape as zescape, binHeader as pageHeader, subpacket as pageSubpacket,
  Z, ZDLE, ZCRCE, ZCRCG, ZCRCQ, ZCRCW, CANCEL, RINIT_FLAGS, TIMEOUT_TICKS, CANFDX, CANOVIO,
} from '../src/zmodem.js';

const ascii = (s) => Uint8Array.from([...s].map((c) => c.charCodeAt(0)));
const latin1 = (b) => Buffer.from(b).toString('latin1');
const cat = (...parts) => Uint8Array.from(Buffer.concat(parts.map((p) => Buffer.from(p))));
const sha = (b) => createHash('sha256').update(b).digest('hex');

// ---- a test sender's encoder, written from [ZM] 7.2-7.3 ----

// escape ZDLE-escapes octets as lrzsz's sz does: ZDLE, DLE, XON, XOFF
// with and without the high bit, and 0x7f/0xff as ZRUB0/ZRUB1 to cover
// those too.
function escape(bytes) {
  const out = [];
  for (const c of bytes) {
    if (c === 0x7f) out.push(ZDLE, 0x6c);
    else if (c === 0xff) out.push(ZDLE, 0x6d);
    else if ([0x18, 0x10, 0x11, 0x13, 0x98, 0x90, 0x91, 0x93].includes(c)) out.push(ZDLE, c ^ 0x40);
    else out.push(c);
  }
  return out;
}

function binHeader(type, hdr, use32) {
  const body = [type, ...hdr];
  let crc;
  if (use32) {
    const c = crc32(body);
    crc = [c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24];
  } else {
    const c = crc16(body);
    crc = [c >> 8, c & 0xff];
  }
  return Uint8Array.from([0x2a, ZDLE, use32 ? 0x43 : 0x41, ...escape([...body, ...crc])]);
}

function subpacket(data, end, use32) {
  let crc;
  if (use32) {
    const c = crc32([end], crc32(data));
    crc = [c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24];
  } else {
    const c = crc16([end], crc16(data));
    crc = [c >> 8, c & 0xff];
  }
  return Uint8Array.from([...escape(data), ZDLE, end, ...escape(crc)]);
}

function everyOctet(n = 3) {
  const b = new Uint8Array(256 * n);
  for (let i = 0; i < b.length; i++) b[i] = i & 0xff;
  return b;
}

// feedIn feeds stream to sink in chunks: 'whole', 'bytes' (one octet at
// a time) or a seed for pseudo-random chunk lengths 1..64.
function feedIn(stream, sink, how) {
  if (how === 'whole') return sink(stream);
  let seed = how === 'bytes' ? 0 : how;
  for (let i = 0; i < stream.length;) {
    let n = 1;
    if (how !== 'bytes') {
      seed = (seed * 1103515245 + 12345) >>> 0;
      n = 1 + ((seed >>> 16) % 64);
    }
    sink(stream.subarray(i, i + n));
    i += n;
  }
}

// ---- frame checks and headers ----

test('CRC-16 (XMODEM) and CRC-32 (IEEE) check values', () => {
  assert.equal(crc16(ascii('123456789')), 0x31c3);
  assert.equal(crc32(ascii('123456789')), 0xcbf43926);
  // Continued over two pieces as over one.
  assert.equal(crc32(ascii('56789'), crc32(ascii('1234'))), 0xcbf43926);
  assert.equal(crc16(ascii('56789'), crc16(ascii('1234'))), 0x31c3);
});

test('ZRINIT is the hex header lrzsz rz sends for the same flags', () => {
  // rz (lrzsz 0.12.21) starts with "**\x18B0100000023be50\r\x8a\x11".
  assert.equal(RINIT_FLAGS, 0x23);
  assert.equal(latin1(hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS])), '**\x18B0100000023be50\r\x8a\x11');
  // ZFIN and ZACK have no XON after them.
  assert.ok(latin1(hexHeader(Z.FIN)).endsWith('\r\x8a'));
  assert.ok(latin1(hexHeader(Z.ACK, posHeader(5))).endsWith('\r\x8a'));
});

test('positions go least significant octet first', () => {
  assert.deepEqual(posHeader(0x12345678), [0x78, 0x56, 0x34, 0x12]);
  assert.equal(headerPos([0x78, 0x56, 0x34, 0x12]), 0x12345678);
  assert.equal(headerPos(posHeader(0xfffffffe)), 0xfffffffe);
});

test('file information: name, size, octal time; paths and control characters dropped', () => {
  assert.deepEqual(parseFileInfo(ascii('dir/a b.txt\x0012 14174607120 100644 0 1 12\x00')), { name: 'a b.txt', size: 12, mtime: 0o14174607120 });
  assert.deepEqual(parseFileInfo(ascii('x\x1b[2J\x00')), { name: 'x[2J', size: null, mtime: null });
  assert.equal(parseFileInfo(ascii('../\x00')).name, 'download');
  assert.equal(parseFileInfo(ascii('..\x005\x00')).name, 'download');
  assert.equal(parseFileInfo(Uint8Array.from([0xc3, 0xa9, 0x2e, 0x74, 0, 0x31])).name, 'é.t');
});

// ---- the parser ----

// parse runs a Reader over stream and lists what it reported; after
// ZFILE and ZDATA headers it reads data, as a receiver does.
function parse(stream, how) {
  const got = [];
  const r = new Reader({
    onHeader: (type, hdr) => {
      got.push(['header', type, hdr]);
      if (type === Z.FILE || type === Z.DATA) r.expectData();
    },
    onData: (data, end) => got.push(['data', Array.from(data), end]),
    onError: (what) => got.push(['error', what]),
    onCancel: () => got.push(['cancel']),
  });
  feedIn(stream, (b) => r.feed(b), how);
  return got;
}

for (const use32 of [false, true]) {
  test(`headers and data subpackets (CRC-${use32 ? 32 : 16}) parse whole, byte by byte and in random chunks`, () => {
    const data = everyOctet();
    const stream = cat(
      hexHeader(Z.RQINIT),
      binHeader(Z.DATA, posHeader(0x01020304), use32),
      subpacket(data.subarray(0, 300), ZCRCG, use32),
      subpacket(data.subarray(300, 301), ZCRCQ, use32),
      subpacket([], ZCRCG, use32),
      subpacket(data.subarray(301), ZCRCE, use32),
      ascii('\x11\x91'), // flow control between frames: dropped
      binHeader(Z.EOF, posHeader(data.length), use32),
    );
    const want = [
      ['header', Z.RQINIT, [0, 0, 0, 0]],
      ['header', Z.DATA, [4, 3, 2, 1]],
      ['data', Array.from(data.subarray(0, 300)), ZCRCG],
      ['data', [300 & 0xff], ZCRCQ],
      ['data', [], ZCRCG],
      ['data', Array.from(data.subarray(301)), ZCRCE],
      ['header', Z.EOF, posHeader(data.length)],
    ];
    for (const how of ['whole', 'bytes', 1, 2, 3]) assert.deepEqual(parse(stream, how), want, `fed ${how}`);
  });
}

test('every octet value survives escaping, XON/XOFF inside escapes included', () => {
  const data = everyOctet(1);
  const stream = cat(binHeader(Z.DATA, posHeader(0), true), subpacket(data, ZCRCW, true));
  // An XON between ZDLE and the octet it escapes is ignored, as lrzsz does.
  const withXon = Buffer.from(stream).toString('latin1').replace('\x18\x58', '\x18\x11\x58');
  for (const s of [stream, ascii(withXon)]) {
    const got = parse(s, 'bytes');
    assert.deepEqual(got[1], ['data', Array.from(data), ZCRCW]);
  }
});

test('a bad CRC, a bad escape and a bad hex digit are errors, and the parser goes on to the next header', () => {
  const good = subpacket(ascii('hello'), ZCRCW, false);
  const bad = Uint8Array.from(good);
  bad[1] ^= 1;
  const s = cat(binHeader(Z.DATA, posHeader(0), false), bad,
    binHeader(Z.DATA, posHeader(0), false), Uint8Array.from([0x41, ZDLE, 0x22]),
    ascii('**\x18B0g'),
    hexHeader(Z.FIN));
  const got = parse(s, 'whole');
  assert.deepEqual(got.map((e) => e[0] === 'header' ? e[1] : e[0]), [Z.DATA, 'error', Z.DATA, 'error', 'error', Z.FIN]);
  assert.match(got[1][1], /bad CRC/);
  assert.match(got[3][1], /bad escape/);
  assert.match(got[4][1], /hex digit/);
  // A hex header with a bad CRC.
  const h = latin1(hexHeader(Z.FIN)).replace('08', '09');
  assert.deepEqual(parse(ascii(h), 'whole').map((e) => e[0]), ['error']);
});

test('five CANs in a row cancel, in a header or in data', () => {
  for (const prefix of [ascii('**\x18'), cat(binHeader(Z.DATA, posHeader(0), true), ascii('abc'))]) {
    assert.deepEqual(parse(cat(prefix, Array(5).fill(ZDLE)), 'bytes').at(-1), ['cancel']);
  }
  // Four are not a cancel.
  assert.equal(parse(cat(ascii('xx'), Array(4).fill(ZDLE), ascii('y')), 'whole').length, 0);
});

test('an endless subpacket is an error, not an endless buffer', () => {
  const s = cat(binHeader(Z.DATA, posHeader(0), true), new Uint8Array(20000).fill(0x41));
  const got = parse(s, 'whole');
  assert.deepEqual(got.map((e) => e[0]), ['header', 'error']);
  assert.match(got[1][1], /longer than 16384/);
});

// ---- the receiver ----

// senderStream is what a sender sends for files ([{name, data}]) when all
// goes well, with the receiver's answers not waited for.
function senderStream(files, use32 = true) {
  const parts = [ascii('rz\r'), hexHeader(Z.RQINIT)];
  for (const f of files) {
    parts.push(binHeader(Z.FILE, [0, 0, 0, 0], use32), subpacket(ascii(`${f.name}\x00${f.data.length} 0 100644 0\x00`), ZCRCW, use32));
    parts.push(binHeader(Z.DATA, posHeader(0), use32));
    for (let i = 0; i < f.data.length; i += 1024) {
      const end = i + 1024 >= f.data.length ? ZCRCE : (i / 1024) % 4 === 3 ? ZCRCW : ZCRCG;
      parts.push(subpacket(f.data.subarray(i, i + 1024), end, use32));
      if (end === ZCRCW) parts.push(binHeader(Z.DATA, posHeader(i + 1024), use32));
    }
    if (f.data.length === 0) parts.push(subpacket([], ZCRCE, use32));
    parts.push(binHeader(Z.EOF, posHeader(f.data.length), use32));
  }
  parts.push(hexHeader(Z.FIN), ascii('OO'));
  return cat(...parts);
}

// filter is a ZmodemFilter whose terminal, answers and events are
// recorded.
function filter(opts = {}) {
  const t = { term: [], sent: [], files: [], skipped: [], ends: [], starts: 0 };
  t.f = new ZmodemFilter({
    terminal: (b) => t.term.push(Buffer.from(b)),
    send: (b) => t.sent.push(latin1(b)),
    onStart: () => t.starts++,
    onFile: (f) => t.files.push({ name: f.name, data: f.parts ? Buffer.concat(f.parts) : null }),
    onSkip: (s) => t.skipped.push(s),
    onEnd: (how) => t.ends.push(how),
    ...opts,
  });
  t.text = () => Buffer.concat(t.term).toString('latin1');
  t.types = () => t.sent.map((s) => s.startsWith('**\x18B') ? parseInt(s.slice(4, 6), 16) : s);
  return t;
}

for (const how of ['whole', 'bytes', 7, 8]) {
  test(`a batch of three files (fed ${how}): the terminal sees only the text around it`, () => {
    const files = [
      { name: 'a.bin', data: everyOctet(20) },
      { name: 'empty', data: new Uint8Array(0) },
      { name: 'dir/c.txt', data: ascii('**\x18B00 not a header inside a file\r\n') },
    ];
    const t = filter();
    const stream = cat(ascii('menu **\x18B02 *'), senderStream(files), ascii('$ prompt'));
    feedIn(stream, (b) => t.f.feed(b), how);
    assert.equal(t.starts, 1);
    assert.deepEqual(t.ends, ['complete']);
    assert.deepEqual(t.files.map((f) => [f.name, sha(f.data)]), files.map((f) => [f.name.replace('dir/', ''), sha(f.data)]));
    // Fed an octet at a time, the header's "**" reach the terminal
    // before its CAN tells (a trailing "*" is shown at once).
    assert.equal(t.text(), how === 'bytes' ? 'menu **\x18B02 *rz\r**$ prompt' : 'menu **\x18B02 *rz\r$ prompt');
    assert.equal(t.f.active, false);
    // ZRINIT, then per file ZRPOS(0), ZACK at each ZCRCW, ZRINIT after ZEOF; ZFIN.
    assert.deepEqual(t.types(), [Z.RINIT, Z.RPOS, Z.ACK, Z.RINIT, Z.RPOS, Z.RINIT, Z.RPOS, Z.RINIT, Z.FIN]);
  });
}

test('a chunk ending in a partial ZRQINIT with its CAN is held back, then shown when it is not one or the line is quiet; a trailing "*" is shown at once', () => {
  const t = filter();
  t.f.feed(ascii('ab**\x18B'));
  assert.equal(t.text(), 'ab');
  t.f.feed(ascii('0x'));
  assert.equal(t.text(), 'ab**\x18B0x');
  t.f.feed(ascii('x**\x18'));
  assert.equal(t.text(), 'ab**\x18B0xx');
  t.f.tick();
  assert.equal(t.text(), 'ab**\x18B0xx');
  t.f.tick();
  assert.equal(t.text(), 'ab**\x18B0xx**\x18');
  // "*" alone (a shell's echo of a typed "*", a menu) is shown at once.
  t.f.feed(ascii('menu *'));
  assert.equal(t.text(), 'ab**\x18B0xx**\x18menu *');
  // Shown, but a header that goes on after it still counts.
  t.f.feed(ascii('*\x18B00'));
  assert.equal(t.starts, 1);
  assert.equal(t.text(), 'ab**\x18B0xx**\x18menu *');
});

test('a bad CRC in the file data asks for the data again from the last good octet', () => {
  const data = everyOctet(8);
  const t = filter();
  t.f.feed(cat(hexHeader(Z.RQINIT), binHeader(Z.FILE, [0, 0, 0, 0], true), subpacket(ascii(`f\x00${data.length}\x00`), ZCRCW, true)));
  t.f.feed(cat(binHeader(Z.DATA, posHeader(0), true), subpacket(data.subarray(0, 1024), ZCRCG, true)));
  const bad = subpacket(data.subarray(1024, 2048), ZCRCG, true);
  bad[10] ^= 0x01;
  t.sent.length = 0;
  t.f.feed(bad);
  assert.deepEqual(t.types(), [Z.RPOS]);
  assert.equal(t.sent[0], latin1(hexHeader(Z.RPOS, posHeader(1024))));
  // Data in flight from before the ZRPOS is dropped; a ZDATA at the
  // wrong position is answered with ZRPOS again.
  t.f.feed(cat(subpacket(data.subarray(2048, 3072), ZCRCG, true), binHeader(Z.DATA, posHeader(3072), true), subpacket(data.subarray(3072), ZCRCE, true)));
  assert.deepEqual(t.types(), [Z.RPOS, Z.RPOS]);
  t.f.feed(cat(binHeader(Z.DATA, posHeader(1024), true), subpacket(data.subarray(1024), ZCRCE, true), binHeader(Z.EOF, posHeader(data.length), true)));
  t.f.feed(cat(hexHeader(Z.FIN), ascii('OO')));
  assert.deepEqual(t.files.map((f) => sha(f.data)), [sha(data)]);
  assert.deepEqual(t.ends, ['complete']);
});

test('a damaged ZFILE is asked for again with ZNAK, and then taken', () => {
  const t = filter();
  const info = subpacket(ascii('n.txt\x002 0\x00'), ZCRCW, true);
  const bad = Uint8Array.from(info);
  bad[2] ^= 1;
  t.f.feed(cat(hexHeader(Z.RQINIT), binHeader(Z.FILE, [0, 0, 0, 0], true), bad));
  assert.deepEqual(t.types(), [Z.RINIT, Z.NAK]);
  t.f.feed(cat(binHeader(Z.FILE, [0, 0, 0, 0], true), info, binHeader(Z.DATA, posHeader(0), true), subpacket(ascii('hi'), ZCRCE, true),
    binHeader(Z.EOF, posHeader(2), true), hexHeader(Z.FIN), ascii('OO')));
  assert.deepEqual(t.files.map((f) => [f.name, f.data.toString()]), [['n.txt', 'hi']]);
});

test('a file over the limit is skipped with ZSKIP, before and during its data', () => {
  const t = filter({ maxFile: 1000 });
  t.f.feed(cat(hexHeader(Z.RQINIT), binHeader(Z.FILE, [0, 0, 0, 0], true), subpacket(ascii('big\x001001 0\x00'), ZCRCW, true)));
  assert.deepEqual(t.skipped, [{ name: 'big', size: 1001, why: "1001 octets is over the page's limit of 1000 octets" }]);
  assert.equal(t.types().at(-1), Z.SKIP);
  // No size given: skipped when the data passes the limit.
  t.f.feed(cat(binHeader(Z.FILE, [0, 0, 0, 0], true), subpacket(ascii('nosize\x00'), ZCRCW, true),
    binHeader(Z.DATA, posHeader(0), true), subpacket(everyOctet(2).subarray(0, 600), ZCRCG, true), subpacket(everyOctet(2).subarray(0, 600), ZCRCG, true)));
  assert.equal(t.skipped[1].name, 'nosize');
  assert.equal(t.types().at(-1), Z.SKIP);
  assert.equal(t.f.active, true);
  t.f.feed(cat(hexHeader(Z.FIN), ascii('OO$ ')));
  assert.deepEqual(t.files, []);
  assert.equal(t.text(), '$ ');
  const r = new Receiver({ send: () => {} });
  assert.equal(r.maxFile, 256 * 1024 * 1024);
});

test("the sender's cancel gives the terminal back, without its CANs and backspaces", () => {
  const t = filter();
  t.f.feed(cat(hexHeader(Z.RQINIT), binHeader(Z.DATA, posHeader(0), true), Array(10).fill(ZDLE)));
  assert.deepEqual(t.ends, ['cancelled by the sender']);
  assert.equal(t.f.active, false);
  t.f.feed(cat(Array(10).fill(8), ascii('$ ')));
  assert.equal(t.text(), '$ ');
});

test("the user's cancel sends CANs and backspaces and drops the data in flight until the line is quiet", () => {
  const t = filter();
  t.f.feed(cat(hexHeader(Z.RQINIT), binHeader(Z.FILE, [0, 0, 0, 0], true), subpacket(ascii('f\x00'), ZCRCW, true)));
  t.f.cancel();
  assert.equal(t.sent.at(-1), latin1(CANCEL));
  assert.equal(latin1(CANCEL), '\x18'.repeat(8) + '\b'.repeat(8));
  assert.deepEqual(t.ends, ['cancelled']);
  assert.equal(t.f.active, false);
  t.f.feed(cat(binHeader(Z.DATA, posHeader(0), true), everyOctet(1)));
  t.f.feed(new Uint8Array(300)); // a subpacket's middle: NULs
  t.f.feed(ascii('\x18more in flight'));
  t.f.tick();
  t.f.tick();
  t.f.feed(ascii('$ '));
  assert.equal(t.text(), '$ ');
  // Chunks with neither ZDLE nor NUL are held back, dropped when the
  // sender's data follows, shown when the line is quiet (the shell's
  // output after sz on a pty, which flushes its own output).
  const u = filter();
  u.f.feed(cat(hexHeader(Z.RQINIT), binHeader(Z.FILE, [0, 0, 0, 0], true), subpacket(ascii('f\x00'), ZCRCW, true)));
  u.f.cancel();
  u.f.feed(cat(binHeader(Z.DATA, posHeader(0), true), new Uint8Array(100)));
  u.f.feed(ascii('UUUU')); // the middle of a subpacket, or the shell's output
  u.f.feed(cat(ascii('UU'), subpacket([], ZCRCG, true)));
  u.f.feed(ascii('sz-exit-128\r\n'));
  u.f.feed(ascii('$ '));
  assert.equal(u.text(), '');
  u.f.tick();
  assert.equal(u.text(), '');
  u.f.tick();
  assert.equal(u.text(), 'sz-exit-128\r\n$ ');
});

test("after the user's cancel, lrzsz's answer (CANs, backspaces, the end of its subpacket) is dropped and the shell's output shown", () => {
  for (const use32 of [true, false]) {
    const t = filter();
    t.f.feed(cat(hexHeader(Z.RQINIT), binHeader(Z.FILE, [0, 0, 0, 0], use32), subpacket(ascii('f\x00'), ZCRCW, use32),
      binHeader(Z.DATA, posHeader(0), use32), ascii('abc')));
    t.f.cancel();
    const tail = subpacket([], ZCRCE, use32);
    feedIn(cat(everyOctet(2).filter((c) => c !== ZDLE), Array(10).fill(ZDLE), Array(10).fill(8), tail, ascii('sz-exit-128\n$ ')), (b) => t.f.feed(b), 'whole');
    assert.equal(t.text(), 'sz-exit-128\n$ ', `CRC-${use32 ? 32 : 16}`);
  }
});

// cancelled is a filter whose download the user has cancelled in the
// middle of a subpacket, with some of the sender's data still arriving.
function cancelled() {
  const t = filter();
  t.f.feed(cat(hexHeader(Z.RQINIT), binHeader(Z.FILE, [0, 0, 0, 0], true), subpacket(ascii('f\x00'), ZCRCW, true),
    binHeader(Z.DATA, posHeader(0), true), everyOctet(1).subarray(0, 20)));
  t.f.cancel();
  t.f.feed(cat(everyOctet(2).subarray(20), subpacket(everyOctet(1), ZCRCG, true)));
  return t;
}

test("after the user's cancel, the terminal's output with a NUL or a CAN in it is shown, not dropped as the sender's", () => {
  const t = cancelled();
  t.f.feed(ascii('sz-exit-128\r\n'));
  t.f.feed(ascii('a NUL \x00 and a CAN \x18 here\r\n'));
  t.f.feed(ascii('\x18\r\n$ '));
  t.f.tick();
  t.f.tick();
  assert.equal(t.text(), 'sz-exit-128\r\na NUL \x00 and a CAN \x18 here\r\n\x18\r\n$ ');
});

test("after the user's cancel, output that never pauses is held back at most MAX_SUBPACKET octets, then shown whole", () => {
  const t = cancelled();
  const lines = [];
  for (let i = 0; i < 3000; i++) lines.push(`line ${i}\r\n`);
  for (const l of lines) t.f.feed(ascii(l));
  // More than 16 KiB without a ZDLE escape is no sender's: shown
  // without waiting for quiet.
  assert.ok(t.text().length > 0 && lines.join('').startsWith(t.text()), `${t.text().length} octets shown`);
  assert.ok(lines.join('').length - t.text().length <= 16384, 'held back at most 16 KiB');
  t.f.tick();
  t.f.tick();
  assert.equal(t.text(), lines.join(''));
});

test('a silent sender is asked again every TIMEOUT_TICKS ticks, then given up on', () => {
  const t = filter();
  t.f.feed(hexHeader(Z.RQINIT));
  for (let i = 0; i < TIMEOUT_TICKS - 1; i++) t.f.tick();
  assert.deepEqual(t.types(), [Z.RINIT]);
  t.f.tick();
  assert.deepEqual(t.types(), [Z.RINIT, Z.RINIT]);
  for (let i = 0; i < 20 * TIMEOUT_TICKS; i++) t.f.tick();
  assert.equal(t.f.active, false);
  assert.deepEqual(t.ends, ['the sender stopped answering']);
  assert.equal(t.sent.at(-1), latin1(CANCEL));
});

test('after ZFIN a missing "OO" ends the batch at the next timeout; other octets are the terminal\'s', () => {
  const t = filter();
  t.f.feed(cat(hexHeader(Z.RQINIT), hexHeader(Z.FIN), ascii('O$ ')));
  assert.deepEqual(t.ends, ['complete']);
  assert.equal(t.text(), '$ ');
  const u = filter();
  u.f.feed(cat(hexHeader(Z.RQINIT), hexHeader(Z.FIN)));
  for (let i = 0; i < TIMEOUT_TICKS; i++) u.f.tick();
  assert.deepEqual(u.ends, ['complete']);
});

// ---- against lrzsz's sz ----

const haveSz = spawnSync('sz', ['--version']).status === 0;
const needSz = haveSz ? {} : { skip: 'lrzsz sz not installed (apt-get install lrzsz)' };
if (!haveSz && process.env.CI === 'true') test('sz is installed under CI', () => assert.fail('lrzsz sz missing'));

// runSz runs `sz -b -q files` with its stdout through a ZmodemFilter and
// the filter's answers to its stdin; mangle(chunk, i) may alter what sz
// sends (a damaged line). It resolves when sz exits.
function runSz(files, { how = 'whole', mangle = (c) => c, args = [] } = {}) {
  return new Promise((resolve, reject) => {
    const sz = spawn('sz', ['-b', '-q', ...args, ...files], { stdio: ['pipe', 'pipe', 'inherit'] });
    const t = filter({ send: (b) => { t.sent.push(latin1(b)); sz.stdin.write(b); } });
    let n = 0;
    sz.stdout.on('data', (d) => feedIn(mangle(new Uint8Array(d), n++), (b) => t.f.feed(b), how));
    sz.stdin.on('error', () => {}); // sz gone after a cancel
    const timer = setTimeout(() => { sz.kill(); reject(new Error('sz did not finish in 30 s')); }, 30000);
    sz.on('exit', (code) => {
      clearTimeout(timer);
      t.code = code;
      resolve(t);
    });
  });
}

test('real sz: one file and a batch of two (one empty, one with every octet value)', needSz, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'zmodem-'));
  try {
    const big = Buffer.alloc(200000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    const every = Buffer.concat([Buffer.from(everyOctet(4)), Buffer.from('\x18\x18\x18\x18\x18**\x18B00\x11\x13\x91\x93\xff\x7f\x10\x90\r@\r', 'latin1')]);
    const files = { 'big.bin': big, 'empty.bin': Buffer.alloc(0), 'every.bin': every };
    for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
    for (const how of ['whole', 'bytes']) {
      const one = await runSz([join(dir, 'big.bin')], { how });
      assert.equal(one.code, 0, `sz exit status, fed ${how}`);
      assert.deepEqual(one.files.map((f) => [f.name, sha(f.data)]), [['big.bin', sha(big)]]);
      assert.deepEqual(one.ends, ['complete']);
      assert.equal(one.text(), how === 'bytes' ? 'rz\r**' : 'rz\r'); // as above
    }
    const batch = await runSz([join(dir, 'empty.bin'), join(dir, 'every.bin')], { how: 5 });
    assert.equal(batch.code, 0);
    assert.deepEqual(batch.files.map((f) => [f.name, sha(f.data)]), [['empty.bin', sha(Buffer.alloc(0))], ['every.bin', sha(every)]]);
    assert.deepEqual(batch.ends, ['complete']);
  } finally {
    await rm(dir, { recursive: true });
  }
});

// lrzsz's `sz -e` (escape every control character) starts with a ZSINIT
// in a hex header, its CR, LF and XON, then the attention string's data
// subpacket with CRC-16, as captured here.
const SZ_E_ZSINIT = Buffer.from('2a2a184230323030303030303430306334370d8a111840186bddcd11', 'hex');

test("a ZSINIT in a hex header (sz -e): the header's line end is not data, and the ZSINIT is acknowledged", () => {
  for (const how of ['whole', 'bytes']) {
    const t = filter();
    feedIn(cat(ascii('rz\r'), hexHeader(Z.RQINIT), SZ_E_ZSINIT), (b) => t.f.feed(b), how);
    assert.deepEqual(t.types(), [Z.RINIT, Z.ACK], how);
  }
});

test('real sz -e: the transfer with every control character escaped arrives whole', needSz, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'zmodem-'));
  try {
    const every = Buffer.from(everyOctet(40));
    await writeFile(join(dir, 'every.bin'), every);
    const t = await runSz([join(dir, 'every.bin')], { args: ['-e'], how: 7 });
    assert.equal(t.code, 0);
    assert.deepEqual(t.files.map((f) => [f.name, sha(f.data)]), [['every.bin', sha(every)]]);
    assert.deepEqual(t.ends, ['complete']);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('real sz: a damaged octet is asked for again (ZRPOS) and the file arrives whole', needSz, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'zmodem-'));
  try {
    const data = Buffer.alloc(100000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 40503) >>> 8;
    await writeFile(join(dir, 'd.bin'), data);
    let damaged = 0;
    let seen = 0;
    const t = await runSz([join(dir, 'd.bin')], {
      mangle: (c) => {
        // One octet near the middle of the stream, once.
        if (!damaged && seen + c.length > 50000) {
          c = Uint8Array.from(c);
          c[Math.max(0, 50000 - seen)] ^= 0x04;
          damaged++;
        }
        seen += c.length;
        return c;
      },
    });
    assert.equal(damaged, 1);
    assert.equal(t.code, 0);
    assert.ok(t.types().includes(Z.RPOS) && t.types().filter((x) => x === Z.RPOS).length >= 2, `answers ${t.types()}`);
    assert.deepEqual(t.files.map((f) => sha(f.data)), [sha(data)]);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('real sz: the user cancels mid-file and sz stops', needSz, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'zmodem-'));
  try {
    await writeFile(join(dir, 'c.bin'), Buffer.alloc(4 << 20, 0x55));
    let t = null;
    const p = new Promise((resolve, reject) => {
      const sz = spawn('sh', ['-c', 'sz -b -q "$1"; echo sz-exit-$?', 'sh', join(dir, 'c.bin')], { stdio: ['pipe', 'pipe', 'inherit'] });
      const f = filter({
        send: (b) => { f.sent.push(latin1(b)); sz.stdin.write(b); },
        onProgress: (p) => { if (p.got >= 64 << 10 && f.f.active) f.f.cancel(); },
      });
      t = f;
      sz.stdout.on('data', (d) => f.f.feed(new Uint8Array(d)));
      sz.stdin.on('error', () => {});
      const timer = setTimeout(() => { sz.kill(); reject(new Error('sz did not stop in 30 s')); }, 30000);
      sz.on('exit', (code) => { clearTimeout(timer); resolve(code); });
    });
    const code = await p;
    assert.equal(code, 0);
    assert.deepEqual(t.ends, ['cancelled']);
    assert.deepEqual(t.files, []);
    // The shell's next output is shown at once, not dropped with sz's.
    assert.match(t.text(), /^rz\rsz-exit-(?!0)\d+\n$/);
  } finally {
    await rm(dir, { recursive: true });
  }
});

// ---- uploads ----

test("the sender's escapes, headers and subpackets parse back to what was sent", () => {
  const data = Uint8Array.from([...everyOctet(2), 0x40, 0x0d, 0xc0, 0x8d]);
  const esc = zescape(data);
  for (const c of [0x10, 0x11, 0x13, 0x18, 0x90, 0x91, 0x93, 0x98]) assert.ok(!esc.includes(c) || c === ZDLE, `0x${c.toString(16)} sent raw`);
  assert.ok(Buffer.from(esc).includes(Buffer.from([0x40, ZDLE, 0x4d])), 'CR after @ escaped');
  const stream = cat(pageHeader(Z.DATA, posHeader(7)), pageSubpacket(data, ZCRCQ), pageSubpacket([], ZCRCE));
  for (const how of ['whole', 'bytes', 3]) {
    assert.deepEqual(parse(stream, how), [['header', Z.DATA, [7, 0, 0, 0]], ['data', Array.from(data), ZCRCQ], ['data', [], ZCRCE]]);
  }
});

test("a host's ZRINIT starts an upload; the files go as ZFILE, ZDATA, ZEOF, then ZFIN and OO", () => {
  const t = filter();
  let kind = '';
  t.f.onStart = (k) => { kind = k; };
  const rinit = hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS]);
  t.f.feed(cat(ascii('rz waiting to receive.'), rinit));
  assert.equal(kind, 'upload');
  assert.equal(t.f.uploading, true);
  assert.equal(t.text(), 'rz waiting to receive.');
  t.f.feed(rinit); // repeated while the user chooses
  assert.deepEqual(t.sent, []);
  const data = everyOctet(100); // 25,600 octets: a ZCRCQ at 16 KiB
  t.f.upload([{ name: 'u.bin', data, mtime: 0 }]);
  const got = [];
  const r = frameReader(got);
  const take = () => { for (const x of t.sent.splice(0)) r.feed(Buffer.from(x, 'latin1')); };
  take();
  assert.deepEqual(got.splice(0), [['h', Z.FILE, 1 << 24], ['d', 'u.bin\0'.length + '25600 0 100644 0 1 25600\0'.length, ZCRCW]]);
  t.f.feed(hexHeader(Z.RPOS, posHeader(0)));
  take();
  assert.deepEqual(got[0], ['h', Z.DATA, 0]);
  assert.equal(got.filter((e) => e[0] === 'd').reduce((n, e) => n + e[1], 0), data.length);
  assert.deepEqual(got.filter((e) => e[0] === 'd' && e[2] !== ZCRCG).map((e) => e[2]), [ZCRCQ, ZCRCE]);
  assert.deepEqual(got.at(-1), ['h', Z.EOF, data.length]);
  got.length = 0;
  // A resend from 5000 after a ZRPOS: one subpacket that asks for a
  // ZACK (ZCRCW), and after it the rest.
  t.f.feed(hexHeader(Z.RPOS, posHeader(5000)));
  take();
  assert.deepEqual(got.splice(0), [['h', Z.DATA, 5000], ['d', 1024, ZCRCW]]);
  // After a ZRPOS the window is a quarter (16 KiB), and grows a
  // subpacket with each ZACK.
  t.f.feed(hexHeader(Z.ACK, posHeader(6024)));
  take();
  assert.deepEqual(got[0], ['h', Z.DATA, 6024]);
  const octets = () => got.filter((e) => e[0] === 'd').reduce((n, e) => n + e[1], 0);
  assert.equal(octets(), 16384 + 1024);
  t.f.feed(hexHeader(Z.ACK, posHeader(6024 + octets())));
  take();
  assert.equal(octets(), data.length - 6024);
  assert.deepEqual(got.at(-1), ['h', Z.EOF, data.length]);
  t.f.feed(rinit); // after ZEOF: the next file, none: ZFIN
  assert.equal(t.sent.at(-1), latin1(hexHeader(Z.FIN)));
  t.f.feed(cat(hexHeader(Z.FIN), ascii('rz-exit-0\r\n')));
  assert.equal(t.sent.at(-1), 'OO');
  assert.deepEqual(t.ends, ['complete']);
  assert.equal(t.text(), 'rz waiting to receive.rz-exit-0\r\n');
});

test("after an upload the receiver's repeated ZFIN is not shown, split anywhere; other text after it is", () => {
  const fin = hexHeader(Z.FIN);
  for (const how of ['whole', 'bytes', 5]) {
    const t = uploading(new Uint8Array(10));
    t.answer(Z.RPOS, 0);
    t.f.feed(hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS]));
    t.f.feed(fin);
    assert.equal(t.sent.at(-1), 'OO');
    assert.deepEqual(t.ends, ['complete']);
    // lrzsz's rz read something else than "OO" first: its ZFIN again,
    // twice, then the shell; a "**" that starts no header is text.
    feedIn(cat(fin, fin, ascii('rz-exit-0\r\n$ **x')), (b) => t.f.feed(b), how);
    assert.equal(t.text(), 'rz-exit-0\r\n$ **x', `fed ${how}`);
  }
  // The start of a ZFIN and then quiet: shown (as the start of a
  // ZRQINIT is, after two more ticks).
  const t = uploading(new Uint8Array(0));
  t.answer(Z.RPOS, 0);
  t.f.feed(hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS]));
  t.f.feed(cat(fin, fin.subarray(0, 5)));
  for (let i = 0; i < 4; i++) t.f.tick();
  assert.equal(t.text(), latin1(fin.subarray(0, 5)));
});

test("an upload whose host stopped waiting before files were chosen ends, and the terminal gets the host's output back", () => {
  for (const how of ['whole', 'bytes']) {
    const t = filter();
    feedIn(cat(ascii('rz waiting to receive.'), hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS]), hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS]), ascii('\r\nrz-exit-128\r\n$ ')), (b) => t.f.feed(b), how);
    assert.equal(t.f.active, false, how);
    assert.deepEqual(t.ends, ['the host stopped waiting for files']);
    // Fed an octet at a time, the header's "**" show (see above).
    assert.equal(t.text(), `rz waiting to receive.${how === 'bytes' ? '**' : ''}rz-exit-128\r\n$ `);
    t.f.upload([{ name: 'late.bin', data: new Uint8Array(10), mtime: 0 }]);
    assert.deepEqual(t.sent, [], 'nothing is sent to the shell');
  }
});

test('an upload sends at most a window ahead of the receiver\'s ZACKs', () => {
  const t = filter();
  t.f.feed(hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS]));
  t.f.upload([{ name: 'w.bin', data: new Uint8Array(300000), mtime: 0 }]);
  t.f.feed(hexHeader(Z.RPOS, posHeader(0)));
  const sent = () => t.sent.join('').length;
  const before = sent();
  assert.ok(before < 70000 && before > 60000, `${before} octets queued before any ZACK`);
  t.f.feed(hexHeader(Z.ACK, posHeader(16384)));
  assert.ok(sent() - before >= 16384 && sent() - before < 17000, `${sent() - before} more after a ZACK for 16 KiB`);
});

test('an upload restarted at a position that is not a multiple of 1 KiB still asks for ZACKs (ZCRCQ) and goes on', () => {
  const t = filter();
  t.f.feed(hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS]));
  t.f.upload([{ name: 'r.bin', data: new Uint8Array(300000), mtime: 0 }]);
  t.f.feed(hexHeader(Z.RPOS, posHeader(1000)));
  // A frame end ZCRCQ is ZDLE 'j' on the wire.
  const zcrcq = () => t.sent.join('').split('\x18j').length - 1;
  assert.ok(zcrcq() >= 3, `${zcrcq()} ZCRCQ in the first window after ZRPOS(1000)`);
  const before = t.sent.join('').length;
  t.f.feed(hexHeader(Z.ACK, posHeader(1000 + 16384)));
  assert.ok(t.sent.join('').length - before >= 16384, 'a ZACK 16 KiB on moves the window');
});

// frameReader parses what the page sends into got: ['h', type, position],
// ['d', length, frame end], ['error', what] and ['cancel'].
function frameReader(got) {
  const r = new Reader({
    onHeader: (type, hdr) => { got.push(['h', type, headerPos(hdr)]); if (type === Z.FILE || type === Z.DATA) r.expectData(); },
    onData: (d, end) => got.push(['d', d.length, end]),
    onError: (w) => got.push(['error', w]),
    onCancel: () => got.push(['cancel']),
  });
  return r;
}

// uploading starts an upload of data to a made-up receiver whose ZRINIT
// says flags; sent() parses what the page sent since the last call into
// ['h', type, position] and ['d', length, frame end].
function uploading(data, flags = RINIT_FLAGS) {
  const t = filter();
  t.f.feed(hexHeader(Z.RINIT, [0, 0, 0, flags]));
  t.f.upload([{ name: 'x.bin', data, mtime: 0 }]);
  const got = [];
  const r = frameReader(got);
  t.raw = () => t.sent.splice(0).join('');
  t.got = () => {
    r.feed(Buffer.from(t.raw(), 'latin1'));
    return got.splice(0);
  };
  t.answer = (type, pos) => t.f.feed(hexHeader(type, posHeader(pos)));
  return t;
}

test('a resend after ZRPOS ends the frame, sends one subpacket that asks for a ZACK, and waits for it; repeats of the ZRPOS are probed, not resent', () => {
  const t = uploading(new Uint8Array(300000));
  t.got();
  t.answer(Z.RPOS, 0);
  assert.ok(t.got().length > 16, 'the first window');
  // A damaged subpacket: the receiver asks from 20000, in the middle of
  // an open frame.
  t.answer(Z.RPOS, 20000);
  assert.deepEqual(t.got(), [['d', 0, ZCRCE], ['h', Z.DATA, 20000], ['d', 1024, ZCRCW]]);
  // The receiver's second complaint about the same burst (or the resend
  // damaged): a probe, an empty ZCRCW subpacket; while it is on its way,
  // nothing more.
  t.answer(Z.RPOS, 20000);
  assert.deepEqual(t.got(), [['h', Z.DATA, 20000], ['d', 0, ZCRCW]]);
  t.answer(Z.RPOS, 20000);
  assert.deepEqual(t.got(), []);
  // The resend arrived: the stream goes on from its end, in a window a
  // quarter of the full one; the receiver's answer to the probe (it was
  // past 20000 when the probe came) and a ZRPOS from before the ZACK
  // change nothing.
  t.answer(Z.ACK, 21024);
  const stream = t.got();
  assert.deepEqual(stream[0], ['h', Z.DATA, 21024]);
  assert.equal(stream.filter((e) => e[0] === 'd').reduce((n, e) => n + e[1], 0), 16384 + 1024);
  t.answer(Z.RPOS, 21024);
  t.answer(Z.RPOS, 20000);
  assert.deepEqual(t.got(), []);
  // A resend lost: the probe is acknowledged where the resend began, and
  // the resend goes again in smaller subpackets.
  t.answer(Z.RPOS, 30000);
  assert.deepEqual(t.got(), [['d', 0, ZCRCE], ['h', Z.DATA, 30000], ['d', 1024, ZCRCW]]);
  t.answer(Z.RPOS, 30000);
  assert.deepEqual(t.got(), [['h', Z.DATA, 30000], ['d', 0, ZCRCW]]);
  t.answer(Z.ACK, 30000);
  assert.deepEqual(t.got(), [['h', Z.DATA, 30000], ['d', 512, ZCRCW]]);
  t.answer(Z.ACK, 30512);
  assert.deepEqual(t.got()[0], ['h', Z.DATA, 30512]);
  assert.equal(t.f.active, true);
});

test('a receiver that does not offer CRC-32 (no CANFC32 in its ZRINIT) gets headers and subpackets with CRC-16', () => {
  const data = everyOctet(30);
  for (const [flags, header] of [[CANFDX | CANOVIO, '*\x18A'], [RINIT_FLAGS, '*\x18C']]) {
    const t = uploading(data, flags);
    const raw = t.raw();
    assert.ok(raw.startsWith(header), `ZFILE header ${JSON.stringify(raw.slice(0, 3))} for flags ${flags}`);
    t.answer(Z.RPOS, 0);
    const stream = t.raw();
    assert.ok(stream.startsWith(header), 'ZDATA header');
    // The parser checks each subpacket with the CRC its header implies.
    const got = [];
    const r = new Reader({
      onHeader: (type) => { got.push(type); if (type === Z.DATA) r.expectData(); },
      onData: (d) => got.push(d.length),
      onError: (w) => got.push(w),
      onCancel: () => got.push('cancel'),
    });
    r.feed(Buffer.from(stream, 'latin1'));
    assert.deepEqual(got, [Z.DATA, ...Array(7).fill(1024), 512, Z.EOF], `flags ${flags}`);
  }
});

const haveRz = spawnSync('rz', ['--version']).status === 0;
const needRz = haveRz ? {} : { skip: 'lrzsz rz not installed (apt-get install lrzsz)' };
if (!haveRz && process.env.CI === 'true') test('rz is installed under CI', () => assert.fail('lrzsz rz missing'));

// runRz runs `rz -b` in dir (and echoes its exit status), uploads files
// to it through a ZmodemFilter, and resolves with the filter's record
// when the shell exits; cancelAt cancels once that many octets are sent.
// With twice, each octet string the page sends that it names goes twice.
function runRz(dir, files, { cancelAt = Infinity, args = '', twice = null } = {}) {
  return new Promise((resolve, reject) => {
    const rz = spawn('sh', ['-c', `rz -b -q ${args}; echo rz-exit-$?`], { cwd: dir, stdio: ['pipe', 'pipe', 'ignore'] });
    const t = filter({
      send: (b) => {
        t.sent.push(latin1(b).slice(0, 64));
        rz.stdin.write(b);
        if (latin1(b) === twice) rz.stdin.write(b);
      },
      // The files come after the host's first ZRINIT has been read, as
      // from a user choosing them.
      onStart: (k) => { if (k === 'upload') setImmediate(() => t.f.upload(files)); },
      onProgress: (p) => { if (p.got >= cancelAt && t.f.active) t.f.cancel(); },
    });
    rz.stdout.on('data', (d) => t.f.feed(new Uint8Array(d)));
    rz.stdin.on('error', () => {});
    const timer = setTimeout(() => { rz.kill(); reject(new Error('rz did not finish in 30 s')); }, 30000);
    rz.on('exit', () => { clearTimeout(timer); resolve(t); });
  });
}

test('real rz: a batch of three files (one empty, one with every octet value) arrives whole', needRz, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'zmodem-'));
  try {
    const big = new Uint8Array(150000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    const every = cat(everyOctet(4), ascii('\x18\x18\x18\x18\x18**\x18B00\x11\x13\x91\x93\xff\x7f\x10\x90\r@\r'));
    const files = [{ name: 'big.bin', data: big, mtime: 0 }, { name: 'empty.bin', data: new Uint8Array(0), mtime: 0 }, { name: 'every.bin', data: every, mtime: 0 }];
    const t = await runRz(dir, files);
    assert.deepEqual(t.ends, ['complete']);
    assert.match(t.text(), /rz-exit-0\n$/);
    for (const f of files) assert.equal(sha(await readFile(join(dir, f.name))), sha(f.data), f.name);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('real rz -e (ESCCTL: control characters escaped): a file with every octet value arrives whole', needRz, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'zmodem-'));
  try {
    const every = everyOctet(40);
    const t = await runRz(dir, [{ name: 'every.bin', data: every, mtime: 0 }], { args: '-e' });
    assert.deepEqual(t.ends, ['complete']);
    assert.match(t.text(), /rz-exit-0\n$/);
    assert.equal(sha(await readFile(join(dir, 'every.bin'))), sha(every));
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('real rz --errors (a damaged octet every 10,000 to 300,000 it reads): the upload recovers and the file arrives whole', needRz, async () => {
  for (const every of [10000, 20000, 100000, 300000]) {
    const dir = await mkdtemp(join(tmpdir(), 'zmodem-'));
    try {
      const big = new Uint8Array(1000000);
      for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
      const t = await runRz(dir, [{ name: 'big.bin', data: big, mtime: 0 }], { args: `--errors ${every}` });
      assert.deepEqual(t.ends, ['complete'], `--errors ${every}`);
      assert.equal(sha(await readFile(join(dir, 'big.bin'))), sha(big));
    } finally {
      await rm(dir, { recursive: true });
    }
  }
});

test("real rz: when the page's ZFIN comes twice, rz's ZFIN sent again is not shown", needRz, async () => {
  for (let run = 0; run < 4; run++) {
    const dir = await mkdtemp(join(tmpdir(), 'zmodem-'));
    try {
      const t = await runRz(dir, [{ name: 'f.bin', data: everyOctet(4), mtime: 0 }], { twice: latin1(hexHeader(Z.FIN)) });
      assert.deepEqual(t.ends, ['complete']);
      assert.equal(t.text(), 'rz-exit-0\n');
    } finally {
      await rm(dir, { recursive: true });
    }
  }
});

test('real rz: the user cancels an upload and rz stops', needRz, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'zmodem-'));
  try {
    const t = await runRz(dir, [{ name: 'c.bin', data: new Uint8Array(4 << 20).fill(0x55), mtime: 0 }], { cancelAt: 64 << 10 });
    assert.deepEqual(t.ends, ['cancelled']);
    // rz's answers in flight and its own cancel are not shown.
    assert.match(t.text(), /^rz-exit-(?!0)\d+\n$/);
  } finally {
    await rm(dir, { recursive: true });
  }
});

// ---- hostile and damaged streams ----

// The filter takes the host's bytes, which the page does not control: a
// stream damaged, cut or made up (seeded, so a failure can be replayed)
// never throws, never hands out a file larger than the limit, and the
// terminal gets its octets back once the line is quiet. (Go's fuzz targets cover the gateway's decoders;
// this is the page's.)
test('damaged, cut and made-up sender streams: no exception, no file past the limit, the terminal back', () => {
  let seed = 0x2545f491;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const good = senderStream([{ name: 'a.bin', data: everyOctet(6) }, { name: 'b', data: ascii('hello\r\n') }]);
  for (let round = 0; round < 400; round++) {
    let s;
    switch (round % 4) {
      case 0: // flipped octets
        s = good.slice();
        for (let k = 1 + rnd(8); k > 0; k--) s[rnd(s.length)] ^= 1 << rnd(8);
        break;
      case 1: // cut short, or pieces repeated
        s = cat(good.subarray(0, rnd(good.length)), good.subarray(rnd(good.length)));
        break;
      case 2: // a header, then noise rich in ZDLE and frame ends
        s = cat(ascii('**\x18B00'), Uint8Array.from({ length: 2000 + rnd(4000) }, () => [ZDLE, ZCRCE, ZCRCW, 0x2a, 0x42, rnd(256)][rnd(6)]));
        break;
      default: { // a file past the limit, its size claimed or not
        const claim = [`${2 ** 40} 0 100644 0`, '', '100'][rnd(3)];
        const parts = [hexHeader(Z.RQINIT), binHeader(Z.FILE, [0, 0, 0, 0], true), subpacket(ascii(`huge\x00${claim}\x00`), ZCRCW, true),
          binHeader(Z.DATA, posHeader(0), true)];
        for (let k = 0; k < 6; k++) parts.push(subpacket(everyOctet(4), k === 5 ? ZCRCE : ZCRCG, true));
        s = cat(...parts, binHeader(Z.EOF, posHeader(6144), true), hexHeader(Z.FIN), ascii('OO'));
      }
    }
    const t = filter({ maxFile: 4096 });
    feedIn(s, (b) => t.f.feed(b), 1 + rnd(1000));
    for (let k = 0; k < TIMEOUT_TICKS * 25 && (t.f.active || t.f.drain); k++) t.f.tick();
    t.f.feed(ascii('$ '));
    t.f.tick();
    t.f.tick();
    assert.equal(t.f.active, false, `round ${round}: still in a transfer`);
    assert.ok(t.text().endsWith('$ '), `round ${round}: the terminal did not get its octets back: ${JSON.stringify(t.text().slice(-40))}`);
    for (const f of t.files) {
      assert.ok(f.data === null || f.data.length <= 4096, `round ${round}: a file of ${f.data?.length} octets past the limit`);
    }
  }
});

// A made-up receiver's answers in any order (seeded): the upload never
// throws, never gets more than a window and a subpacket ahead of what
// the receiver acknowledged, never starts a data frame past the
// receiver's position (lrzsz's rz keeps such a frame for later, and
// loops forever once there if it is empty), and ends (complete, skipped
// or given up) once the answers stop and the timeouts run out.
test('made-up receivers answering anything: no exception, the window kept, no data frame past the receiver, the upload ends', () => {
  let seed = 0x1234567;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (let round = 0; round < 300; round++) {
    const size = [0, 1000, 70000, 200000][rnd(4)];
    const t = uploading(new Uint8Array(size), [RINIT_FLAGS, CANFDX | CANOVIO, RINIT_FLAGS | 0x40][rnd(3)]);
    let at = 0; // the receiver's position: the furthest it said
    for (let k = 0; k < 60 && t.f.active; k++) {
      const pos = Math.max(0, [0, rnd(size + 1), t.f.rx.acked, t.f.rx.sent, t.f.rx.restart, size][rnd(6)]);
      const type = [Z.RPOS, Z.RPOS, Z.ACK, Z.ACK, Z.RINIT, Z.NAK, Z.SKIP, Z.FIN][rnd(8)];
      if (type === Z.RPOS || type === Z.ACK) at = Math.max(at, pos);
      if (type === Z.RINIT) t.f.feed(hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS])); else t.answer(type, pos);
      if (rnd(10) === 0) t.f.feed(Uint8Array.from({ length: 1 + rnd(40) }, () => rnd(256)));
      for (const e of t.got()) {
        if (e[0] === 'h' && e[1] === Z.FILE) at = 0;
        if (e[0] === 'h' && e[1] === Z.DATA) assert.ok(e[2] <= at, `round ${round}: ZDATA at ${e[2]}, the receiver at ${at}`);
      }
      if (t.f.uploading) assert.ok(t.f.rx.sent - t.f.rx.acked <= (64 << 10) + 1024, `round ${round}: ${t.f.rx.sent - t.f.rx.acked} octets ahead`);
    }
    for (let k = 0; k < TIMEOUT_TICKS * 25 && t.f.active; k++) t.f.tick();
    assert.equal(t.f.active, false, `round ${round}: still uploading`);
  }
});
