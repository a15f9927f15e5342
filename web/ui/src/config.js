// Where the page connects and how it decodes. The line endpoint is always
// on the page's own origin (the gateway's WebSocket listener refuses
// foreign origins anyway); only its path is configurable: the "line" query
// parameter, else the dialgate-line meta tag the gateway writes into the
// page, else ./line. A path is resolved against the page's own URL, so a
// relative one ("./line", which is what the gateway writes) follows the
// page under a reverse proxy's path prefix: the page at /bbs/ connects to
// /bbs/line. Nothing secret ever goes into the URL: the login happens
// inside the terminal.

export const DEFAULT_LINE_PATH = './line';
export const CHARSETS = ['utf-8', 'cp437'];

// validPath accepts a path on this origin made of RFC 3986 path
// characters (§3.3): absolute ("/line", not starting with "//", which
// would name another host) or relative to the page ("./line", "../line";
// the leading dot segment keeps a colon from reading as a scheme). It
// mirrors validLinePath and the relative form of linePathFor in
// web/handler.go.
export function validPath(p) {
  if (typeof p !== 'string' || p.length === 0 || p.length > 256) return false;
  const absolute = p[0] === '/' && p[1] !== '/';
  const relative = /^\.\.?\/(?!\/)/.test(p);
  return (absolute || relative) && /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/.test(p);
}

// linePath picks the line path from the query and the meta tag.
export function linePath(search, metaPath) {
  const q = new URLSearchParams(search || '').get('line');
  if (q !== null && validPath(q)) return q;
  if (validPath(metaPath)) return metaPath;
  return DEFAULT_LINE_PATH;
}

// lineURL is the WebSocket URL of the line: path resolved against the
// page's URL (loc.href), on the page's origin, wss when the page came over
// https.
export function lineURL(loc, path) {
  const u = new URL(validPath(path) ? path : DEFAULT_LINE_PATH, loc.href);
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}${u.pathname}`;
}

// probeURL is the http(s) URL of the same line, for asking what stands at
// that path when the WebSocket failed (main.js diagnose).
export function probeURL(loc, path) {
  const u = new URL(validPath(path) ? path : DEFAULT_LINE_PATH, loc.href);
  return `${loc.protocol}//${loc.host}${u.pathname}`;
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

// screenReader says whether xterm.js keeps its screen-reader mode on (an
// accessibility tree and live region of the terminal's text): query
// "sr" (1, on, true / 0, off, false), else the saved choice, else off.
export function screenReader(search, saved) {
  const q = (new URLSearchParams(search || '').get('sr') || '').toLowerCase();
  if (['1', 'on', 'true'].includes(q)) return true;
  if (['0', 'off', 'false'].includes(q)) return false;
  return saved === 'on';
}
