import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linePath, lineURL, validPath, charset, mode } from '../src/config.js';

test('line path: query, then meta, then /line', () => {
  assert.equal(linePath('', null), '/line');
  assert.equal(linePath('', '/ws'), '/ws');
  assert.equal(linePath('?line=/modem', '/ws'), '/modem');
});

test('line path stays on this origin', () => {
  for (const bad of ['/a"><x>', '//evil.example/line', '/\\evil.example', 'https://evil.example/', 'line', '/a b', '/a?x=1', '/a#f', '/a\n', '']) {
    assert.equal(validPath(bad), false, bad);
    assert.equal(linePath('?line=' + encodeURIComponent(bad), null), '/line', bad);
  }
});

test('ws on http, wss on https', () => {
  assert.equal(lineURL({ protocol: 'http:', host: '127.0.0.1:8080' }, '/line'), 'ws://127.0.0.1:8080/line');
  assert.equal(lineURL({ protocol: 'https:', host: 'bbs.example.org' }, '/line'), 'wss://bbs.example.org/line');
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
