import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inputText } from '../src/textinput.js';

test('typed text goes out as it came, whole', () => {
  assert.deepEqual(inputText('insertText', 'a', 0), { data: 'a' });
  assert.deepEqual(inputText('insertText', 'hello', 0), { data: 'hello' }); // a swiped word
  assert.deepEqual(inputText('insertText', '日本', 0), { data: '日本' });
  assert.deepEqual(inputText('insertText', '👨‍👩‍👧', 0), { data: '👨‍👩‍👧' });
  assert.equal(inputText('insertText', '', 0), null);
  assert.equal(inputText('insertText', null, 0), null);
});

test('a line break is Enter, CR; text with line breaks in it is a paste', () => {
  for (const t of ['\n', '\r', '\r\n']) assert.deepEqual(inputText('insertText', t, 0), { data: '\r' });
  assert.deepEqual(inputText('insertLineBreak', null, 0), { data: '\r' });
  assert.deepEqual(inputText('insertParagraph', null, 0), { data: '\r' });
  assert.deepEqual(inputText('insertText', 'a\nb\n', 0), { paste: 'a\nb\n' });
});

test('deletions: one DEL per character the field lost, at least one', () => {
  assert.deepEqual(inputText('deleteContentBackward', null, 1), { data: '\x7f' });
  assert.deepEqual(inputText('deleteContentBackward', null, 0), { data: '\x7f' });
  assert.deepEqual(inputText('deleteWordBackward', null, 3), { data: '\x7f\x7f\x7f' });
  assert.deepEqual(inputText('deleteContentForward', null, 1), { data: '\x1b[3~' });
  assert.equal(inputText('deleteByCut', null, 2), null);
});

test('what xterm.js takes elsewhere, or the empty field cannot take, sends nothing', () => {
  for (const t of ['insertFromPaste', 'insertFromDrop', 'insertReplacementText', 'historyUndo', 'formatBold', 'insertCompositionText']) {
    assert.equal(inputText(t, 'x', 0), null, t);
  }
});
