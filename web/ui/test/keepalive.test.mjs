import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keepalive, STALL_TICKS, PING, isPong, SentLedger, lostInputText, stallText } from '../src/keepalive.js';
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

test('SentLedger: a pong confirms the input sent before its ping', () => {
  const l = new SentLedger();
  l.sent(5);
  assert.equal(l.unconfirmed, 0, 'nothing known before the gateway answers a ping');
  l.ping();
  l.sent(3);
  l.pong(); // answers the ping sent after 5 octets
  assert.equal(l.unconfirmed, 3);
  l.ping();
  l.sent(4);
  l.ping();
  l.pong();
  assert.equal(l.unconfirmed, 4);
  l.pong();
  assert.equal(l.unconfirmed, 0);
  l.pong(); // no ping out: confirms nothing more
  l.sent(2);
  assert.equal(l.unconfirmed, 2);
});

test('SentLedger: pongs after a long stall never confirm more than was sent before their pings', () => {
  const l = new SentLedger();
  l.ping();
  l.pong();
  for (let i = 0; i < 200; i++) {
    l.sent(1);
    l.ping();
  }
  l.sent(7);
  for (let i = 0; i < 200; i++) l.pong();
  assert.ok(l.unconfirmed >= 7, `unconfirmed ${l.unconfirmed}`);
});

test('SentLedger: after an overflow a pong is paired with its own ping', () => {
  // Review: 70 pings out (64 recorded), then 100 octets; the first 65
  // pongs answer pings 1-65; ping 71 goes behind 170 octets; the next
  // pong answers ping 66, sent behind 66 octets: it must not confirm 170.
  const l = new SentLedger();
  for (let i = 0; i < 70; i++) {
    l.sent(1);
    l.ping();
  }
  l.sent(100);
  for (let i = 0; i < 65; i++) l.pong();
  l.ping();
  l.pong();
  assert.ok(l.total - l.unconfirmed <= 66, `confirmed ${l.total - l.unconfirmed} octets, only 66 were sent before ping 66`);
  for (let i = 0; i < 5; i++) l.pong(); // pings 67-71, not recorded
  l.ping(); // recorded again: all answered
  l.pong();
  assert.equal(l.unconfirmed, 0);
});

test('lostInputText', () => {
  assert.equal(lostInputText(0, 0), '');
  assert.equal(lostInputText(0, 12), 'the gateway had not confirmed the last 12 octets typed or pasted when the line was lost: they may not have reached it');
  assert.equal(lostInputText(4096, 0), '4096 octets typed or pasted were still waiting to be sent and were discarded');
  assert.match(lostInputText(10, 3), /last 3 octets .*; 10 octets .* discarded$/);
});

test('stallText: a slow line is named with a dead one', () => {
  assert.equal(stallText(20, 0), 'the gateway has not answered for 20 s');
  assert.equal(stallText(20, 5), 'the gateway has not answered for 20 s, nor taken the input sent before its pings (the network may be slow or down, or the program the call reaches not reading it)');
});
