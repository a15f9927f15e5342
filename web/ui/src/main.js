// dialgate browser terminal: xterm.js on a WebSocket line to the gateway
// ("binary" subprotocol: octets in binary messages, JSON control messages
// such as {"type":"resize","cols":80,"rows":24} in text messages).
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { CallStatus, State } from './status.js';
import { linePath, lineURL, charset } from './config.js';
import { makeCodec, binaryString } from './codec.js';

function meta(name) {
  const el = document.querySelector(`meta[name="${name}"]`);
  return el ? el.getAttribute('content') : null;
}

// The page's Content-Security-Policy admits <style> elements only with the
// per-response nonce; xterm.js creates its own, so they get the nonce here.
const styleNonce = meta('dialgate-style-nonce');
if (styleNonce) {
  const create = Document.prototype.createElement;
  document.createElement = function (tag, options) {
    const el = create.call(this, tag, options);
    if (typeof tag === 'string' && tag.toLowerCase() === 'style') el.nonce = styleNonce;
    return el;
  };
}

const STORE_CHARSET = 'dialgate.charset';

function savedCharset() {
  try { return localStorage.getItem(STORE_CHARSET); } catch { return null; }
}

function saveCharset(c) {
  try { localStorage.setItem(STORE_CHARSET, c); } catch { /* storage disabled */ }
}

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const reconnectBtn = $('reconnect');
const hangupBtn = $('hangup');
const charsetSel = $('charset');
const copyBtn = $('copy');
const pasteBtn = $('paste');

const term = new Terminal({
  cursorBlink: true,
  scrollback: 5000,
  fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
  fontSize: 15,
  theme: { background: '#000000', foreground: '#c0c0c0' },
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open($('term'));

const url = lineURL(window.location, linePath(window.location.search, meta('dialgate-line')));
let codec = makeCodec(charset(window.location.search, savedCharset(), meta('dialgate-charset')));
charsetSel.value = codec.name;

const status = new CallStatus();
let ws = null;

function showStatus() {
  statusEl.textContent = status.text();
  statusEl.dataset.state = status.state;
  const live = status.state === State.CONNECTING || status.state === State.CONNECTED;
  reconnectBtn.disabled = live;
  hangupBtn.disabled = !live;
}

function send(bytes) {
  if (ws && ws.readyState === WebSocket.OPEN && bytes.length > 0) ws.send(bytes);
}

function sendResize() {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
  }
}

function connect() {
  if (ws) return;
  status.connecting();
  showStatus();
  let sock;
  try {
    sock = new WebSocket(url, ['binary']);
  } catch (e) {
    status.closed();
    showStatus();
    return;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  sock.onopen = () => {
    status.open();
    showStatus();
    sendResize();
    term.focus();
  };
  sock.onmessage = (ev) => {
    if (!(ev.data instanceof ArrayBuffer)) return; // the gateway sends no control messages yet
    const bytes = new Uint8Array(ev.data);
    status.feed(bytes);
    term.write(codec.decode(bytes));
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    status.closed();
    showStatus();
    term.write('\r\n\x1b[7m[' + status.text() + ']\x1b[0m\r\n');
  };
}

term.onData((data) => send(codec.encode(data)));
term.onBinary((data) => send(binaryString(data)));
term.onResize(() => sendResize());

// Fit the terminal to its box whenever the box changes size.
let fitPending = false;
new ResizeObserver(() => {
  if (fitPending) return;
  fitPending = true;
  requestAnimationFrame(() => {
    fitPending = false;
    try { fit.fit(); } catch { /* not rendered yet */ }
  });
}).observe($('term'));
fit.fit();

async function copySelection() {
  const sel = term.getSelection();
  if (!sel) return;
  try {
    await navigator.clipboard.writeText(sel);
  } catch {
    // No clipboard permission: leave the selection for the browser's copy.
  }
}

async function pasteClipboard() {
  // Give the keyboard back to the terminal at once, so that an Enter
  // typed while the clipboard is read goes to the terminal, not to the
  // button (where it would paste again).
  term.focus();
  try {
    term.paste(await navigator.clipboard.readText());
  } catch {
    // Clipboard read refused: Ctrl+Shift+V or the browser menu still work.
  }
}

// Ctrl+C is the terminal's interrupt; Ctrl+Shift+C copies the selection
// and Ctrl+Shift+V is left to the browser, whose paste event xterm.js
// turns into input (bracketed when the application asked for it).
term.attachCustomKeyEventHandler((ev) => {
  if (ev.type === 'keydown' && ev.ctrlKey && ev.shiftKey) {
    if (ev.code === 'KeyC') { copySelection(); ev.preventDefault(); return false; }
    if (ev.code === 'KeyV') return false;
  }
  return true;
});

copyBtn.addEventListener('click', () => { copySelection(); term.focus(); });
pasteBtn.addEventListener('click', () => { pasteClipboard(); });
reconnectBtn.addEventListener('click', () => {
  term.write('\r\n');
  connect();
});
hangupBtn.addEventListener('click', () => { if (ws) ws.close(1000); });
charsetSel.addEventListener('change', () => {
  codec = makeCodec(charsetSel.value);
  saveCharset(codec.name);
  term.focus();
});

// Hooks for the end-to-end tests and for users' bookmarklets: the
// terminal's text, size and call status (read-only), and focus.
window.dialgate = Object.freeze({
  url,
  status: () => ({ state: status.state, text: status.text() }),
  charset: () => codec.name,
  screen: () => {
    const b = term.buffer.active;
    const lines = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
    return lines.join('\n');
  },
  size: () => ({ cols: term.cols, rows: term.rows }),
  focus: () => term.focus(),
});

showStatus();
connect();
