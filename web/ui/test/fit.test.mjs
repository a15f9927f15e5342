import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundedSize, MAX_DIM } from '../src/fit.js';

test('the terminal is never larger than the gateway grants (bridge.MaxWindowDim)', () => {
  assert.equal(MAX_DIM, 1024);
  assert.deepEqual(boundedSize({ cols: 1104, rows: 42 }), { cols: 1024, rows: 42 });
  assert.deepEqual(boundedSize({ cols: 80, rows: 5000 }), { cols: 80, rows: 1024 });
  assert.deepEqual(boundedSize({ cols: 4000, rows: 3000 }), { cols: 1024, rows: 1024 });
  assert.deepEqual(boundedSize({ cols: 1024, rows: 1024 }), { cols: 1024, rows: 1024 });
  assert.deepEqual(boundedSize({ cols: 108, rows: 29 }), { cols: 108, rows: 29 });
});

test('nothing to fit before the terminal is rendered', () => {
  assert.equal(boundedSize(undefined), null);
  assert.equal(boundedSize({ cols: NaN, rows: 10 }), null);
  assert.equal(boundedSize({ cols: 0, rows: 0 }), null);
});
