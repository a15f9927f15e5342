// Where the page connects and how it decodes. The line endpoint is always
// on the page's own origin (the gateway's WebSocket listener refuses
// foreign origins anyway); only its path is configurable: the "line" query
// parameter, else the dialgate-line meta tag the gateway writes into the
// page, else /line. Nothing secret ever goes into the URL: the login
// happens inside the terminal.

export const DEFAULT_LINE_PATH = '/line';
export const CHARSETS = ['utf-8', 'cp437'];

// validPath accepts an absolute path on this origin made of RFC 3986 path
// characters (§3.3), not starting with "//" (which would name another
// host). It mirrors validLinePath in web/handler.go.
export function validPath(p) {
  return typeof p === 'string' && p.length > 0 && p.length <= 256 &&
    p[0] === '/' && p[1] !== '/' && /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/.test(p);
}

// linePath picks the line path from the query and the meta tag.
export function linePath(search, metaPath) {
  const q = new URLSearchParams(search || '').get('line');
  if (q !== null && validPath(q)) return q;
  if (validPath(metaPath)) return metaPath;
  return DEFAULT_LINE_PATH;
}

// lineURL is the WebSocket URL of the line on the page's origin: wss when
// the page came over https.
export function lineURL(loc, path) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}${path}`;
}

// charset picks the character set: query "charset", else the saved
// choice, else the meta tag's default, else UTF-8.
export function charset(search, saved, metaDefault) {
  const q = new URLSearchParams(search || '').get('charset');
  for (const c of [q, saved, metaDefault]) {
    const v = (c || '').toLowerCase();
    if (CHARSETS.includes(v)) return v;
  }
  return 'utf-8';
}

// mode picks the login: "text" (the gateway's text login in the terminal)
// or "v42" (V.42 with Access Security run by dialgate.wasm): query
// "mode", else the meta tag's default, else text.
export function mode(search, metaDefault) {
  const q = new URLSearchParams(search || '').get('mode');
  for (const m of [q, metaDefault]) {
    if (m === 'text' || m === 'v42') return m;
  }
  return 'text';
}
