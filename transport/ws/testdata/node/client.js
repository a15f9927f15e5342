// Interop client for dialgate's transport/ws tests, using the npm "ws"
// package (a WebSocket implementation none of us wrote).
//
//   node client.js URL PROTO SIZE [ORIGIN]
//
// PROTO is binary, plain, base64 or none (offer no subprotocol). The client
// checks the negotiated subprotocol, sends a resize control message (binary
// and none), then SIZE test octets (see octets()) in messages of varying
// size, encoded as PROTO prescribes. The Go side echoes them and hangs up;
// the client checks that every octet came back, then a close with status
// 1000, and prints "OK". With ORIGIN, it sends that Origin header and
// prints "HTTP <status>" if the server refuses the upgrade.
'use strict';
const WebSocket = require('ws');

const [url, proto, sizeArg, origin] = process.argv.slice(2);
const size = Number(sizeArg);

function fail(msg) {
  console.log('FAIL ' + msg);
  process.exit(1);
}

// octets: 0x00..0xFF twice, then a linear congruential sequence; the Go test
// computes the same.
function octets(n) {
  const b = Buffer.alloc(n);
  let x = 1;
  for (let i = 0; i < n; i++) {
    if (i < 512) {
      b[i] = i & 0xff;
    } else {
      x = ((Math.imul(x, 1103515245) + 12345) >>> 0) & 0x7fffffff;
      b[i] = (x >>> 16) & 0xff;
    }
  }
  return b;
}

function encode(chunk) {
  switch (proto) {
    case 'plain': {
      let s = '';
      for (const c of chunk) s += String.fromCharCode(c);
      return s; // a string: sent as a text message, UTF-8 encoded
    }
    case 'base64':
      return chunk.toString('base64');
    default:
      return chunk; // a Buffer: sent as a binary message
  }
}

function decode(data, isBinary) {
  if (isBinary) return Buffer.from(data);
  const s = data.toString('utf8');
  if (proto === 'base64') return Buffer.from(s, 'base64');
  if (proto !== 'plain') fail('text message in ' + proto + ' mode');
  const out = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (cp > 0xff) fail('code point above U+00FF: ' + cp);
    out.push(cp);
  }
  return Buffer.from(out);
}

const want = octets(size);
const got = [];
let gotLen = 0;

const opts = {};
if (origin) opts.origin = origin;
const ws = new WebSocket(url, proto === 'none' ? [] : [proto], opts);
setTimeout(() => fail('timeout'), 30000).unref();

ws.on('unexpected-response', (req, res) => {
  console.log('HTTP ' + res.statusCode);
  process.exit(3);
});
ws.on('error', (err) => fail('error ' + err.message));

ws.on('open', () => {
  const expect = proto === 'none' ? '' : proto;
  if (ws.protocol !== expect) fail('negotiated "' + ws.protocol + '", want "' + expect + '"');
  if (proto === 'binary' || proto === 'none') {
    ws.send(JSON.stringify({ type: 'resize', cols: 132, rows: 50 }));
  }
  const sizes = [1, 7, 100, 1000, 4096, 333];
  for (let off = 0, i = 0; off < size; i++) {
    const n = Math.min(sizes[i % sizes.length], size - off);
    ws.send(encode(want.subarray(off, off + n)));
    off += n;
  }
});

ws.on('message', (data, isBinary) => {
  const b = decode(data, isBinary);
  got.push(b);
  gotLen += b.length;
});

ws.on('close', (code) => {
  const all = Buffer.concat(got);
  if (gotLen !== size) fail('got ' + gotLen + ' octets back, want ' + size);
  if (!all.equals(want)) fail('echo differs');
  if (code !== 1000) fail('close status ' + code);
  console.log('OK');
  process.exit(0);
});
