// Text that reaches the terminal by input events instead of keys: what a
// phone's keyboard types (Android's keyboards send keydown "Unidentified",
// keyCode 229, and the text in a separate input event), dictation, an
// emoji picker, a keyboard's clipboard suggestion.
//
// xterm.js takes such text by comparing its input field before a keyCode
// 229 keydown with the field a moment (setTimeout 0) later. When the text
// arrives after that moment the character is lost, and a later comparison
// against a field that has changed meanwhile sends a character twice, or
// the whole field again (browser trial, keydown 229 + Input.insertText
// over CDP: "abcdefgh" typed without pauses arrived as
// "abcdefghbcdefghcdefghdefghefghfghghh"; one at a time, 120 ms apart, 2 of
// 72 characters were lost). In screen-reader mode xterm.js takes no text
// from input events at all: dictated text, and anything typed that way,
// was lost. And the field kept what was typed, a password at a login
// prompt included, where the accessibility tree showed it as the
// terminal input's value.
//
// So the page takes such text from the input events themselves, which
// carry it, one event at a time and in order; keyCode 229 keydowns never
// reach xterm.js; and the field is emptied after each event. Compositions
// (CJK input methods, and the words Android keyboards compose with their
// suggestions) stay xterm.js's: it sends the composed text when the
// composition ends.

const DEL = '\x7f';
// Keys that only modify others: they send no text of their own.
const MODIFIERS = new Set(['Shift', 'Control', 'Alt', 'AltGraph', 'Meta', 'CapsLock', 'Fn', 'FnLock', 'NumLock', 'ScrollLock', 'Symbol', 'SymbolLock', 'Hyper', 'Super', 'OS']);
const DELETE_FORWARD = '\x1b[3~';

// inputText returns what an input event of type inputType that carried
// data (and removed removed characters from the field) sends to the
// terminal: { data } as typed, { paste } as pasted (bracketed when the
// program asked for it), or null for nothing. Text with line breaks in it
// is a paste (a keyboard's clipboard suggestion commits it as typed
// text); a line break alone is Enter, CR.
export function inputText(inputType, data, removed) {
  switch (inputType) {
    case 'insertText':
      if (!data) return null;
      if (data === '\n' || data === '\r' || data === '\r\n') return { data: '\r' };
      if (/[\r\n]/.test(data)) return { paste: data };
      return { data };
    case 'insertLineBreak':
    case 'insertParagraph':
      return { data: '\r' };
    default:
      break;
  }
  if (inputType.startsWith('delete')) {
    // A backspace deletes one character; a keyboard that deletes a word
    // (or its autocorrection takes one back) removes several.
    const back = inputType.endsWith('Backward');
    const fwd = inputType.endsWith('Forward');
    if (!back && !fwd) return null;
    return { data: (back ? DEL : DELETE_FORWARD).repeat(Math.max(1, removed)) };
  }
  // insertFromPaste and insertFromDrop: xterm.js took the text from the
  // paste event already. insertReplacementText (a spelling suggestion
  // taken) replaces text that the empty field does not have. Undo and
  // formatting: nothing to send.
  return null;
}

// attachTextInput wires inputText to the terminal term: the text goes to
// term.input, as if typed (so that the page's Ctrl key and character set
// apply), or term.paste.
export function attachTextInput(term) {
  const el = term.element;
  const field = term.textarea;
  if (!el || !field) return;
  let composing = false;
  let composedPending = false; // xterm.js has yet to read the composed text
  let keyHeld = false; // a key xterm.js takes itself is down

  const clear = () => {
    if (!composing && !composedPending) field.value = '';
  };

  // Capture listeners on the terminal's element run before xterm.js's
  // own, which are on the field.
  el.addEventListener('keydown', (ev) => {
    if (ev.keyCode === 229) {
      // The text follows in an input event (below), or ends a
      // composition, which xterm.js follows by its composition events.
      ev.stopPropagation();
      return;
    }
    // A key xterm.js takes itself; one it cannot name leaves its text
    // to the input event, and so does a modifier held down (review: a
    // phone's text typed with a real Shift key down was dropped).
    keyHeld = ev.key !== 'Unidentified' && !MODIFIERS.has(ev.key);
  }, true);
  el.addEventListener('keyup', () => { keyHeld = false; }, true);
  // A blur ends a key press whose keyup goes elsewhere.
  field.addEventListener('blur', () => { keyHeld = false; });
  el.addEventListener('compositionstart', () => { composing = true; }, true);
  // In the bubbling phase, after xterm.js's listener on the field: its
  // timer, which reads the composed text from the field, runs before
  // this one, which may then empty the field.
  el.addEventListener('compositionend', () => {
    composing = false;
    composedPending = true;
    setTimeout(() => {
      composedPending = false;
      clear();
    }, 0);
  });
  // The text goes out at beforeinput, whose data is the whole of it:
  // Chromium splits the input events of a text with line breaks at each
  // one (a keyboard's clipboard suggestion "a\nb\n" came as input
  // events "a", "", "b", "", in the same task as its beforeinput).
  // Deletions go out at input, when the field tells how much went; so
  // does an edit that had no beforeinput (document.execCommand).
  let before = '';
  let edit = null; // the edit whose beforeinput came in this task
  el.addEventListener('beforeinput', (ev) => {
    if (ev.target !== field || ev.isComposing || composing) return;
    before = field.value;
    const e = { sent: false };
    edit = e;
    setTimeout(() => { if (edit === e) edit = null; }, 0);
    if (keyHeld || ev.inputType.startsWith('delete')) return;
    e.sent = true;
    // Text typed in the moment after a composition ended (a keyboard
    // commits a word and the space after it at once) is in the field
    // when xterm.js reads the composed text from it, and goes out with it.
    if (!composedPending) send(inputText(ev.inputType, ev.data, 0));
  }, true);
  el.addEventListener('input', (ev) => {
    if (ev.target !== field || ev.isComposing || composing) return;
    ev.stopPropagation(); // xterm.js's own handling of it is not used
    const removed = Math.max(0, [...before].length - [...field.value].length);
    before = '';
    // A key xterm.js sent at its keydown (screen-reader mode lets the
    // key change the field too) is not sent again.
    if (!keyHeld && !(edit && edit.sent)) send(inputText(ev.inputType, ev.data, removed));
    if (edit) edit.sent = true;
    clear();
  }, true);

  function send(out) {
    if (!out) return;
    if (out.paste !== undefined) term.paste(out.paste);
    else term.input(out.data, true);
  }
}
