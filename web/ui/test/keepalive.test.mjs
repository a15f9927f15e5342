import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keepalive, STALL_TICKS, PING, isPong } from '../src/keepalive.js';
import { CallStatus, State } from '../src/status.js';

// A keepalive wired to a CallStatus as main.js wires it.
function wired() {
  const st = new CallStatus();
  st.connecting();
  st.open();
  const sent = [];
  const ka = new Keepalive({
    ping: () => sent.push(PING),
    onStall: (on) => (on ? st.stall('the gateway has not answered for 20 s') : st.unstall()),
  });
  return { st, ka, sent };
}

test('a ping every tick', () => {
  const { ka, sent } = wired();
  ka.tick();
  ka.pong();
  ka.tick();
  ka.tick();
  assert.deepEqual(sent, [PING, PING, PING]);
  assert.equal(JSON.parse(PING).type, 'ping');
});

test('stalled after STALL_TICKS unanswered ticks, connected again when heard', () => {
  const { st, ka } = wired();
  ka.tick();
  ka.pong(); // the gateway answers pings
  ka.tick(); // this ping goes unanswered
  for (let i = 1; i < STALL_TICKS; i++) {
    ka.tick();
    assert.equal(st.state, State.CONNECTED, `after ${i} unanswered ticks`);
  }
  ka.tick();
  assert.equal(st.state, State.STALLED);
  assert.equal(st.text(), 'stalled: the gateway has not answered for 20 s');
  ka.tick(); // stays stalled, no second report
  assert.equal(st.state, State.STALLED);
  ka.pong();
  assert.equal(st.state, State.CONNECTED);
  assert.equal(st.text(), 'connected');
});

test('data from the gateway counts as an answer', () => {
  const { st, ka } = wired();
  ka.tick();
  ka.pong();
  for (let i = 0; i < 10; i++) {
    ka.tick();
    ka.heard(); // output, no pong (the pong may be behind it)
  }
  assert.equal(st.state, State.CONNECTED);
  for (let i = 0; i <= STALL_TICKS; i++) ka.tick();
  assert.equal(st.state, State.STALLED);
  ka.heard();
  assert.equal(st.state, State.CONNECTED);
});

test('no stall before a first pong (a gateway that does not answer pings)', () => {
  const { st, ka } = wired();
  for (let i = 0; i < 10; i++) ka.tick();
  assert.equal(st.state, State.CONNECTED);
});

test('a stall keeps the V.42 session detail for when it ends', () => {
  const { st, ka } = wired();
  st.authenticating();
  st.ready('V.42, encrypted, session 7');
  ka.tick();
  ka.pong();
  for (let i = 0; i <= STALL_TICKS; i++) ka.tick();
  assert.equal(st.state, State.STALLED);
  ka.heard();
  assert.equal(st.text(), 'connected: V.42, encrypted, session 7');
});

test('only a connected call stalls; a stalled call still hangs up', () => {
  const st = new CallStatus();
  st.connecting();
  st.stall('x');
  assert.equal(st.state, State.CONNECTING);
  st.open();
  st.stall('x');
  assert.equal(st.state, State.STALLED);
  assert.equal(st.closed(1006, ''), State.HUNGUP);
  assert.equal(st.text(), 'hung up: the connection was lost (close code 1006)');
  st.unstall();
  assert.equal(st.state, State.HUNGUP);
});

test('isPong', () => {
  assert.equal(isPong('{"type":"pong"}'), true);
  assert.equal(isPong(' {"type" : "pong", "x": 1} '), true);
  for (const t of ['{"type":"ping"}', 'pong', 'null', '[]', '{"type":["pong"]}', '', 'x'.repeat(2000), undefined]) {
    assert.equal(isPong(t), false, JSON.stringify(t));
  }
});
