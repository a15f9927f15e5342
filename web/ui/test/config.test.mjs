import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linePath, lineURL, probeURL, validPath, charset, mode, screenReader } from '../src/config.js';

test('line path: query, then meta, then ./line', () => {
  assert.equal(linePath('', null), './line');
  assert.equal(linePath('', './line'), './line');
  assert.equal(linePath('?line=../up/line', './line'), '../up/line');
  assert.equal(linePath('', '/ws'), '/ws');
  assert.equal(linePath('?line=/modem', '/ws'), '/modem');
});

test('line path stays on this origin', () => {
  for (const bad of ['/a"><x>', '//evil.example/line', '/\\evil.example', 'https://evil.example/', 'line', 'evil.example:80/line', '/a b', '/a?x=1', '/a#f', '/a\n', '', './/evil.example', './a b']) {
    assert.equal(validPath(bad), false, bad);
    assert.equal(linePath('?line=' + encodeURIComponent(bad), null), './line', bad);
  }
});

const at = (href) => { const u = new URL(href); return { href, protocol: u.protocol, host: u.host }; };

test('ws on http, wss on https', () => {
  assert.equal(lineURL(at('http://127.0.0.1:8080/'), '/line'), 'ws://127.0.0.1:8080/line');
  assert.equal(lineURL(at('https://bbs.example.org/'), '/line'), 'wss://bbs.example.org/line');
  assert.equal(lineURL(at('https://bbs.example.org/'), './line'), 'wss://bbs.example.org/line');
});

test('a relative line path follows the page under a path prefix', () => {
  assert.equal(lineURL(at('https://bbs.example.org/bbs/'), './line'), 'wss://bbs.example.org/bbs/line');
  assert.equal(lineURL(at('https://bbs.example.org/bbs/index.html?mode=v42'), './line'), 'wss://bbs.example.org/bbs/line');
  assert.equal(lineURL(at('http://h:81/a/b/'), '../line'), 'ws://h:81/a/line');
  assert.equal(lineURL(at('http://h:81/'), '../../line'), 'ws://h:81/line');
  // An absolute path stays absolute.
  assert.equal(lineURL(at('https://bbs.example.org/bbs/'), '/line'), 'wss://bbs.example.org/line');
  assert.equal(probeURL(at('https://bbs.example.org/bbs/'), './line'), 'https://bbs.example.org/bbs/line');
});

test('charset: query, saved, meta, utf-8', () => {
  assert.equal(charset('', null, null), 'utf-8');
  assert.equal(charset('', null, 'cp437'), 'cp437');
  assert.equal(charset('', 'cp437', 'utf-8'), 'cp437');
  assert.equal(charset('?charset=CP437', 'utf-8', 'utf-8'), 'cp437');
  assert.equal(charset('?charset=latin9', null, 'koi8'), 'utf-8');
});

test('mode: query, then meta, then text', () => {
  assert.equal(mode('', null), 'text');
  assert.equal(mode('', 'v42'), 'v42');
  assert.equal(mode('?mode=text', 'v42'), 'text');
  assert.equal(mode('?mode=v42', 'text'), 'v42');
  assert.equal(mode('?mode=evil', 'bogus'), 'text');
});

test('screen reader: query, then saved, then off', () => {
  assert.equal(screenReader('', null), false);
  assert.equal(screenReader('', 'on'), true);
  assert.equal(screenReader('?sr=1', null), true);
  assert.equal(screenReader('?sr=off', 'on'), false);
  assert.equal(screenReader('?sr=maybe', 'off'), false);
});
