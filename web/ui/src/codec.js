// Character codecs between the line's octets and the terminal's text.
import { decodeCP437, encodeCP437 } from './cp437.js';

// makeCodec returns {name, decode(octets) -> string, encode(string) ->
// octets}. The UTF-8 decoder keeps state across calls, so a character split
// between two WebSocket messages is decoded whole; invalid sequences become
// U+FFFD.
export function makeCodec(name) {
  if (name === 'cp437') {
    return { name, decode: decodeCP437, encode: encodeCP437 };
  }
  const dec = new TextDecoder('utf-8', { fatal: false });
  const enc = new TextEncoder();
  return {
    name: 'utf-8',
    decode: (bytes) => dec.decode(bytes, { stream: true }),
    encode: (str) => enc.encode(str),
  };
}

// binaryString turns xterm's onBinary strings (one character per octet,
// used for mouse reports) into octets.
export function binaryString(str) {
  const out = new Uint8Array(str.length);
  for (let i = 0; i < str.length; i++) out[i] = str.charCodeAt(i) & 0xff;
  return out;
}

// terminalText is decoded output as the terminal is given it: without
// DEL (0x7F). A terminal ignores DEL, but xterm.js's parser has no
// transition for it outside escape sequences and logs each one as a
// console error ("xterm.js: Parsing error: ... code: 127"), whichever
// way it is written (string or octets), before dropping it: a program
// that prints DEL (a line editor erasing, a file listing) filled the
// console (browser trial). Dropping it here shows the same screen.
export function terminalText(s) {
  return s.includes('\x7f') ? s.replaceAll('\x7f', '') : s;
}
