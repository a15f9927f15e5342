// Code page 437 (the IBM PC character set of DOS-era BBS ANSI art) to
// Unicode and back. Octets 0x00-0x7E are taken as ASCII, so control
// characters (ESC, CR, LF, BS, BEL) keep their meaning for the terminal;
// 0x7F and 0x80-0xFF map to the characters IBM's code page shows for
// them (0x7F is the house, which a PC's screen showed where a terminal
// ignores DEL; ANSI art uses it as a glyph).

// CP437_HIGH[i] is the Unicode character for octet 0x80 + i.
export const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅ' + // 0x80
  'ÉæÆôöòûùÿÖÜ¢£¥₧ƒ' + // 0x90
  'áíóúñÑªº¿⌐¬½¼¡«»' + // 0xA0
  '░▒▓│┤╡╢╖╕╣║╗╝╜╛┐' + // 0xB0
  '└┴┬├─┼╞╟╚╔╩╦╠═╬╧' + // 0xC0
  '╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀' + // 0xD0
  'αßΓπΣσµτΦΘΩδ∞φε∩' + // 0xE0
  '≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0'; // 0xF0

// CP437_DEL is the character for octet 0x7F.
export const CP437_DEL = '\u2302'; // ⌂

const toOctet = new Map([[CP437_DEL, 0x7f]]);
for (let i = 0; i < CP437_HIGH.length; i++) toOctet.set(CP437_HIGH[i], 0x80 + i);

// decodeCP437 turns octets into a string. It is stateless: every octet is
// one character, so chunk boundaries do not matter.
export function decodeCP437(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b < 0x7f) s += String.fromCharCode(b);
    else s += b === 0x7f ? CP437_DEL : CP437_HIGH[b - 0x80];
  }
  return s;
}

// encodeCP437 turns what the user typed or pasted into octets. Characters
// the code page cannot show become '?'. DEL typed (the Backspace key
// sends it) stays 0x7F, as ⌂ pasted does.
export function encodeCP437(str) {
  const out = [];
  for (const ch of str) {
    const c = ch.codePointAt(0);
    if (c < 0x80) out.push(c);
    else out.push(toOctet.get(ch) ?? 0x3f);
  }
  return Uint8Array.from(out);
}
