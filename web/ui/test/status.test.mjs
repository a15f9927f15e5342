import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallStatus, State, NoAnswer, heardBusy, busyHint, redialDelay, noticeText, MAX_BUSY_LINE_LEN, MAX_BUSY_HEARD, MAX_NOTICE_LEN } from '../src/status.js';

const enc = new TextEncoder();

function call(...chunks) {
  const s = new CallStatus();
  s.connecting();
  s.open();
  for (const c of chunks) s.feed(enc.encode(c));
  s.closed();
  return s;
}

test('busy: BUSY is the only output', () => {
  const s = call('BUSY\r\n');
  assert.equal(s.state, State.BUSY);
  assert.match(s.text(), /^busy/);
});

test('busy: a bare BUSY keeps the generic words', () => {
  assert.equal(call('BUSY\r\n').text(), 'busy: all lines are busy; try again later');
  assert.equal(call('\r\n', 'BUSY').text(), 'busy: all lines are busy; try again later');
});

test('busy: the gateway\'s reason before BUSY is shown without its name', () => {
  const s = call('\r\ndialgate: redialled too soon; try again in 2 s\r\nBUSY\r\n');
  assert.equal(s.state, State.BUSY);
  assert.equal(s.text(), 'busy: redialled too soon; try again in 2 s');
  assert.equal(call('\r\ngw: all li', 'nes busy; try again later\r\nBU', 'SY\r\n').text(), 'busy: all lines busy; try again later');
  assert.equal(call('\r\nshutting down\r\nBUSY\r\n').text(), 'busy: shutting down');
});

test('heardBusy has the bounds of gateway dial', () => {
  const long = 'x'.repeat(MAX_BUSY_LINE_LEN);
  for (const [heard, busy, why] of [
    ['BUSY\r\n', true, ''],
    ['\r\nBUSY\r\n', true, ''],
    ['  BUSY \t', true, ''],
    ['BUSY', true, ''],
    ['\r\ndialgate: redialled too soon; try again in 2 s\r\nBUSY\r\n', true, 'dialgate: redialled too soon; try again in 2 s'],
    ['\ngw: all lines busy; try again later\nBUSY\n', true, 'gw: all lines busy; try again later'],
    ['one\r\n\r\ntwo\r\nBUSY\r\n', true, 'one two'],
    [long + '\r\nBUSY\r\n', true, long],
    [long + 'x\r\nBUSY\r\n', false, ''],
    ['one\r\ntwo\r\nthree\r\nBUSY\r\n', false, ''],
    ['BUSY\r\nmore', false, ''],
    ['busy\r\n', false, ''],
    ['BUSY signal\r\n', false, ''],
    ['\x1b[2Jgw: busy\r\nBUSY\r\n', false, ''],
    ['gw: caf\xc3\xa9\r\nBUSY\r\n', false, ''], // UTF-8, one character per octet
    ['gw: \u00a0x\r\nBUSY\r\n', false, ''],
    ['gw\x00: x\r\nBUSY\r\n', false, ''],
    ['', false, ''],
    ['\r\n\r\n', false, ''],
    [' '.repeat(MAX_BUSY_HEARD) + 'BUSY', false, ''],
    [' '.repeat(MAX_BUSY_HEARD - 4) + 'BUSY', true, ''],
  ]) {
    assert.deepEqual(heardBusy(heard), { busy, why }, JSON.stringify(heard));
  }
});

test('busyHint drops the gateway name only', () => {
  assert.equal(busyHint('dialgate: all lines busy; try again later'), 'all lines busy; try again later');
  assert.equal(busyHint('no name here'), 'no name here');
  assert.equal(busyHint(': x'), ': x');
  assert.equal(busyHint('gw: '), 'gw: ');
  assert.equal(busyHint('x'.repeat(65) + ': y'), 'x'.repeat(65) + ': y');
});

test('a reason the bounds refuse is not busy, and shows nothing of it', () => {
  for (const heard of ['\x1b]0;owned\x07\r\nBUSY\r\n', 'a\r\nb\r\nc\r\nBUSY\r\n', 'x'.repeat(121) + '\r\nBUSY\r\n']) {
    const s = call(heard);
    assert.equal(s.state, State.HUNGUP, JSON.stringify(heard));
    assert.equal(s.detail, '');
  }
});

test('BUSY inside a session is not busy', () => {
  // A session says more than two lines before any BUSY of its own (the
  // banner, login and password prompts); two short lines and BUSY are
  // the gateway's reason and its BUSY, as gateway dial takes them.
  assert.equal(call('\r\ndialgate: session 4\r\nlogin: a\r\npassword: \r\n', 'BUSY\r\n').state, State.HUNGUP);
  assert.equal(call('dialgate: session 4\r\n', 'x'.repeat(300), '\r\nBUSY\r\n').state, State.HUNGUP);
});

test('denied', () => {
  const s = call('\r\ndialgate: session 7\r\nlogin: bob\r\npassword: \r\n', '\r\nNO CARRIER (access denied)\r\n');
  assert.equal(s.state, State.DENIED);
  assert.equal(s.text(), 'denied: access denied');
});

test('throttled is denied with the reason', () => {
  const s = call('login: x\r\n', '\r\nNO CARRIER (too many attempts or too busy; try again later)\r\n');
  assert.equal(s.state, State.DENIED);
  assert.match(s.text(), /too many attempts/);
});

test('callback', () => {
  const s = call('login: a\r\n', '\r\nHanging up; you will be called back.\r\nNO CARRIER\r\n');
  assert.equal(s.state, State.CALLBACK);
  // The gateway calls the account's registered line, never the page
  // (browser trial: "the gateway will call you back" had the user wait
  // at the page for a call that could not come).
  assert.equal(s.text(), 'callback: the gateway will call back the line registered for this account; a browser cannot take that call');
});

test('hung up with the gateway reason', () => {
  const s = call('$ exit\r\n', '\r\nNO CARRIER (the service ended the session)\r\n');
  assert.equal(s.state, State.HUNGUP);
  assert.equal(s.text(), 'hung up: the service ended the session');
});

test('denied text in mid-session does not count', () => {
  const s = call('NO CARRIER (access denied)\r\n', 'more output\r\n');
  assert.equal(s.state, State.HUNGUP);
  assert.equal(s.detail, '');
});

test('a marker split across messages is found', () => {
  assert.equal(call('login: a\r\n\r\nNO CAR', 'RIER (access de', 'nied)\r\n').state, State.DENIED);
});

test('long output keeps only the tail', () => {
  const s = call('x'.repeat(100000), '\r\nNO CARRIER (access denied)\r\n');
  assert.equal(s.state, State.DENIED);
  assert.ok(s.tail.length <= 512);
});

test('never opened is unreachable', () => {
  const s = new CallStatus();
  s.connecting();
  s.closed();
  assert.equal(s.state, State.UNREACHABLE);
});

test('connecting resets the previous call', () => {
  const s = call('BUSY\r\n');
  s.connecting();
  assert.equal(s.state, State.CONNECTING);
  assert.equal(s.text(), 'connecting…');
  s.open();
  assert.equal(s.text(), 'connected');
});

test('V.42 end keeps its state through the close', () => {
  const s = new CallStatus();
  s.connecting();
  s.open();
  s.ready('V.42, session 9');
  assert.equal(s.text(), 'connected: V.42, session 9');
  s.end('hostkey', 'pinned A, offered B');
  s.closed();
  assert.equal(s.state, State.HOSTKEY);
  assert.equal(s.text(), 'HOST KEY CHANGED: pinned A, offered B');
});

test('V.42 end with an unknown state is hung up', () => {
  const s = new CallStatus();
  s.connecting();
  s.end('error', 'lapm: link failure');
  assert.equal(s.state, State.HUNGUP);
  s.connecting();
  assert.equal(s.ended, false);
});

test('a V.42 hang-up takes its reason from the session\'s last words', () => {
  const s = new CallStatus();
  s.connecting();
  s.open();
  s.ready('V.42, encrypted, session 9');
  s.feed(enc.encode('bye\r\n\r\nNO CARRIER (idle timeout)\r\n'));
  s.end('hungup', '');
  s.closed(1000, '');
  assert.equal(s.text(), 'hung up: idle timeout');
  // Words a program printed mid-session are not the reason.
  s.connecting();
  s.open();
  s.feed(enc.encode('NO CARRIER (x)\r\nmore output\r\n'));
  s.end('hungup', '');
  assert.equal(s.text(), 'hung up');
  // The caller's own detail wins.
  s.connecting();
  s.feed(enc.encode('NO CARRIER (idle timeout)\r\n'));
  s.end('hungup', 'lapm: link failure');
  assert.equal(s.text(), 'hung up: lapm: link failure');
});

test('a V.42 bare hang-up takes the close code\'s words', () => {
  const s = new CallStatus();
  s.connecting();
  s.open();
  s.ready('V.42, encrypted, session 9');
  s.end('hungup', ''); // the line went: the caller knows no more
  s.closed(1006, '');
  assert.equal(s.text(), 'hung up: the connection was lost (close code 1006)');
  s.connecting();
  s.open();
  s.end('hungup', ''); // an orderly release, then our own close
  s.closed(1000, '');
  assert.equal(s.text(), 'hung up');
});

test('a close code is worded when the output says nothing', () => {
  const s = new CallStatus();
  s.connecting();
  s.open();
  s.feed(enc.encode('$ cat > big.txt\r\n'));
  s.closed(1009, '');
  assert.equal(s.state, State.HUNGUP);
  assert.equal(s.text(), 'hung up: the gateway refused a message too big for it (close code 1009)');
  s.connecting();
  s.open();
  s.closed(1001, 'idle timeout');
  assert.equal(s.text(), 'hung up: idle timeout (close code 1001)');
  s.connecting();
  s.open();
  s.closed(1000, '');
  assert.equal(s.text(), 'hung up');
});

test('the gateway words win over the close code', () => {
  const s = call('\r\nNO CARRIER (the service ended the session)\r\n');
  assert.equal(s.text(), 'hung up: the service ended the session');
});

test('a line that never opened says what the browser could tell', () => {
  const s = new CallStatus();
  s.connecting();
  s.unanswered(NoAnswer.NOT_FOUND, '/bbs/line');
  s.closed(1006, '');
  assert.equal(s.state, State.REFUSED);
  assert.equal(s.text(), 'refused: the gateway has no line at /bbs/line (HTTP 404)');
  s.connecting();
  s.unanswered(NoAnswer.REFUSED, '/line');
  assert.equal(s.state, State.REFUSED);
  assert.match(s.text(), /^refused: the gateway refused the connection \(origin not allowed/);
  s.connecting();
  s.unanswered(NoAnswer.TIMEOUT, '/line');
  assert.equal(s.text(), 'no answer: the gateway did not answer in time');
  s.connecting();
  s.unanswered(NoAnswer.UNREACHABLE, '/line');
  assert.equal(s.text(), 'no answer: the gateway could not be reached');
});

test('V.42: authenticating until the session is up', () => {
  const s = new CallStatus();
  s.connecting();
  s.authenticating();
  assert.equal(s.state, State.AUTHENTICATING);
  assert.equal(s.text(), 'authenticating…');
  s.end('denied', 'access denied');
  assert.equal(s.text(), 'denied: access denied');
  s.connecting();
  s.authenticating();
  s.ready('V.42, encrypted, session 3');
  assert.equal(s.text(), 'connected: V.42, encrypted, session 3');
});

test('redialDelay: only the hold-off BUSY asks for a redial, and says when', () => {
  assert.equal(redialDelay(call('\r\ndialgate: redialled too soon; try again in 2 s\r\nBUSY\r\n').text()), 2);
  assert.equal(redialDelay(call('\r\ngw: redialled too soon; try again in 15 s\r\nBUSY\r\n').text()), 15);
  assert.equal(redialDelay(call('BUSY\r\n').text()), 0);
  assert.equal(redialDelay(call('\r\ndialgate: all lines busy; try again later\r\nBUSY\r\n').text()), 0);
  assert.equal(redialDelay(call('\r\ndialgate: redialled too soon; try again in 900 s\r\nBUSY\r\n').text()), 0);
  assert.equal(redialDelay('connected'), 0);
});

test('a notice from the gateway shows while the call is connected, and not after', () => {
  const s = new CallStatus();
  s.connecting();
  s.open();
  s.noticed('the gateway is shutting down: this call ends within 30 s');
  assert.equal(s.text(), 'connected: the gateway is shutting down: this call ends within 30 s');
  s.stall('the gateway has not answered for 20 s');
  assert.equal(s.text(), 'stalled: the gateway has not answered for 20 s');
  s.unstall();
  assert.equal(s.text(), 'connected: the gateway is shutting down: this call ends within 30 s');
  s.connecting();
  s.open();
  assert.equal(s.text(), 'connected');
});

test('a notice must be one short line of printable ASCII', () => {
  const s = new CallStatus();
  s.connecting();
  s.open();
  for (const bad of ['', 'a\x1b[2Jb', 'two\nlines', 'x'.repeat(MAX_NOTICE_LEN + 1), 'caf\u00e9', 42, null]) {
    s.noticed(bad);
    assert.equal(s.text(), 'connected', JSON.stringify(bad));
  }
});

test('noticeText reads notice control messages only', () => {
  assert.equal(noticeText('{"type":"notice","text":"going down"}'), 'going down');
  assert.equal(noticeText('{"type":"pong"}'), null);
  assert.equal(noticeText('{"type":"notice","text":5}'), null);
  assert.equal(noticeText('not json'), null);
  assert.equal(noticeText('{"type":"notice","text":"' + 'x'.repeat(2000) + '"}'), null);
});

test('a V.42 link and the keepalive stall a call apart: stalled while either says so, in the words of the first', () => {
  const s = new CallStatus();
  s.connecting();
  s.authenticating();
  s.stall('too early', 'link');
  assert.equal(s.state, State.AUTHENTICATING);
  s.ready('V.42, encrypted, session 7');
  assert.equal(s.text(), 'connected: V.42, encrypted, session 7');
  s.stall('the gateway has not answered for 2 s (the call ends if it has not answered for 11 s)', 'link');
  assert.equal(s.text(), 'stalled: the gateway has not answered for 2 s (the call ends if it has not answered for 11 s)');
  s.stall('the gateway has not answered for 20 s');
  assert.equal(s.text(), 'stalled: the gateway has not answered for 2 s (the call ends if it has not answered for 11 s)');
  s.unstall('link');
  assert.equal(s.text(), 'stalled: the gateway has not answered for 20 s');
  s.unstall();
  assert.equal(s.text(), 'connected: V.42, encrypted, session 7');
  // A stall the call ended in is forgotten by the next call.
  s.stall('the gateway has not answered for 2 s', 'link');
  s.end('hungup', 'the V.42 link failed: the gateway stopped answering, and the call was lost');
  s.connecting();
  s.authenticating();
  s.ready('V.42, encrypted, session 8');
  s.stall('the gateway has not answered for 20 s');
  s.unstall();
  assert.equal(s.text(), 'connected: V.42, encrypted, session 8');
});

test('answered: a text call shows connecting until open, and a BUSY meanwhile is busy, never connected', () => {
  const s = new CallStatus();
  s.connecting();
  s.answered();
  assert.equal(s.state, State.CONNECTING);
  s.feed(new TextEncoder().encode('\r\ndialgate: all lines busy; try again later\r\nBUSY\r\n'));
  assert.equal(s.closed(1000), State.BUSY);
  assert.equal(s.text(), 'busy: all lines busy; try again later');
  // A call that stays up is connected once open.
  s.connecting();
  s.answered();
  s.open();
  assert.equal(s.text(), 'connected');
  // A line that closes with nothing said during the grace is hung up, not unanswered.
  s.connecting();
  s.answered();
  assert.equal(s.closed(1006), State.HUNGUP);
  assert.equal(s.text(), 'hung up: the connection was lost (close code 1006)');
});
