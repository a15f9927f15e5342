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
