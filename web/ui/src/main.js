// dialgate browser terminal: xterm.js on a WebSocket line to the gateway
// ("binary" subprotocol: octets in binary messages, JSON control messages
// such as {"type":"resize","cols":80,"rows":24}, {"type":"break"} and the
// keepalive's {"type":"ping"}/{"type":"pong"} in text messages). Two
// ways to log in: the gateway's text login inside the terminal (default),
// or V.42 with Access Security run by dialgate.wasm (mode "v42").
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { CallStatus, State, NoAnswer, redialDelay, noticeText } from './status.js';
import { linePath, lineURL, probeURL, charset, mode, screenReader } from './config.js';
import { Outbox, MAX_WAITING } from './outbox.js';
import { makeCodec, binaryString, terminalText } from './codec.js';
import { checkHostKey, forgetHostKey } from './hostkeys.js';
import { loadV42 } from './v42.js';
import { Keepalive, PING, PING_INTERVAL_MS, STALL_TICKS, isPong, SentLedger, lostInputText, stallText } from './keepalive.js';
import { boundedSize } from './fit.js';
import { attachTextInput } from './textinput.js';
import { ZmodemFilter, MAX_FILE } from './zmodem.js';

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
const STORE_SCREEN_READER = 'dialgate.screenReader';

// CONNECT_TIMEOUT_MS bounds the wait for the WebSocket to open: a gateway
// whose address swallows packets would leave "connecting…" up for as long
// as the browser's TCP keeps trying.
const CONNECT_TIMEOUT_MS = 20000;
// HIGH_WATER is how many octets the WebSocket may hold unsent before the
// page holds back further input (see outbox.js).
const HIGH_WATER = 256 << 10;
// HANGUP_WAIT_MS is how long Hang up waits for the line to close when the
// close has to queue behind input the gateway is not taking (see
// hangUpText).
const HANGUP_WAIT_MS = 3000;
// ANSWER_GRACE_MS is how long a text call whose WebSocket has opened
// still shows "connecting…": a gateway with no line for the call says
// BUSY and hangs up at once, which then shows as "busy" without a
// flash of "connected" before it (browser trial).
const ANSWER_GRACE_MS = 500;

function savedCharset() {
  try { return localStorage.getItem(STORE_CHARSET); } catch { return null; }
}

function saveCharset(c) {
  try { localStorage.setItem(STORE_CHARSET, c); } catch { /* storage disabled */ }
}

function savedScreenReader() {
  try { return localStorage.getItem(STORE_SCREEN_READER); } catch { return null; }
}

function saveScreenReader(on) {
  try { localStorage.setItem(STORE_SCREEN_READER, on ? 'on' : 'off'); } catch { /* storage disabled */ }
}

function storage() {
  try { return window.localStorage; } catch { return null; }
}

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const statusText = $('statustext');
const reconnectBtn = $('reconnect');
const hangupBtn = $('hangup');
const forgetBtn = $('forget');
const charsetSel = $('charset');
const copyBtn = $('copy');
const pasteBtn = $('paste');
const loginForm = $('login');
const breakBtn = $('break');
const srBox = $('sr');
const transferEl = $('transfer');
const transferText = $('transfertext');
const transferCancel = $('zcancel');
const transferPick = $('zpick');
const transferFiles = $('zfile');

const term = new Terminal({
  cursorBlink: true,
  scrollback: 5000,
  fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
  fontSize: 15,
  theme: { background: '#000000', foreground: '#c0c0c0' },
  screenReaderMode: screenReader(window.location.search, savedScreenReader()),
  allowProposedApi: true, // term.unicode, below
});
const fit = new FitAddon();
term.loadAddon(fit);
// Character widths of Unicode 11, as the C libraries of the systems
// behind the gateway count them (glibc's wcwidth: most emoji take two
// columns). xterm.js's own table is Unicode 6's, where they take one:
// programs then put the cursor one column off for each emoji on the
// line (browser trial: Left over "😀😀😀" in bash put the typed
// character a column early on the screen, elsewhere in the command).
term.loadAddon(new Unicode11Addon());
term.unicode.activeVersion = '11';
term.open($('term'));
srBox.checked = term.options.screenReaderMode;
// Text from input events (a phone's keyboard, dictation), taken in order
// and once, in screen-reader mode too (textinput.js).
attachTextInput(term);
// Tab belongs to the terminal; Ctrl+Shift+F is the way out (the page says
// so next to the toolbar, and here for screen readers).
if (term.textarea) term.textarea.setAttribute('aria-label', 'Terminal input. Ctrl+Shift+F moves to the toolbar.');

const lineP = linePath(window.location.search, meta('dialgate-line'));
const url = lineURL(window.location, lineP);
const loginMode = mode(window.location.search, meta('dialgate-mode'));
let codec = makeCodec(charset(window.location.search, savedCharset(), meta('dialgate-charset')));
charsetSel.value = codec.name;

const status = new CallStatus();
let ws = null;
let v42 = null; // the V.42 call's handle while one runs
let callSeq = 0; // counts calls, so that a late event of an old one is ignored
// hungUpEarly is the WebSocket the user hung up before it opened: its
// close is theirs, not the gateway's refusal (browser trial).
let hungUpEarly = null;
// v42Loading is the V.42 call waiting for its caller (dialgate.wasm) to
// load, { cancelled }: Hang up meanwhile cancels it (browser trial: the
// click did nothing, and the call went ahead once the file arrived).
let v42Loading = null;

function showStatus() {
  statusText.textContent = status.text();
  statusText.title = status.text();
  statusEl.dataset.state = status.state;
  const live = [State.CONNECTING, State.AUTHENTICATING, State.CONNECTED, State.STALLED].includes(status.state);
  const up = [State.CONNECTED, State.STALLED].includes(status.state);
  // A focused button that becomes disabled drops the focus to the page
  // itself; after Hang up, keyboard users go on from Reconnect (or the
  // terminal while there is nothing to reconnect).
  const hadFocus = document.activeElement === hangupBtn;
  reconnectBtn.disabled = live || (loginMode === 'v42' && !loginForm.hidden);
  hangupBtn.disabled = !live;
  if (hadFocus && hangupBtn.disabled) (reconnectBtn.disabled ? term : reconnectBtn).focus();
  forgetBtn.hidden = status.state !== State.HOSTKEY;
  breakBtn.disabled = !(up && (loginMode === 'v42' ? v42 : ws));
}

// sendBreak sends a break: in a V.42 session a UI BRK (V.42 §8.13), on
// the text login a {"type":"break"} control message. The gateway passes
// either to the backend as an interrupt.
function sendBreak() {
  if (loginMode === 'v42') {
    if (v42) v42.sendBreak();
  } else if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send('{"type":"break"}');
  }
}

function notice(text) {
  term.write('\r\n\x1b[7m[' + text + ']\x1b[0m\r\n');
}

// TERMINAL_TYPE is what the page announces as the caller's terminal type
// ({"type":"term"}): a pty program behind the gateway gets it as TERM.
const TERMINAL_TYPE = 'xterm-256color';

// resetModes runs when a call ends: the modes a program may have left on
// (the alternate screen of vim, mouse reporting, a hidden cursor,
// bracketed paste, application cursor keys and keypad, colours) are put
// back, so that the next call's login starts on a plain terminal (a
// click at login: would type mouse codes there) while what the call
// showed stays in the scrollback. Nothing here moves the cursor on the
// normal screen: leaving the alternate screen (which restores the
// cursor saved on entering it) only when the program left it there.
// xterm.js parses what it is given later; the modes are looked at once
// all of the call's output has been, and then is called after the reset.
function resetModes(then) {
  term.write('', () => {
    const alt = term.buffer.active.type === 'alternate' ? '\x1b[?1049l' : '';
    term.write(alt + '\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1005l\x1b[?1006l\x1b[?1015l' +
      '\x1b[?2004l\x1b[?1l\x1b>\x1b[?25h\x1b[0m');
    then();
  });
}

// offer hands one piece of input to the line, or returns false when the
// line cannot take it yet (the outbox offers it again later): the
// WebSocket holds HIGH_WATER octets unsent, or the V.42 caller's queue is
// full or its session not up yet. Input with no call to go to is
// dropped, as a modem without carrier drops it.
function offer(piece) {
  if (loginMode === 'v42') return v42 ? v42.write(piece) : true;
  if (!ws || ws.readyState !== WebSocket.OPEN) return true;
  if (ws.bufferedAmount >= HIGH_WATER) return false;
  ws.send(piece);
  sentLedger.sent(piece.length);
  return true;
}

// sentLedger counts the text call's input the gateway has not confirmed
// (keepalive.js): pings queue behind it, so a stall may be a program
// that reads no input (a paste into a busy one), not a gateway that
// stopped (browser trial); and a line lost meanwhile may have lost it.
let sentLedger = new SentLedger();

const outbox = new Outbox(offer);

// input is what the user typed or pasted, as octets. While a file
// transfer runs the line is the transfer's: keystrokes would corrupt it.
function input(bytes) {
  if (transfer.active) {
    transferKeys = true;
    showTransfer();
    return;
  }
  if (!outbox.push(bytes)) {
    notice(`input discarded: ${bytes.length} octets typed or pasted, while ${outbox.waiting} octets typed or pasted earlier are still waiting for the line (at most ${MAX_WAITING >> 20} MiB are held back)`);
  }
}

// received takes octets from the gateway: the call's status sees them
// all (what it reads from the output looks at the whole call), the
// terminal what a file transfer leaves of them.
function received(bytes) {
  status.feed(bytes);
  transfer.feed(bytes);
}

// show puts octets from the gateway in the terminal.
function show(bytes) {
  term.write(terminalText(codec.decode(bytes)));
}

// The host's ZMODEM sender (`sz FILE`, a BBS's download) is answered by
// the page (zmodem.js): the gateway's octets pass through the transfer
// on their way to the terminal, in both logins. While a batch runs the
// terminal shows nothing of it, the toolbar shows its progress and a
// Cancel, and each file received is offered as a browser download. A
// host's receiver (`rz`, a BBS's upload) gets the files the user
// chooses.
let transferKind = ''; // 'download' or 'upload'
let transferKeys = false; // keys were typed (and dropped) during the transfer
let transferNow = ''; // the progress shown
let transferDrawn = true; // the DOM shows transferNow
const transfer = new ZmodemFilter({
  terminal: show,
  // What the transfer sends (a download's answers, an upload's data)
  // goes behind input already queued, past the keyboard's block.
  send: (bytes) => { outbox.push(bytes); },
  onStart: (kind) => {
    transferKind = kind;
    transferKeys = false;
    transferPick.hidden = kind !== 'upload';
    setTransfer(kind === 'upload' ? 'ZMODEM: the host waits for files' : 'ZMODEM: waiting for the first file…');
    // The progress is not a live region (a screen reader would read it
    // out many times a second); the notices in the terminal say what
    // happens, and this one where to go.
    if (kind === 'upload') notice('the host waits for files: "Choose files…" in the toolbar (Ctrl+Shift+F), or "Cancel transfer"');
  },
  onFileStart: (f) => setTransfer(`${transferKind === 'upload' ? 'sending' : 'receiving'} ${f.name}: 0${f.size === null ? '' : ' / ' + f.size} octets`),
  onProgress: (p) => setTransfer(`${transferKind === 'upload' ? 'sending' : 'receiving'} ${p.name}: ${p.got}${p.size === null ? '' : ' / ' + p.size} octets`),
  onFile: (f) => {
    if (transferKind === 'upload') {
      notice(`sent ${f.name} (${f.got} octets)`);
      return;
    }
    saveFile(f.name, f.parts);
    notice(`received ${f.name} (${f.got} octets): saved by the browser as a download`);
    setTransfer('ZMODEM: waiting for the next file…');
  },
  onSkip: (s) => notice(`${transferKind === 'upload' ? 'the host skipped' : 'skipped'} ${s.name}: ${s.why}`),
  onEnd: (how) => {
    transferEl.hidden = true;
    transferPick.hidden = true;
    const keys = transferKeys ? ' (keys typed during the transfer were not sent)' : '';
    if (how === 'complete') notice(`file transfer complete${keys}`);
    else notice(`file transfer ended: ${how}${keys}`);
  },
  maxFile: MAX_FILE,
});
setInterval(() => transfer.tick(), 1000);

// setTransfer shows a transfer's progress, at most once a frame.
function setTransfer(text) {
  transferNow = text;
  transferEl.hidden = false;
  if (!transferDrawn) return;
  transferDrawn = false;
  requestAnimationFrame(showTransfer);
}

function showTransfer() {
  transferDrawn = true;
  const text = transferNow + (transferKeys ? ' (keyboard not sent during the transfer)' : '');
  transferText.textContent = text;
  transferText.title = text;
}

// saveFile offers a received file as a browser download, and lets the
// browser have the memory back once the download has taken it.
function saveFile(name, parts) {
  const blobURL = URL.createObjectURL(new Blob(parts, { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = blobURL;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(blobURL), 60000);
}

// The files to upload are read whole (the ZMODEM sender may be asked to
// send any part again), each up to the download limit.
transferPick.addEventListener('click', () => transferFiles.click());
transferFiles.addEventListener('change', async () => {
  const chosen = [...transferFiles.files];
  transferFiles.value = '';
  if (!transfer.uploading || chosen.length === 0) return;
  transferPick.hidden = true;
  const files = [];
  for (const f of chosen) {
    if (f.size > MAX_FILE) {
      notice(`not sent: ${f.name} is over the page's limit of ${MAX_FILE >> 20} MiB`);
      continue;
    }
    files.push({ name: f.name, data: new Uint8Array(await f.arrayBuffer()), mtime: f.lastModified });
  }
  transfer.upload(files);
  term.focus();
});

transferCancel.addEventListener('click', () => {
  transfer.cancel();
  term.focus();
});

// diagnose asks the line's path over plain HTTP why its WebSocket never
// opened: a browser does not tell a page the HTTP status of a refused
// upgrade (403 for a foreign origin, 404 for a wrong path).
async function diagnose() {
  try {
    const r = await fetch(probeURL(window.location, lineP), { cache: 'no-store', redirect: 'manual' });
    return r.status === 404 ? NoAnswer.NOT_FOUND : NoAnswer.REFUSED;
  } catch {
    return NoAnswer.UNREACHABLE;
  }
}

function sendResize() {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
  }
}

// openLine opens the WebSocket and wires its events to handlers. With
// authenticate the call is "authenticating…" from the open until the V.42
// caller says it is up.
function openLine({ onOpen, onBytes, onClose, authenticate = false }) {
  const seq = ++callSeq;
  status.connecting();
  showStatus();
  let sock;
  try {
    sock = new WebSocket(url, ['binary']);
  } catch {
    status.closed();
    showStatus();
    return null;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  const ledger = new SentLedger();
  sentLedger = ledger;
  // The keepalive: pings while the line is open, "stalled" while the
  // gateway does not answer them.
  const keepalive = new Keepalive({
    ping: () => {
      if (sock.readyState !== WebSocket.OPEN) return;
      sock.send(PING);
      ledger.ping();
    },
    onStall: (on) => {
      if (ws !== sock) return;
      if (on) status.stall(stallText(STALL_TICKS * PING_INTERVAL_MS / 1000, ledger.unconfirmed));
      else status.unstall();
      showStatus();
    },
  });
  let pinger = null;
  let answering = null; // the ANSWER_GRACE_MS timer
  let timedOut = false;
  const timer = setTimeout(() => {
    if (sock.readyState !== WebSocket.CONNECTING) return;
    timedOut = true;
    sock.close();
  }, CONNECT_TIMEOUT_MS);
  sock.onopen = () => {
    clearTimeout(timer);
    if (authenticate) {
      status.authenticating();
    } else {
      status.answered();
      answering = setTimeout(() => {
        if (ws !== sock || status.state !== State.CONNECTING) return;
        status.open();
        showStatus();
      }, ANSWER_GRACE_MS);
    }
    showStatus();
    sock.send(JSON.stringify({ type: 'term', name: TERMINAL_TYPE }));
    sendResize();
    term.focus();
    onOpen(sock);
    keepalive.tick();
    pinger = setInterval(() => keepalive.tick(), PING_INTERVAL_MS);
  };
  sock.onmessage = (ev) => {
    if (ev.data instanceof ArrayBuffer) {
      keepalive.heard();
      onBytes(new Uint8Array(ev.data));
    } else if (isPong(ev.data)) {
      // The gateway read the ping, and so the input sent before it.
      ledger.pong();
      keepalive.pong();
    } else {
      keepalive.heard();
      const text = noticeText(ev.data);
      if (text !== null) {
        status.noticed(text);
        showStatus();
      }
    }
  };
  // ended ends the call on the page: at the socket's close (ev), or with
  // why when the page gives up waiting for the close (abandon).
  const ended = async (ev, why) => {
    clearTimeout(timer);
    clearTimeout(answering);
    clearInterval(pinger);
    if (ws !== sock) return;
    ws = null;
    // Input the call leaves undelivered is named in the terminal, not
    // lost silently: what the page still held back, and what it sent on
    // a line that was lost before the gateway confirmed it (the user's
    // own hang-up discards the first knowingly, and says the second).
    const lost = lostInputText(outbox.waiting, ev && ev.code === 1006 ? ledger.unconfirmed : 0);
    outbox.clear();
    if (transfer.active) notice('file transfer ended: the call ended');
    transfer.reset();
    transferEl.hidden = true;
    onClose();
    if (why) {
      status.end('hungup', why);
    } else if (!status.opened && hungUpEarly === sock) {
      status.end('hungup', 'you hung up before the gateway answered');
    } else if (!status.opened) {
      status.unanswered(timedOut ? NoAnswer.TIMEOUT : await diagnose(), new URL(url).pathname);
      if (seq !== callSeq) return; // a new call started meanwhile
    }
    if (!why) status.closed(ev.code, ev.reason);
    showStatus();
    const words = status.text();
    const text = loginMode !== 'v42';
    // The redial notice follows the reason (resetModes writes after the
    // terminal's pending output; a notice written now would come first).
    resetModes(() => {
      notice(words);
      if (lost) notice(lost);
      if (text && seq === callSeq) scheduleRedial(redialDelay(words));
    });
    // The form takes the keyboard again, unless the session was up and
    // the keyboard is in the terminal: someone typing there when the
    // gateway ended the call (exit, a dropped line) would type into the
    // password field, and Enter would send a shell command to the
    // gateway as a password (browser trial: "ls -la" after "exit" was a
    // failed login for the user).
    if (!text) showLogin(!(v42SessionUp && document.activeElement === term.textarea));
  };
  sock.onclose = (ev) => ended(ev, '');
  sock.abandon = (why) => ended(null, why);
  return sock;
}

// hangUpText closes the text call's line. The close frame goes behind
// the input sent before it (in the browser's and the system's buffers),
// which a program that reads no input (a paste into a busy one) never
// lets through: when the close is not answered within HANGUP_WAIT_MS,
// the page ends the call itself and says so, instead of showing a call
// that Hang up does not end (browser trial).
function hangUpText(sock) {
  outbox.clear();
  sock.close(1000);
  setTimeout(() => {
    if (ws !== sock || sock.readyState === WebSocket.CLOSED) return;
    sock.abandon(`you hung up; the gateway did not confirm it within ${HANGUP_WAIT_MS / 1000} s: it has not taken your last input (the network may be down, or the program the call reaches not reading it), and may end the call only at its idle timeout`);
  }, HANGUP_WAIT_MS);
}

// scheduleRedial places the text login's call again after secs seconds,
// once, when the gateway held off a call made too soon after the last
// one (a reload of the page right after a call): as a modem redials.
// Reconnect, or a call placed meanwhile, takes its place.
let redialTimer = null;
function scheduleRedial(secs) {
  clearTimeout(redialTimer);
  redialTimer = null;
  if (secs <= 0 || redialed) return;
  redialed = true;
  notice(`redialling in ${secs} s`);
  redialTimer = setTimeout(() => {
    redialTimer = null;
    connectText();
  }, secs * 1000 + 250);
}
let redialed = false; // one redial per hold-off: not a loop

function connectText() {
  clearTimeout(redialTimer);
  redialTimer = null;
  if (ws) return;
  openLine({
    onOpen: () => {},
    onBytes: received,
    onClose: () => {},
  });
}

// showLogin shows the V.42 login form, with the keyboard in it (at the
// password when the user ID is filled in) if focus.
function showLogin(focus = true) {
  loginForm.hidden = false;
  showStatus();
  if (!focus) return;
  const user = $('user');
  (user.value ? $('password') : user).focus();
}

// v42SessionUp: the V.42 call's session came up (onReady); a call that
// ended before (denied, busy) hands the keyboard to the form again.
let v42SessionUp = false;

async function connectV42(user, password) {
  if (ws) return;
  loginForm.hidden = true;
  v42SessionUp = false;
  status.connecting();
  showStatus();
  let lib;
  const loading = { cancelled: false };
  v42Loading = loading;
  try {
    lib = await loadV42();
  } catch (e) {
    if (loading.cancelled) return;
    status.end('hungup', 'the V.42 caller did not load: ' + e.message);
    showStatus();
    showLogin();
    return;
  } finally {
    if (v42Loading === loading) v42Loading = null;
  }
  if (loading.cancelled) return; // hung up while it loaded
  const host = window.location.host;
  let pending = []; // octets that arrived before the caller started
  openLine({
    authenticate: true,
    onOpen: (sock) => {
      // The password goes to the caller as octets, which it wipes after
      // the handshake; this copy is wiped once the caller has its own.
      const secret = new TextEncoder().encode(password);
      password = '';
      v42 = lib.call({
        user, password: secret, host, detect: false,
        send: (bytes) => { if (sock.readyState === WebSocket.OPEN) sock.send(bytes); },
        hangUp: () => sock.close(1000),
        checkHostKey: (h, fingerprint) => {
          const r = checkHostKey(storage(), h, fingerprint);
          if (r.firstUse) notice(`first call to ${h}: pinned its host key ${fingerprint}`);
          return r.ok ? '' : r.message;
        },
        onReady: (info) => {
          v42SessionUp = true;
          status.ready(`V.42, encrypted, session ${info.session}`);
          showStatus();
          notice(`connected to ${info.gateway}, session ${info.session}, host key ${info.fingerprint}`);
        },
        onData: received,
        onWritable: () => outbox.pump(),
        // The link's own stall watch (v42caller.WatchStall): its polls
        // go unanswered within seconds of the gateway falling silent,
        // and it ends the call about 10 s later (browser trial: the
        // call ended with no warning, before the pings' stall at 20 s).
        onStall: (st) => {
          if (st.stalled) {
            // The words stay true while the stall lasts: how long the
            // gateway had been silent when it was noticed, and how long
            // a silence the link bears before it ends the call.
            const silent = Math.max(1, Math.round(st.silent));
            const bound = Math.round(st.silent + st.left);
            status.stall(`the gateway has not answered for ${silent} s (the call ends if it has not answered for ${bound} s)`, 'link');
          } else {
            status.unstall('link');
          }
          showStatus();
        },
        onEnd: (end) => {
          status.end(end.state, end.detail);
          showStatus();
          // Input the link took that the gateway never acknowledged is
          // named, as the text call's is (browser trial: it was lost
          // silently when the link failed).
          if (end.unconfirmed > 0) notice(lostInputText(0, end.unconfirmed));
          if (status.state === State.HOSTKEY) {
            notice(`WARNING: the host key of ${host} changed (${end.detail}). ` +
              'The call was ended before the password was sent. Someone may be ' +
              'impersonating the gateway. If its operator changed the key, confirm the ' +
              'new fingerprint with them, then press "Forget host key".');
          }
          if (sock.readyState === WebSocket.OPEN) sock.close(1000);
        },
      });
      secret.fill(0);
      for (const b of pending) v42.feed(b);
      pending = null;
    },
    onBytes: (bytes) => {
      if (v42) v42.feed(bytes); else if (pending) pending.push(bytes);
    },
    onClose: () => {
      if (v42) { v42.peerHungUp(); v42 = null; }
    },
  });
}

loginForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const pw = $('password');
  const password = pw.value;
  pw.value = '';
  connectV42($('user').value, password);
});

// The keys a phone's on-screen keyboard lacks (Esc, Tab, Ctrl, the
// cursor keys), in a row under the toolbar on touch screens (or with
// ?keys=1). Ctrl is sticky: the next key typed goes with it. The buttons
// keep the focus in the terminal, so the phone's keyboard stays up.
const softKeys = $('softkeys');
const ctrlBtn = $('ctrl');
let ctrlNext = false;
function setCtrl(on) {
  ctrlNext = on;
  ctrlBtn.setAttribute('aria-pressed', String(on));
}
if (window.matchMedia('(pointer: coarse)').matches || new URLSearchParams(window.location.search).get('keys') === '1') {
  softKeys.hidden = false;
}
softKeys.addEventListener('pointerdown', (ev) => ev.preventDefault()); // the terminal keeps the focus
softKeys.addEventListener('click', (ev) => {
  const b = ev.target.closest('button');
  if (!b) return;
  if (b === ctrlBtn) {
    setCtrl(!ctrlNext);
  } else {
    const app = term.modes.applicationCursorKeysMode;
    const cursor = (c) => (app ? '\x1bO' : '\x1b[') + c;
    const seq = { esc: '\x1b', tab: '\t', up: cursor('A'), down: cursor('B'), right: cursor('C'), left: cursor('D') }[b.dataset.key];
    if (seq) input(codec.encode(seq));
    setCtrl(false);
  }
  term.focus();
});

// withCtrl is a typed key as Ctrl makes it (Ctrl+C is 0x03); other input
// is left as it is.
function withCtrl(data) {
  if (data.length !== 1) return data;
  const c = data.toUpperCase().charCodeAt(0);
  return c >= 0x40 && c <= 0x5f ? String.fromCharCode(c & 0x1f) : data;
}

term.onData((data) => {
  if (ctrlNext) {
    data = withCtrl(data);
    setCtrl(false);
  }
  input(codec.encode(data));
});
term.onBinary((data) => input(binaryString(data)));
term.onResize(() => sendResize());

// fitTerm fits the terminal to its box, but never beyond the size the
// gateway gives a session (fit.js): past it the terminal keeps the
// largest size the program behind the gateway is told.
function fitTerm() {
  try {
    const proposed = fit.proposeDimensions();
    const dims = boundedSize(proposed);
    if (!dims) return;
    if (dims.cols === proposed.cols && dims.rows === proposed.rows) {
      fit.fit();
    } else if (dims.cols !== term.cols || dims.rows !== term.rows) {
      term.resize(dims.cols, dims.rows);
    }
  } catch { /* not rendered yet */ }
}

// Fit the terminal to its box whenever the box changes size.
let fitPending = false;
new ResizeObserver(() => {
  if (fitPending) return;
  fitPending = true;
  requestAnimationFrame(() => {
    fitPending = false;
    fitTerm();
  });
}).observe($('term'));
fitTerm();

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
    if (ev.code === 'KeyF') { ev.preventDefault(); focusToolbar(); return false; }
  }
  return true;
});

// focusToolbar moves the keyboard from the terminal (where Tab is the
// terminal's) to the first control of the toolbar that takes it; Tab
// from the toolbar's last control comes back to the terminal.
function focusToolbar() {
  const first = [...document.querySelectorAll('#bar button, #bar select, #bar input')]
    .find((el) => !el.disabled && !el.hidden);
  if (first) first.focus();
}

copyBtn.addEventListener('click', () => { copySelection(); term.focus(); });
pasteBtn.addEventListener('click', () => { pasteClipboard(); });
// Disabled in the page until this script runs (browser trial: on a slow
// link they were there, doing nothing, for the 16 s app.js took).
copyBtn.disabled = false;
pasteBtn.disabled = false;
reconnectBtn.addEventListener('click', () => {
  redialed = false;
  term.write('\r\n');
  if (loginMode === 'v42') showLogin(); else connectText();
});
breakBtn.addEventListener('click', () => {
  sendBreak();
  term.focus();
});
srBox.addEventListener('change', () => {
  term.options.screenReaderMode = srBox.checked;
  saveScreenReader(srBox.checked);
  // The keyboard goes back to the terminal, as after the other controls
  // (browser trial: what was typed after a click on the box went to the
  // box, and its Space switched the mode back off).
  term.focus();
});
hangupBtn.addEventListener('click', () => {
  if (v42) {
    v42.close();
  } else if (ws) {
    if (ws.readyState === WebSocket.CONNECTING) hungUpEarly = ws;
    hangUpText(ws);
  } else if (v42Loading) {
    v42Loading.cancelled = true;
    v42Loading = null;
    status.end('hungup', 'you hung up before the call was placed');
    showStatus();
    showLogin();
  }
});
forgetBtn.addEventListener('click', () => {
  forgetHostKey(storage(), window.location.host);
  notice(`forgot the pinned host key of ${window.location.host}; the next call pins the key it offers`);
  // The red HOST KEY CHANGED status is resolved (browser trial: it stayed
  // until the next call).
  status.end('hungup', 'host key forgotten; the next call pins the key it offers');
  showStatus();
});
charsetSel.addEventListener('change', () => {
  codec = makeCodec(charsetSel.value);
  saveCharset(codec.name);
  term.focus();
});

// Hooks for the end-to-end tests and for users' bookmarklets: the
// terminal's text, size and call status (read-only), and focus.
window.dialgate = Object.freeze({
  url,
  mode: loginMode,
  status: () => ({ state: status.state, text: status.text() }),
  charset: () => codec.name,
  // screen is the buffer's text, one line per logical line (rows the
  // terminal wrapped are joined).
  screen: () => {
    const b = term.buffer.active;
    const lines = [];
    for (let i = 0; i < b.length; i++) {
      const row = b.getLine(i);
      const next = b.getLine(i + 1);
      const text = row.translateToString(!(next && next.isWrapped));
      if (row.isWrapped && lines.length) lines[lines.length - 1] += text;
      else lines.push(text);
    }
    return lines.join('\n');
  },
  size: () => ({ cols: term.cols, rows: term.rows }),
  // modes are the terminal modes a program can leave on.
  modes: () => ({ buffer: term.buffer.active.type, mouse: term.modes.mouseTrackingMode, bracketedPaste: term.modes.bracketedPasteMode }),
  focus: () => term.focus(),
  // transfer is the ZMODEM download's progress, '' when none runs.
  transfer: () => (transfer.active ? transferText.textContent : ''),
});

// Closing or reloading the tab hangs up the call (a pty program behind
// it gets SIGHUP; unsaved work in an editor is lost), and Ctrl+W, which
// the shell takes for "delete a word", closes a tab in most browsers:
// while a call is up the browser asks first.
window.addEventListener('beforeunload', (ev) => {
  if (ws) {
    ev.preventDefault();
    ev.returnValue = '';
  }
});

showStatus();
if (loginMode === 'text' && meta('dialgate-mode') === 'v42') {
  // ?mode=text on a line whose gateway starts V.42 at once: it would wait
  // for LAPM frames and never show a login prompt.
  notice('this line expects V.42 (the page\'s own login); the text login gets no prompt here: open the page without ?mode=text');
}
if (loginMode === 'v42') {
  showLogin();
  // Fetched while the user types (browser trial: at 56 kbit/s the 1.6 MB
  // download began only at Call, and "connecting…" stood for 4 minutes).
  // A failure here is reported, and retried, by the call.
  loadV42().catch(() => {});
} else {
  connectText();
}
