// ZMODEM for the browser terminal: the host's `sz FILE` (a BBS's
// download command) sends files to the page, which offers each one as a
// browser download instead of showing the transfer's binary in the
// terminal; the host's `rz` (an upload) gets the files the user chooses.
//
// The protocol is Chuck Forsberg's "The ZMODEM Inter Application File
// Transfer Protocol" (Omen Technology, 1988), cited below as [ZM] with its
// section numbers; where [ZM] leaves a detail open, the page does what
// lrzsz (the sz and rz of Unix hosts) does.
//
// The layers, each usable alone (the unit tests drive them so):
//   - crc16, crc32: the frame check sequences ([ZM] 7.2, 8).
//   - hexHeader: the headers the receiver sends ([ZM] 7.3.3).
//   - Reader: a push parser of the sender's stream into headers and data
//     subpackets, fed chunks of any size (ZDLE escapes, [ZM] 7.2).
//   - Receiver: the receiving program ([ZM] 8-10), pure: it sends through
//     a callback, keeps no timers (timeout() is called by its owner) and
//     hands files out as lists of Uint8Array.
//   - Sender: the sending program ([ZM] 8) for an upload, as pure.
//   - ZmodemFilter: what the terminal's output passes through: it finds a
//     sender's ZRQINIT in it, runs a Receiver until the batch ends, and
//     gives everything else to the terminal; a receiver's ZRINIT starts
//     a Sender instead.

// Framing characters ([ZM] 7.2, 7.3).
export const ZPAD = 0x2a; // '*'
export const ZDLE = 0x18; // also CAN
const ZBIN = 0x41; // 'A': binary header, CRC-16
const ZHEX = 0x42; // 'B': hex header, CRC-16
const ZBIN32 = 0x43; // 'C': binary header, CRC-32
const XON = 0x11;
const XOFF = 0x13;
const BS = 0x08;

// Frame types ([ZM] 11).
export const Z = Object.freeze({
  RQINIT: 0, RINIT: 1, SINIT: 2, ACK: 3, FILE: 4, SKIP: 5, NAK: 6, ABORT: 7,
  FIN: 8, RPOS: 9, DATA: 10, EOF: 11, FERR: 12, CRC: 13, CHALLENGE: 14,
  COMPL: 15, CAN: 16, FREECNT: 17, COMMAND: 18, STDERR: 19,
});

// The ZDLE sequences that end a data subpacket ([ZM] 7.2), and the two
// that stand for DEL and 0xFF.
export const ZCRCE = 0x68; // 'h': end of frame, header follows
export const ZCRCG = 0x69; // 'i': frame continues, no response
export const ZCRCQ = 0x6a; // 'j': frame continues, ZACK expected
export const ZCRCW = 0x6b; // 'k': end of frame, ZACK expected
const ZRUB0 = 0x6c; // 'l': 0x7f
const ZRUB1 = 0x6d; // 'm': 0xff

// ZRINIT capability flags in ZF0 ([ZM] 11.2).
export const CANFDX = 0x01; // full duplex
export const CANOVIO = 0x02; // can receive data during disk I/O
export const CANFC32 = 0x20; // can use the 32-bit frame check
export const ESCCTL = 0x40; // wants every control character escaped

// RINIT_FLAGS are the page's: a WebSocket (or V.42) line is full duplex,
// the page takes data while it stores it (in memory), and it checks
// CRC-32. No ESCCTL: the line passes every octet.
export const RINIT_FLAGS = CANFDX | CANOVIO | CANFC32;

// MAX_FILE is the largest file the page takes (256 MiB): a file is held
// in the page's memory until it is offered as a download, so a larger
// one is refused (ZSKIP) rather than let the sender's claim decide how
// much the tab allocates.
export const MAX_FILE = 256 << 20;
// MAX_SUBPACKET bounds one data subpacket. [ZM] 7.2 allows 1024 octets
// (8192 in ZMODEM-8k); a longer run without a frame end is garbage.
const MAX_SUBPACKET = 16 << 10;
// MAX_ERRORS is how many errors in a row (bad CRC, timeouts) the receiver
// bears before it cancels the transfer, as lrzsz's rz does (20).
const MAX_ERRORS = 20;

// CANCEL is what the receiver sends to abort a transfer: eight CAN (five
// abort it, [ZM] 7.3) then eight backspaces to erase them from a remote
// shell's input line if the sender has already gone.
export const CANCEL = Uint8Array.from([...Array(8).fill(ZDLE), ...Array(8).fill(BS)]);
// OO is the sender's last word, after the receiver's ZFIN ([ZM] 8.4).
const OO = Uint8Array.from([0x4f, 0x4f]);

// ---- frame check sequences ([ZM] 7.2, 8) ----

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

// crc16 is the CRC-16 of XMODEM (CCITT polynomial 0x1021, initial 0, not
// reflected) over bytes, continuing from crc.
export function crc16(bytes, crc = 0) {
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[(crc >> 8) ^ bytes[i]];
  return crc;
}

const CRC32_TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

// crc32 is the CRC-32 of IEEE 802.3 (as zlib's crc32) over bytes,
// continuing from crc (the value a previous call returned).
export function crc32(bytes, crc = 0) {
  let c = ~crc;
  for (let i = 0; i < bytes.length; i++) c = (c >>> 8) ^ CRC32_TABLE[(c ^ bytes[i]) & 0xff];
  return ~c >>> 0;
}

// ---- headers ([ZM] 7.3) ----

// posHeader is the four header octets ZP0..ZP3 of a file position
// (ZRPOS, ZACK, ZDATA, ZEOF): least significant first.
export function posHeader(n) {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

// headerPos is the file position in a header's four octets.
export function headerPos(hdr) {
  return (hdr[0] | (hdr[1] << 8) | (hdr[2] << 16) | (hdr[3] << 24)) >>> 0;
}

const HEX = '0123456789abcdef';

// hexHeader is a hex header ([ZM] 7.3.3):
//
//   ZPAD ZPAD ZDLE 'B' type(2 hex) ZP0..ZP3(8 hex) crc16(4 hex) CR LF|0x80 [XON]
//
// hdr holds ZP0..ZP3 (ZF3..ZF0 for flags: ZF0 is hdr[3]). As lrzsz, the
// line feed has its high bit set and an XON follows, except after ZACK
// and ZFIN.
export function hexHeader(type, hdr = [0, 0, 0, 0]) {
  const body = [type, ...hdr];
  const crc = crc16(body);
  let s = '**\x18B';
  for (const b of [...body, crc >> 8, crc & 0xff]) s += HEX[b >> 4] + HEX[b & 15];
  const out = [...s].map((ch) => ch.charCodeAt(0));
  out.push(0x0d, 0x8a);
  if (type !== Z.ACK && type !== Z.FIN) out.push(XON);
  return Uint8Array.from(out);
}

// ---- the sender's stream ----

// Reader parses what a ZMODEM sender sends, chunk by chunk, with no
// assumption about where chunks end: headers (hex, binary with CRC-16 or
// CRC-32) and, when expectData was called after one, the data subpackets
// that follow it. It calls
//   onHeader(type, hdr)         a header with a good CRC (hdr: 4 octets)
//   onData(bytes, end)          a subpacket with a good CRC; end is ZCRCE,
//                               ZCRCG, ZCRCQ or ZCRCW; bytes is a copy
//   onError(what)               a bad CRC or escape, or an overlong
//                               subpacket; the Reader then looks for
//                               the next header
//   onCancel()                  five CAN in a row: the sender aborted
// and onOther(c) for each octet outside a frame (the "OO" after ZFIN).
// Raw XON and XOFF are dropped, as [ZM] 7.2 asks of a receiver.
export class Reader {
  constructor({ onHeader, onData, onError, onCancel, onOther = () => {} }) {
    Object.assign(this, { onHeader, onData, onError, onCancel, onOther });
    this.cans = 0; // CAN (ZDLE) octets in a row
    this.halt = 0; // set by a callback: 1 stop after this octet, 2 stop before it
    this.seek();
  }

  // seek looks for the next header.
  seek() {
    this.state = 'seek';
    this.pad = false; // a ZPAD was the last octet
    this.esc = false; // a ZDLE came before the next octet
    this.buf = [];
    this.data = null;
  }

  // expectData reads data subpackets after the header just reported,
  // with the header's frame check (CRC-32 after a ZBIN32 header).
  expectData() {
    this.state = 'data';
    this.data = new Uint8Array(1024);
    this.len = 0;
    this.esc = false;
    this.end = 0; // the frame end once seen
    this.buf = []; // its CRC octets
    // After a hex header (lrzsz's sz -e sends ZSINIT so) its CR and LF
    // come before the data, and are not data: rz's zrhhdr drops them.
    this.eol = this.afterHex ? 1 : 0;
    this.afterHex = false;
  }

  // feed parses bytes and returns how many of them it took: all, unless
  // a callback set halt (1: up to and with the octet it was called for,
  // 2: up to it).
  feed(bytes) {
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      if (c === ZDLE) {
        if (++this.cans >= 5) {
          this.cans = 0;
          this.seek();
          this.onCancel();
        } else {
          this.octet(c);
        }
      } else {
        this.cans = 0;
        this.octet(c);
      }
      if (this.halt) return this.halt === 2 ? i : i + 1;
    }
    return bytes.length;
  }

  octet(c) {
    switch (this.state) {
      case 'seek': return this.seekOctet(c);
      case 'fmt': return this.fmtOctet(c);
      case 'hex': return this.hexOctet(c);
      case 'bin': return this.binOctet(c);
      case 'data': return this.dataOctet(c);
    }
  }

  seekOctet(c) {
    if ((c & 0x7f) === ZPAD) {
      this.pad = true;
    } else if (c === ZDLE && this.pad) {
      this.state = 'fmt';
    } else {
      this.pad = false;
      if (c !== XON && c !== XOFF && c !== (XON | 0x80) && c !== (XOFF | 0x80)) this.onOther(c);
    }
  }

  fmtOctet(c) {
    this.buf = [];
    this.esc = false;
    if (c === ZHEX) {
      this.state = 'hex';
    } else if (c === ZBIN || c === ZBIN32) {
      this.state = 'bin';
      this.crc32 = c === ZBIN32;
    } else if (c !== ZDLE) { // ZDLE: a CAN run (cancel), counted in feed
      this.seek();
    }
  }

  // hexOctet takes the 14 hex digits of a hex header ([ZM] 7.3.3).
  hexOctet(c) {
    const d = hexDigit(c & 0x7f);
    if (d < 0) {
      this.seek();
      this.onError('a hex header with a character that is not a hex digit');
      return;
    }
    this.buf.push(d);
    if (this.buf.length < 14) return;
    const b = [];
    for (let i = 0; i < 14; i += 2) b.push((this.buf[i] << 4) | this.buf[i + 1]);
    this.seek();
    if (crc16(b.slice(0, 5)) !== ((b[5] << 8) | b[6])) {
      this.onError('a hex header with a bad CRC');
      return;
    }
    this.crc32 = false; // data after a hex header has CRC-16
    this.afterHex = true;
    this.onHeader(b[0], b.slice(1, 5));
    this.afterHex = false;
  }

  // binOctet takes a binary header ([ZM] 7.3.1, 7.3.2): type, four
  // octets and the CRC, ZDLE-escaped; a CRC-32 goes least significant
  // octet first, a CRC-16 most significant first.
  binOctet(c) {
    const u = this.unescape(c);
    if (u === NONE) return;
    if (u < 0 || u > 0xff) {
      this.seek();
      this.onError('a binary header with a bad escape');
      return;
    }
    this.buf.push(u);
    if (this.buf.length < (this.crc32 ? 9 : 7)) return;
    const b = this.buf;
    const ok = this.crc32 ? crc32(b.slice(0, 5)) === ((b[5] | (b[6] << 8) | (b[7] << 16) | (b[8] << 24)) >>> 0)
      : crc16(b.slice(0, 5)) === ((b[5] << 8) | b[6]);
    this.seek();
    if (!ok) {
      this.onError('a binary header with a bad CRC');
      return;
    }
    this.onHeader(b[0], b.slice(1, 5));
  }

  // dataOctet takes a data subpacket ([ZM] 7.2): escaped data, ZDLE and
  // the frame end, then the escaped CRC over data and frame end.
  dataOctet(c) {
    if (this.eol) {
      const eol = this.eol;
      this.eol = 0;
      if (eol === 1 && (c & 0x7f) === 0x0d) {
        this.eol = 2;
        return;
      }
      if (eol === 2 && (c & 0x7f) === 0x0a) return;
    }
    const u = this.unescape(c);
    if (u === NONE) return;
    if (u < 0 || (this.end && u > 0xff)) {
      this.seek();
      this.onError('a data subpacket with a bad escape');
      return;
    }
    if (!this.end) {
      if (u > 0xff) {
        this.end = u & 0xff;
        return;
      }
      if (this.len === this.data.length) {
        if (this.len >= MAX_SUBPACKET) {
          this.seek();
          this.onError(`a data subpacket longer than ${MAX_SUBPACKET} octets`);
          return;
        }
        const grown = new Uint8Array(this.len * 2);
        grown.set(this.data);
        this.data = grown;
      }
      this.data[this.len++] = u;
      return;
    }
    this.buf.push(u);
    if (this.buf.length < (this.crc32 ? 4 : 2)) return;
    const data = this.data.slice(0, this.len);
    const end = this.end;
    const b = this.buf;
    const ok = this.crc32
      ? crc32([end], crc32(data)) === ((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0)
      : crc16([end], crc16(data)) === ((b[0] << 8) | b[1]);
    // The next subpacket of the same frame, or a header.
    if (ok && (end === ZCRCG || end === ZCRCQ)) this.expectData(); else this.seek();
    if (!ok) {
      this.onError('a data subpacket with a bad CRC');
      return;
    }
    this.onData(data, end);
  }

  // unescape returns the octet c stands for: NONE when it is a ZDLE (or
  // an XON/XOFF) that stands for nothing by itself, 0x100|end for a
  // frame end, -1 for an invalid escape.
  unescape(c) {
    if (!this.esc) {
      if (c === ZDLE) {
        this.esc = true;
        return NONE;
      }
      if ((c & 0x7f) === XON || (c & 0x7f) === XOFF) return NONE;
      return c;
    }
    if (c === ZDLE || (c & 0x7f) === XON || (c & 0x7f) === XOFF) return NONE; // still escaped
    this.esc = false;
    if (c >= ZCRCE && c <= ZCRCW) return 0x100 | c;
    if (c === ZRUB0) return 0x7f;
    if (c === ZRUB1) return 0xff;
    if ((c & 0x60) === 0x40) return c ^ 0x40;
    return -1;
  }
}

const NONE = -2;

function hexDigit(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

// ---- the receiving program ----

// parseFileInfo reads a ZFILE's data subpacket ([ZM] 9.1): the name, NUL,
// then "length mtime mode serial files-left octets-left" (decimal length,
// octal time and mode; all optional), NUL. The name loses any directory
// part and control characters; size is null when the sender gave none.
export function parseFileInfo(bytes) {
  let nul = bytes.indexOf(0);
  if (nul < 0) nul = bytes.length;
  const raw = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, nul));
  let name = raw.slice(raw.lastIndexOf('/') + 1).replace(/[\x00-\x1f\x7f]/g, '');
  if (name === '' || name === '.' || name === '..') name = 'download';
  let rest = bytes.subarray(Math.min(nul + 1, bytes.length));
  const end = rest.indexOf(0);
  if (end >= 0) rest = rest.subarray(0, end);
  const fields = new TextDecoder('latin1').decode(rest).trim().split(/\s+/);
  const size = /^\d+$/.test(fields[0] ?? '') ? Number(fields[0]) : null;
  const mtime = /^[0-7]+$/.test(fields[1] ?? '') ? parseInt(fields[1], 8) : null;
  return { name, size, mtime };
}

// Transfer is what Receiver and Sender share: the end of the batch
// (done, finish), feed's hand-back of the octets after it, and the
// user's cancel.
class Transfer {
  feed(bytes) {
    if (this.done) return bytes;
    const n = this.reader.feed(bytes);
    return this.done ? bytes.slice(n) : null;
  }

  // cancel aborts the transfer at the user's request.
  cancel() {
    if (!this.done) this.abort('cancelled');
  }

  abort(why) {
    this.send(CANCEL);
    this.finish(why);
  }

  // finish ends the batch; giveBack hands the octet being read back to
  // the terminal with the rest.
  finish(why, giveBack = false) {
    this.reader.halt = giveBack ? 2 : 1;
    this.done = why;
    this.phase = 'done';
  }
}

// Receiver is the receiving program of [ZM] 8-10 for one batch. Its
// owner feeds it the sender's octets (feed) and calls timeout() when the
// sender has been silent for a while; it answers through send(octets),
// and reports:
//   onFileStart({name, size})       a file begins (after ZFILE)
//   onProgress({name, size, got})   octets of the file so far
//   onFile({name, size, mtime, parts, got})  a file complete (parts:
//                                   Uint8Array[], got octets in all)
//   onSkip({name, size, why})       a file refused
// feed returns null while the batch goes on, and the octets after its end
// (the terminal's again) once it is over; done then holds how it ended:
// 'complete', 'cancelled by the sender', 'cancelled' (cancel()) or why it
// failed.
export class Receiver extends Transfer {
  constructor({ send, onFileStart = () => {}, onProgress = () => {}, onFile = () => {}, onSkip = () => {}, maxFile = MAX_FILE }) {
    super();
    Object.assign(this, { send, onFileStart, onProgress, onFile, onSkip, maxFile });
    this.phase = 'init'; // init (between files), sinit, fileinfo, file, fin, done
    this.file = null; // { name, size, mtime, parts, got }
    this.errors = 0;
    this.done = null;
    this.os = 0; // 'O's of the sender's "OO" seen
    this.reader = new Reader({
      onHeader: (type, hdr) => this.header(type, hdr),
      onData: (data, end) => this.subpacket(data, end),
      onError: (what) => this.error(what),
      onCancel: () => this.finish('cancelled by the sender'),
      onOther: (c) => this.other(c),
    });
  }

  // timeout: the sender has said nothing for a while ([ZM] 10: the
  // receiver repeats its last request).
  timeout() {
    if (this.done) return;
    if (this.phase === 'fin') {
      this.finish('complete'); // the "OO" is a courtesy
      return;
    }
    if (++this.errors > MAX_ERRORS) {
      this.abort('the sender stopped answering');
      return;
    }
    this.reader.seek();
    if (this.phase === 'file') this.send(hexHeader(Z.RPOS, posHeader(this.file.got)));
    else this.send(hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS]));
  }

  finish(why, giveBack = false) {
    super.finish(why, giveBack);
    this.file = null;
  }

  header(type, hdr) {
    switch (type) {
      case Z.RQINIT:
        if (this.phase !== 'file') this.sendRinit();
        return;
      case Z.SINIT: // the sender's attention string, unused: acknowledged
      case Z.FILE:
        this.phase = type === Z.FILE ? 'fileinfo' : 'sinit';
        this.reader.expectData();
        return;
      case Z.DATA:
        if (this.phase !== 'file') {
          this.sendRinit();
          return;
        }
        if (headerPos(hdr) !== this.file.got) {
          // Data from elsewhere in the file (after our ZRPOS, older data
          // still in flight): ask again for where we are ([ZM] 8.2).
          this.send(hexHeader(Z.RPOS, posHeader(this.file.got)));
          return;
        }
        this.reader.expectData();
        return;
      case Z.EOF:
        // A ZEOF at another position went out before our ZRPOS did:
        // ignored, as lrzsz does; the sender answers the ZRPOS.
        if (this.phase !== 'file' || headerPos(hdr) !== this.file.got) return;
        this.onFile(this.file);
        this.file = null;
        this.sendRinit();
        return;
      case Z.FIN:
        this.phase = 'fin';
        this.file = null;
        this.send(hexHeader(Z.FIN));
        return;
      default:
        // Others (ZCOMMAND, ZFREECNT, ZSTDERR, ...) are not supported: the
        // receiver says again what it is.
        if (this.phase !== 'file') this.sendRinit();
    }
  }

  sendRinit() {
    this.phase = 'init';
    this.send(hexHeader(Z.RINIT, [0, 0, 0, RINIT_FLAGS]));
  }

  subpacket(data, end) {
    if (this.phase === 'sinit') {
      this.phase = 'init';
      this.send(hexHeader(Z.ACK, posHeader(1)));
      return;
    }
    if (this.phase === 'fileinfo') {
      const info = parseFileInfo(data);
      if (info.size !== null && info.size > this.maxFile) {
        this.skip(info, `${mib(info.size)} is over the page's limit of ${mib(this.maxFile)}`);
        return;
      }
      this.file = { ...info, parts: [], got: 0 };
      this.phase = 'file';
      this.errors = 0;
      this.onFileStart({ name: info.name, size: info.size });
      this.send(hexHeader(Z.RPOS, posHeader(0)));
      return;
    }
    if (this.phase !== 'file') return;
    const f = this.file;
    if (f.got + data.length > this.maxFile) {
      this.skip(f, `it is over the page's limit of ${mib(this.maxFile)}`);
      return;
    }
    if (data.length > 0) f.parts.push(data);
    f.got += data.length;
    this.errors = 0;
    this.onProgress({ name: f.name, size: f.size, got: f.got });
    if (end === ZCRCW || end === ZCRCQ) this.send(hexHeader(Z.ACK, posHeader(f.got)));
  }

  skip(info, why) {
    this.file = null;
    this.phase = 'init';
    this.reader.seek();
    this.onSkip({ name: info.name, size: info.size, why });
    this.send(hexHeader(Z.SKIP));
  }

  error(what) {
    if (this.phase === 'fin' || this.phase === 'done') return;
    if (++this.errors > MAX_ERRORS) {
      this.abort(`too many errors (the last: ${what})`);
      return;
    }
    // A damaged file frame: ask for the data again from the last good
    // octet ([ZM] 8.2); a damaged ZFILE or ZSINIT: ask for it again
    // (ZNAK, as lrzsz's rz); otherwise say again what the receiver is.
    if (this.phase === 'file') {
      this.send(hexHeader(Z.RPOS, posHeader(this.file.got)));
    } else if (this.phase === 'fileinfo' || this.phase === 'sinit') {
      this.phase = 'init';
      this.send(hexHeader(Z.NAK));
    } else {
      this.sendRinit();
    }
  }

  // other: an octet outside any frame; after ZFIN, the sender's "OO"
  // ([ZM] 8.4) ends the batch, and anything else is the terminal's.
  // The line end of the sender's own ZFIN header comes first.
  other(c) {
    if (this.phase !== 'fin' || c === 0x0d || c === 0x0a || c === 0x8d || c === 0x8a) return;
    if (c === 0x4f && ++this.os < 2) return; // 'O'
    this.finish('complete', c !== 0x4f); // another octet is the terminal's
  }
}

// ---- the sending program (uploads) ----

// escape ZDLE-escapes octets for the line ([ZM] 7.2), appended to out:
// ZDLE, DLE, XON, XOFF (with and without the high bit) and CR after '@'
// (the Telenet escape), as lrzsz's sz does; with ctl, every control
// character (0x00-0x1f, 0x80-0x9f), for a receiver that said ESCCTL
// ([ZM] 11.2; lrzsz's rz -e drops control characters sent unescaped).
export function escape(bytes, out = [], ctl = false) {
  let last = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (ctl && (c & 0x60) === 0) {
      out.push(ZDLE, c ^ 0x40);
      last = c;
      continue;
    }
    switch (c) {
      case ZDLE: case 0x10: case XON: case XOFF:
      case 0x98: case 0x90: case 0x91: case 0x93:
        out.push(ZDLE, c ^ 0x40);
        break;
      case 0x0d: case 0x8d:
        if ((last & 0x7f) === 0x40) out.push(ZDLE, c ^ 0x40); else out.push(c);
        break;
      default:
        out.push(c);
    }
    last = c;
  }
  return out;
}

// binHeader is a binary header ([ZM] 7.3.1, 7.3.2), with CRC-32 unless
// use32 is false (a receiver that did not say CANFC32):
//
//   ZPAD ZDLE 'C' type ZP0..ZP3 crc32(4, least significant first), escaped
//   ZPAD ZDLE 'A' type ZP0..ZP3 crc16(2, most significant first), escaped
export function binHeader(type, hdr, use32 = true, ctl = false) {
  const body = [type, ...hdr];
  return Uint8Array.from([ZPAD, ZDLE, use32 ? ZBIN32 : ZBIN, ...escape([...body, ...fcs(body, use32)], [], ctl)]);
}

// subpacket is a data subpacket: the data, ZDLE and the frame end, then
// the CRC (32 unless use32 is false) over data and frame end, escaped.
export function subpacket(data, end, use32 = true, ctl = false) {
  const out = escape(data, [], ctl);
  out.push(ZDLE, end);
  const crc = use32 ? crc32([end], crc32(data)) : crc16([end], crc16(data));
  escape(fcsOctets(crc, use32), out, ctl);
  return Uint8Array.from(out);
}

function fcs(bytes, use32) {
  return fcsOctets(use32 ? crc32(bytes) : crc16(bytes), use32);
}

// fcsOctets is a frame check as sent: a CRC-32 least significant octet
// first, a CRC-16 most significant first.
function fcsOctets(crc, use32) {
  return use32 ? [crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24] : [crc >> 8, crc & 0xff];
}

// An upload sends SUBPACKET octets a data subpacket and keeps at most
// WINDOW octets ahead of the receiver's acknowledgements, asking for one
// (ZCRCQ) every quarter window: the page never queues more than that on
// the line, whatever the file's size. On a damaged line (each ZRPOS) the
// window shrinks to a quarter, down to MIN_WINDOW, so that less data is
// in flight to be thrown away (and read through by the receiver, which
// counts long stretches of it as errors), and grows back a subpacket
// with each ZACK; a resend lost too halves the subpacket, down to
// MIN_SUBPACKET, as lrzsz's sz does, and each ZACK doubles it back.
const SUBPACKET = 1024;
const MIN_SUBPACKET = 64;
const WINDOW = 64 << 10;
const MIN_WINDOW = 4 << 10;

// Sender is the sending program of [ZM] 8 for one batch, to a receiver
// that has already said ZRINIT (a host's `rz`). The owner gives it the
// files (start: [{name, data: Uint8Array, mtime}]), feeds it the
// receiver's octets and calls timeout(); it sends through send(octets),
// reports onFileStart/onProgress/onFile({name, size, got}) and
// onSkip({name, size, why}), and, like Receiver, returns the octets
// after the batch from feed once done is set.
//
// A resend ([ZM] 8.2) goes as sz sends it: the frame in progress ends
// (an empty ZCRCE subpacket, so that the receiver reads what follows as
// a header), then ZDATA at the receiver's position and one subpacket
// that ends in ZCRCW; the rest waits for its ZACK ('sync'). A ZRPOS
// below a position the receiver has acknowledged is from before that
// acknowledgement, and ignored; a repeat of the one being resent is
// probed (see header). The transfer gives up after MAX_ERRORS resends
// lost in a row or timeouts: lrzsz's rz, which counts each of them too
// (and the stale repeats), gives up first.
export class Sender extends Transfer {
  constructor({ send, onFileStart = () => {}, onProgress = () => {}, onFile = () => {}, onSkip = () => {} }) {
    super();
    Object.assign(this, { send, onFileStart, onProgress, onFile, onSkip });
    this.phase = 'choose'; // choose (no files yet), file, sync, data, eof, fin, done
    this.files = null;
    this.file = null;
    this.sent = 0; // octets of the file sent
    this.acked = 0; // octets the receiver has (its ZACK or ZRPOS)
    this.errors = 0;
    this.done = null;
    this.ctl = false; // the receiver's ZRINIT said ESCCTL
    this.use32 = true; // ... and CANFC32 (see header)
    this.restart = -1; // the position of the resend ('sync')
    this.probe = false; // a probe of the resend is on its way (see header)
    this.expected = -1; // the position of a ZRPOS that answers a probe
    this.open = false; // a data frame is open (its last subpacket ZCRCG or ZCRCQ)
    this.subpacket = SUBPACKET;
    this.window = WINDOW;
    this.unasked = 0; // octets sent since the last ZCRCQ
    this.reader = new Reader({
      onHeader: (type, hdr) => this.header(type, hdr),
      onData: () => {}, // rz sends none (no ZCOMMAND)
      onError: () => {},
      onCancel: () => this.finish('cancelled by the receiver'),
      onOther: (c) => this.other(c),
    });
  }

  // start sends the files, after the receiver's ZRINIT was seen.
  start(files) {
    if (this.done || this.files) return;
    this.files = files.slice();
    this.next();
  }

  next() {
    this.file = this.files.shift() ?? null;
    if (!this.file) {
      this.phase = 'fin';
      this.send(hexHeader(Z.FIN));
      return;
    }
    const f = this.file;
    this.phase = 'file';
    this.sent = this.acked = 0;
    this.restart = -1;
    this.onFileStart({ name: f.name, size: f.data.length });
    const left = this.files.reduce((n, x) => n + x.data.length, f.data.length);
    const info = new TextEncoder().encode(`${f.name}\0${f.data.length} ${Math.floor(f.mtime / 1000).toString(8)} 100644 0 ${this.files.length + 1} ${left}\0`);
    // ZF0 = ZCBIN: binary, no conversion ([ZM] 11.4).
    this.sendBlocks([this.binary(Z.FILE, [0, 0, 0, 1]), this.data(info, ZCRCW)]);
  }

  // binary is a binary header as the receiver takes them; after ZDATA
  // a data frame is open until a subpacket ends it.
  binary(type, hdr) {
    this.open = type === Z.DATA;
    return binHeader(type, hdr, this.use32, this.ctl);
  }

  // data is a data subpacket as the receiver takes them; one that ends
  // in ZCRCG or ZCRCQ leaves the frame open.
  data(bytes, end) {
    this.open = end === ZCRCG || end === ZCRCQ;
    return subpacket(bytes, end, this.use32, this.ctl);
  }

  sendBlocks(blocks) {
    for (const b of blocks) this.send(b);
  }

  // pump sends file data from sent up to window past the last octet
  // acknowledged, a ZCRCQ each quarter window and at the window's end
  // (so that a ZACK comes to move it), the last subpacket in ZCRCE
  // followed by ZEOF.
  pump() {
    const f = this.file;
    const out = [];
    while (this.phase === 'data' && this.sent < f.data.length && this.sent - this.acked < this.window) {
      const n = Math.min(this.subpacket, f.data.length - this.sent);
      const piece = f.data.subarray(this.sent, this.sent + n);
      this.sent += n;
      this.unasked += n;
      let end = ZCRCG;
      if (this.sent === f.data.length) {
        end = ZCRCE;
      } else if (this.unasked >= this.window / 4 || this.sent - this.acked >= this.window) {
        end = ZCRCQ;
        this.unasked = 0;
      }
      out.push(this.data(piece, end));
    }
    if (this.phase === 'data' && this.sent === f.data.length) this.eof(out);
    this.sendBlocks(out);
    this.onProgress({ name: f.name, size: f.data.length, got: this.sent });
  }

  // eof appends the file's end to out: ZEOF, after an empty ZCRCE
  // subpacket if the data frame is still open.
  eof(out) {
    if (this.open) out.push(this.data([], ZCRCE));
    out.push(this.binary(Z.EOF, posHeader(this.file.data.length)));
    this.phase = 'eof';
  }

  // from sends the file's data again from pos (ZRPOS, a timeout): the
  // frame in progress ends, then ZDATA and one subpacket in ZCRCW, whose
  // ZACK resumes the stream ('sync'). Nothing follows it: an empty frame
  // at the resend's end would spare a receiver whose copy lost its frame
  // end a wait for more data (lrzsz's rz: 10 s), but lrzsz's rz keeps a
  // frame ahead of its position for later, and once there loops forever
  // on one that is empty. No data frame of the page's begins past the
  // receiver's position.
  from(pos) {
    const f = this.file;
    const out = [];
    if (this.open) out.push(this.data([], ZCRCE));
    this.sent = this.acked = Math.min(pos, f.data.length);
    this.restart = this.sent;
    this.probe = false;
    this.expected = -1;
    this.unasked = 0;
    out.push(this.binary(Z.DATA, posHeader(this.sent)));
    if (this.sent < f.data.length) {
      const n = Math.min(this.subpacket, f.data.length - this.sent);
      out.push(this.data(f.data.subarray(this.sent, this.sent + n), ZCRCW));
      this.sent += n;
      this.phase = 'sync';
    } else {
      this.eof(out);
    }
    this.sendBlocks(out);
    this.onProgress({ name: f.name, size: f.data.length, got: this.sent });
  }

  // resume goes on streaming after a ZACK for all that was sent (the
  // ZCRCW of a resend, or a ZFILE's data subpacket).
  resume() {
    this.phase = 'data';
    this.restart = -1;
    if (this.sent === this.file.data.length) {
      const out = [];
      this.eof(out);
      this.sendBlocks(out);
      return;
    }
    this.send(this.binary(Z.DATA, posHeader(this.sent)));
    this.pump();
  }

  header(type, hdr) {
    const pos = headerPos(hdr);
    switch (type) {
      case Z.RINIT:
        // The receiver's invitation, repeated until files are chosen;
        // after a file's ZEOF, its request for the next one. Its ZF0
        // (hdr[3]) says whether control characters must be escaped and
        // whether it checks CRC-32 (lrzsz's sz falls back to CRC-16).
        this.ctl = (hdr[3] & ESCCTL) !== 0;
        this.use32 = (hdr[3] & CANFC32) !== 0;
        if (this.phase === 'eof') {
          this.onFile({ name: this.file.name, size: this.file.data.length, got: this.file.data.length });
          this.next();
        } else if (this.phase === 'fin') {
          this.send(hexHeader(Z.FIN));
        }
        return;
      case Z.RPOS:
        if (!this.file || this.phase === 'fin') return;
        if (this.phase === 'file') {
          // The answer to ZFILE: the data streams at once (no ZCRCW
          // first, as sz).
          this.sent = this.acked = Math.min(pos, this.file.data.length);
          this.resume();
          return;
        }
        if (pos < this.acked) return; // from before a ZACK
        if (this.phase === 'sync' && pos === this.restart) {
          // The same position again before the resend's ZACK: the
          // receiver's next complaint about the burst before (lrzsz's
          // rz makes one for the damaged subpacket and one for each
          // stretch of the rest it has to read through), or the resend
          // damaged too. Resent at once, each stale repeat would make a
          // resend the receiver finds out of place and answers with a
          // ZRPOS of its own, and so on. A probe tells: ZDATA with an
          // empty ZCRCW subpacket, which a receiver still at pos
          // acknowledges with ZACK(pos), and one past it answers with
          // ZRPOS at its position (expected).
          if (!this.probe) {
            this.probe = true;
            this.sendBlocks([this.binary(Z.DATA, posHeader(pos)), this.data([], ZCRCW)]);
          }
          return;
        }
        if (pos === this.expected) {
          this.expected = -1; // the answer to a probe
          return;
        }
        this.errors = 0; // a ZRPOS past the last one is progress
        this.window = Math.max(MIN_WINDOW, this.window / 4);
        this.from(pos);
        return;
      case Z.ACK:
        if (this.phase !== 'sync' && this.phase !== 'data') return;
        if (this.phase === 'sync' && this.probe && pos === this.restart) {
          // The probe's answer: the resend was lost; again, smaller.
          this.subpacket = Math.max(MIN_SUBPACKET, this.subpacket / 2);
          if (++this.errors > MAX_ERRORS) this.abort('the receiver kept asking for data again');
          else this.from(pos);
          return;
        }
        this.acked = Math.max(this.acked, Math.min(pos, this.sent));
        if (this.phase === 'sync' && this.acked < this.sent) return; // an older ZACK
        this.errors = 0;
        this.subpacket = Math.min(SUBPACKET, this.subpacket * 2);
        this.window = Math.min(WINDOW, this.window + SUBPACKET);
        if (this.phase === 'sync') {
          // A probe on its way will be answered by a ZRPOS here.
          this.expected = this.probe ? this.sent : -1;
          this.resume();
        } else {
          this.expected = -1;
          this.pump();
        }
        return;
      case Z.SKIP:
        if (this.file && this.phase !== 'fin') {
          this.onSkip({ name: this.file.name, size: this.file.data.length, why: 'the host refused it (does it have the file already?)' });
          this.next();
        }
        return;
      case Z.FIN:
        if (this.phase === 'fin') {
          this.send(OO);
          this.finish('complete');
        }
        return;
      case Z.NAK:
        if (this.phase === 'file') this.next0();
        return;
      default:
    }
  }

  // next0 sends the current file's ZFILE again (the receiver missed it).
  next0() {
    this.files.unshift(this.file);
    this.next();
  }

  timeout() {
    if (this.done || this.phase === 'choose') return;
    if (++this.errors > MAX_ERRORS) {
      this.abort('the receiver stopped answering');
      return;
    }
    if (this.phase === 'file') this.next0();
    else if (this.phase === 'fin') this.send(hexHeader(Z.FIN));
    else if (this.phase === 'eof') this.send(this.binary(Z.EOF, posHeader(this.file.data.length)));
    else if (this.phase === 'data' || this.phase === 'sync') this.from(this.acked);
  }

  // other: an octet outside any header. While no files are chosen the
  // host's receiver sends only ZRINIT headers and their line ends;
  // anything else means it has gone (lrzsz's rz gives up after 161 s
  // without a file) and is the terminal's: the upload ends there.
  other(c) {
    if (this.phase !== 'choose' || (c & 0x7f) === 0x0d || (c & 0x7f) === 0x0a) return;
    this.finish(HOST_GONE, true);
  }
}

// HOST_GONE is how an upload ends when the host stopped waiting for it.
export const HOST_GONE = 'the host stopped waiting for files';

function mib(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)} MiB` : `${n} octets`;
}

// ---- the terminal's side ----

// ZRQINIT_START is how a sender's first header begins: "**" ZDLE "B00",
// a hex ZRQINIT ([ZM] 7.3.3, 8.1). A receiver's (a host's `rz`) begins
// "**" ZDLE "B01", a hex ZRINIT: the last octet tells them apart.
const ZRQINIT_START = Uint8Array.from([ZPAD, ZPAD, ZDLE, ZHEX, 0x30, 0x30]);
const ZRINIT_LAST = 0x31;
// TIMEOUT_TICKS is how many of the owner's ticks (one a second) without
// a word from the sender count as a ZMODEM timeout ([ZM] 10: 10 s).
export const TIMEOUT_TICKS = 10;
// ZFIN_HEX is a receiver's hex ZFIN header, up to its line end.
const ZFIN_HEX = hexHeader(Z.FIN).subarray(0, -2);
// MAX_HELD bounds the octets held back after a cancel (see drained): a
// sender's data has a ZDLE escape at least every subpacket, so a longer
// run without one is the terminal's.
const MAX_HELD = MAX_SUBPACKET;

// ZmodemFilter sits between the line and the terminal. Until a sender's
// ZRQINIT shows up it passes all octets to terminal(octets); then it runs
// a Receiver over the stream (nothing goes to the terminal), and once the
// batch is over gives the terminal what follows. A receiver's ZRINIT (a
// host's `rz`) starts a Sender instead, which waits for upload(files). Its owner sends what
// send(octets) gets to the host, calls tick() once a second (the
// sender's timeouts, and the quiet that shows what was held back: a
// chunk ending in "*", the output after a cancel) and cancel() when the
// user cancels. Events: onStart(), onFileStart/onProgress/onFile/onSkip
// (as Receiver's and Sender's) and onEnd(how); onStart(kind) says
// 'download' or 'upload'.
export class ZmodemFilter {
  constructor({ terminal, send, onStart = () => {}, onEnd = () => {}, maxFile = MAX_FILE, ...events }) {
    Object.assign(this, { terminal, send, onStart, onEnd, maxFile, events });
    this.matched = 0; // octets of ZRQINIT_START matched so far
    this.held = null; // octets held back from the terminal
    this.rx = null; // the running Receiver
    this.idle = 0; // ticks without octets
    this.drain = null; // after a cancel: what of the sender's is still dropped (see drained)
    this.tailLeft = 0;
    this.crcLen = 4;
    this.prev = 0; // the last octet dropped in 'trim'
    this.maybeText = []; // chunks held back while draining
    this.maybeOctets = 0; // ... and their octets
    this.zdleLast = false; // the last chunk while draining ended in ZDLE
    this.finMatched = 0; // octets of ZFIN_HEX matched after an upload
  }

  // active: a transfer runs (the keyboard is not the host's).
  get active() {
    return this.rx !== null;
  }

  // uploading: the host's receiver waits for files (upload).
  get uploading() {
    return this.rx instanceof Sender;
  }

  // upload sends files ([{name, data: Uint8Array, mtime}]) to the host's
  // receiver that started an upload.
  upload(files) {
    if (this.uploading) this.rx.start(files);
  }

  feed(bytes) {
    this.idle = 0;
    const rx = this.rx;
    if (rx) {
      const rest = rx.feed(bytes);
      if (rest === null) return;
      if (this.rx === rx) this.end(); // else an event handler cancelled
      bytes = rest;
    }
    if (this.drain) bytes = bytes.subarray(this.drained(bytes));
    this.scan(bytes);
  }

  // drained drops what a cancelled sender still sends, and returns where
  // the terminal's octets begin in bytes (bytes.length: not yet). After
  // the page's cancel ('data') the data in flight is dropped. A chunk
  // without a ZDLE escape in it (sendersData) may be the terminal's (on
  // a pty, lrzsz's sz flushes the rest of its output when it exits, and
  // the shell's output comes after in reads of its own) or the middle of
  // a subpacket: it is held back, dropped if sender's data follows,
  // shown once the line has been quiet a tick (tick: a shell's prompt
  // waits for the user) or once more than MAX_HELD octets are held (no
  // sender's data goes that long without an escape). The sender's own
  // cancel, five or more CAN (sz on a pipe), ends the data; then
  // ('trim') its CANs and backspaces are dropped, then ('tail') the end
  // of the subpacket it was in, ZDLE, frame end and escaped CRC. After
  // an upload ('fin') the line end of the receiver's ZFIN is dropped,
  // and any more ZFIN it sends: lrzsz's rz sends it again (up to three
  // times) when the next octet it reads is not the "OO" (the page's ZFIN
  // repeated, or the "OO" damaged on the way).
  drained(bytes) {
    if (this.drain === 'data') {
      if (!this.sendersData(bytes)) {
        this.maybeText.push(bytes.slice());
        this.maybeOctets += bytes.length;
        if (this.maybeOctets > MAX_HELD) this.undrain();
        return bytes.length;
      }
      this.maybeText = [];
      this.maybeOctets = 0;
    }
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      switch (this.drain) {
        case 'data':
          if (c !== ZDLE) this.cans = 0;
          else if (++this.cans >= 5) this.drain = 'trim';
          break;
        case 'trim':
          if (c === BS) {
            this.backspaces = true;
          } else if (this.prev === ZDLE && this.backspaces && c >= ZCRCE && c <= ZCRCW) {
            this.drain = 'tail';
            this.tailLeft = this.crcLen;
          } else if (c !== ZDLE) {
            this.drain = null;
            return i;
          }
          this.prev = c;
          break;
        case 'fin':
          if (c === ZFIN_HEX[this.finMatched]) {
            if (++this.finMatched === ZFIN_HEX.length) this.finMatched = 0;
          } else if (this.finMatched > 0 || ((c & 0x7f) !== 0x0d && (c & 0x7f) !== 0x0a && (c & 0x7f) !== XON)) {
            // The terminal's, with the start of a header that was not one.
            this.drain = null;
            if (this.finMatched > 0) this.scan(ZFIN_HEX.subarray(0, this.finMatched));
            this.finMatched = 0;
            return i;
          }
          break;
        case 'tail': // the CRC after the frame end
          if (c !== ZDLE && --this.tailLeft === 0) {
            this.drain = null;
            return i + 1;
          }
          break;
      }
    }
    return bytes.length;
  }

  // sendersData: bytes have a ZDLE escape ([ZM] 7.2: a frame end, ZRUB0
  // or ZRUB1, or an escaped octet 0x40-0x5f or 0xc0-0xdf, headers' 'A',
  // 'B' and 'C' among them) or a run of CANs, as a sender's data has and
  // a terminal's text with a stray NUL or CAN rarely does.
  sendersData(bytes) {
    let zdle = this.zdleLast;
    for (const c of bytes) {
      if (zdle && (c === ZDLE || (c >= ZCRCE && c <= ZRUB1) || (c & 0x60) === 0x40)) return true;
      zdle = c === ZDLE;
    }
    this.zdleLast = zdle;
    return false;
  }

  // undrain ends the drain: what was held back is the terminal's.
  undrain() {
    const held = this.maybeText;
    if (this.finMatched > 0) held.unshift(ZFIN_HEX.slice(0, this.finMatched));
    this.finMatched = 0;
    this.maybeText = [];
    this.maybeOctets = 0;
    this.zdleLast = false;
    this.drain = null;
    for (const b of held) this.scan(b);
  }

  // scan passes octets to the terminal up to a ZRQINIT, and starts the
  // receiver there.
  scan(bytes) {
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      const last = this.matched === ZRQINIT_START.length - 1;
      if (c !== ZRQINIT_START[this.matched] && !(last && c === ZRINIT_LAST)) {
        if (this.held) {
          this.terminal(this.held);
          this.held = null;
        }
        // Restart the match: "***" still ends in "**".
        this.matched = c === ZPAD ? (this.matched === 2 ? 2 : 1) : 0;
        continue;
      }
      if (++this.matched < ZRQINIT_START.length) continue;
      const start = i + 1 - ZRQINIT_START.length; // in an earlier chunk when < 0
      if (start > 0) this.terminal(bytes.subarray(0, start));
      this.held = null;
      this.matched = 0;
      const header = ZRQINIT_START.slice();
      header[header.length - 1] = c;
      this.start(c === ZRINIT_LAST ? 'upload' : 'download');
      this.feed(concat(header, bytes.subarray(i + 1)));
      return;
    }
    // A chunk that ends in a partial ZRQINIT_START with its CAN (ZDLE)
    // keeps it from the terminal until the next chunk tells, or the line
    // has been quiet a tick. "*" and "**" alone are text (a shell's echo
    // of a typed "*", a menu's last octet): they go to the terminal at
    // once (held, a typed "*" showed up to two seconds late) and stay
    // matched, so a header split after them still starts the receiver.
    if (this.matched > 0) {
      if (this.held) {
        this.held = concat(this.held, bytes);
        return;
      }
      if (this.matched < 3) {
        if (bytes.length) this.terminal(bytes);
        return;
      }
      const k = Math.min(this.matched, bytes.length);
      if (bytes.length > k) this.terminal(bytes.subarray(0, bytes.length - k));
      this.held = bytes.slice(bytes.length - k);
      return;
    }
    if (bytes.length) this.terminal(bytes);
  }

  start(kind) {
    this.drain = null;
    this.rx = kind === 'upload' ? new Sender({ send: this.send, ...this.events })
      : new Receiver({ send: this.send, maxFile: this.maxFile, ...this.events });
    this.onStart(kind);
  }

  end() {
    const how = this.rx.done;
    const receiving = this.rx instanceof Receiver;
    this.crcLen = this.rx.reader.crc32 ? 4 : 2;
    this.rx = null;
    this.maybeText = [];
    this.maybeOctets = 0;
    this.zdleLast = false;
    this.finMatched = 0;
    this.cans = 0;
    this.backspaces = false;
    this.prev = 0;
    // After an upload the line end of the receiver's ZFIN header is
    // dropped, and its ZFIN repeated.
    if (how === 'cancelled by the sender' || how === 'cancelled by the receiver') this.drain = 'trim';
    else if (how === HOST_GONE) this.drain = null; // nothing was sent
    else if (how !== 'complete') this.drain = 'data';
    else if (!receiving) this.drain = 'fin';
    this.onEnd(how);
  }

  // tick is the owner's clock: one call a second.
  tick() {
    if (++this.idle < (this.rx ? TIMEOUT_TICKS : 2)) return;
    this.idle = 0;
    if (this.held) {
      // Shown, but still matched: a header that goes on later starts the
      // receiver all the same.
      this.terminal(this.held);
      this.held = null;
    }
    if (this.rx) {
      this.rx.timeout();
      if (this.rx.done) this.end();
    } else if (this.drain) {
      // A second of quiet: the sender's data is gone, and what was held
      // back is the terminal's.
      this.undrain();
    }
  }

  // cancel aborts a running transfer (the CAN sequence to the host); the
  // data still in flight is dropped until the line has been quiet a tick.
  cancel() {
    if (!this.rx) return;
    this.rx.cancel();
    this.end();
  }

  // reset forgets a transfer when the call ends.
  reset() {
    this.rx = null;
    this.maybeText = [];
    this.maybeOctets = 0;
    this.zdleLast = false;
    this.finMatched = 0;
    this.held = null;
    this.matched = 0;
    this.drain = null;
  }
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
