package modem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// expecter waits for the modem's output (internal/testutil.Expecter).
type expecter struct{ *testutil.Expecter }

func newExpecter(r io.Reader) *expecter {
	return &expecter{testutil.NewExpecter(r, 10*time.Second)}
}

func (e *expecter) expect(t testing.TB, s string) string {
	t.Helper()
	return e.Expect(t, s)
}

// pipeCall is one end of an in-memory call.
type pipeCall struct {
	net.Conn
	info ConnectInfo
}

func (c pipeCall) Info() ConnectInfo { return c.info }

// fakeDialer hands the remote end of each call to the test.
type fakeDialer struct {
	remotes chan net.Conn
	fail    error
	block   bool
	targets chan Target
}

func newFakeDialer() *fakeDialer {
	return &fakeDialer{remotes: make(chan net.Conn, 1), targets: make(chan Target, 1)}
}

func (d *fakeDialer) Dial(ctx context.Context, t Target) (Call, error) {
	select {
	case d.targets <- t:
	default:
	}
	if d.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if d.fail != nil {
		return nil, d.fail
	}
	a, b := net.Pipe()
	select {
	case d.remotes <- b:
	case <-ctx.Done():
		a.Close()
		b.Close()
		return nil, ctx.Err()
	}
	return pipeCall{Conn: a, info: ConnectInfo{Rate: 33600, LAPM: true}}, nil
}

type harness struct {
	dte    io.ReadWriteCloser // the test's end of the DTE
	exp    *expecter
	cancel context.CancelFunc
	done   chan error
}

func startModem(t *testing.T, opts Options) *harness {
	t.Helper()
	ours, theirs := net.Pipe()
	return startModemWith(t, ours, theirs, opts)
}

// startModemWith runs the modem on dte (ours); the test talks to it
// through theirs, the other end of the DTE's line.
func startModemWith(t *testing.T, ours io.ReadWriteCloser, theirs io.ReadWriteCloser, opts Options) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{dte: theirs, exp: newExpecter(theirs), cancel: cancel, done: make(chan error, 1)}
	if opts.Interp.DTERate == 0 {
		opts.Interp.DTERate = 115200
	}
	go func() { h.done <- Run(ctx, ours, opts) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
	h.dte.Close()
	h.done <- nil // make stop idempotent
}

func (h *harness) send(t testing.TB, s string) {
	t.Helper()
	if _, err := h.dte.Write([]byte(s)); err != nil {
		t.Fatalf("DTE write: %v", err)
	}
}

// cmd sends a command line and waits for the result text.
func (h *harness) cmd(t testing.TB, line, result string) string {
	t.Helper()
	h.send(t, line+"\r")
	return h.exp.expect(t, result)
}

// escape waits out the guard time (S12 set by the caller), sends +++ and
// waits for OK.
func (h *harness) escape(t testing.TB, guard time.Duration) {
	t.Helper()
	time.Sleep(guard + guard/2)
	h.send(t, "+++")
	h.exp.expect(t, "OK\r\n")
}

func TestRunDialDataEscapeHangup(t *testing.T) {
	testutil.CheckGoroutines(t)
	d := newFakeDialer()
	h := startModem(t, Options{Dialer: d})
	h.cmd(t, "ATE0S12=5", "OK\r\n")
	h.send(t, "ATDTalice@bbs.example.com:2323\r")
	remote := <-d.remotes
	defer remote.Close()
	tg := <-d.targets
	if tg.Address != "telnet://bbs.example.com:2323" || tg.User != "alice" {
		t.Fatalf("target %v", tg)
	}
	h.exp.expect(t, "CONNECT 33600/LAPM\r\n")
	rexp := newExpecter(remote)

	// Data both ways, byte-exact, including bytes that are commands.
	payload := []byte("hello ATH\r+\x00\xff")
	h.send(t, string(payload))
	rexp.expect(t, string(payload))
	if _, err := remote.Write([]byte("banner\r\nATZ\r\n")); err != nil {
		t.Fatal(err)
	}
	h.exp.expect(t, "banner\r\nATZ\r\n")

	h.escape(t, 100*time.Millisecond)
	rexp.expect(t, "+++") // the escape characters went to the line, as on a Hayes modem
	h.cmd(t, "ATO", "CONNECT 33600/LAPM\r\n")
	if _, err := remote.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	h.exp.expect(t, "again")

	h.escape(t, 100*time.Millisecond)
	h.cmd(t, "ATH", "NO CARRIER\r\n\r\nOK\r\n")
	rexp.expect(t, "+++")
	rexp.WaitEnd() // the remote end sees the hang-up
	h.cmd(t, "AT", "OK\r\n")
}

func TestRunRemoteHangupThenRedial(t *testing.T) {
	testutil.CheckGoroutines(t)
	d := newFakeDialer()
	h := startModem(t, Options{Dialer: d})
	h.cmd(t, "ATE0", "OK\r\n")
	h.send(t, "ATDT127.0.0.1:2323\r")
	remote := <-d.remotes
	h.exp.expect(t, "CONNECT")
	remote.Close()
	h.exp.expect(t, "the other end hung up\r\n\r\nNO CARRIER\r\n")
	h.send(t, "ATDL\r")
	remote = <-d.remotes
	defer remote.Close()
	h.exp.expect(t, "CONNECT 33600/LAPM")
}

func TestRunDialFailures(t *testing.T) {
	testutil.CheckGoroutines(t)
	d := newFakeDialer()
	d.fail = &DialError{Reason: ReasonBusy, Explain: "all lines busy"}
	h := startModem(t, Options{Dialer: d})
	h.cmd(t, "ATE0", "OK\r\n")
	h.cmd(t, "ATDThost:1", "\r\nall lines busy\r\n\r\nBUSY\r\n")
	// An unknown number never reaches the dialer.
	h.cmd(t, "ATDT5551234", "no such number: 5551234 is not in the phonebook\r\n\r\nERROR\r\n")
	// The phonebook's reason, not a fixed "no such number" (trial).
	h.cmd(t, "ATDTtcp://bob:pw@127.0.0.1:1", "a password does not belong in the dial string")
	h.exp.expect(t, "ERROR\r\n")
	select {
	case tg := <-d.targets:
		if tg.Dial != "host:1" {
			t.Fatalf("dialer saw %v", tg)
		}
	default:
		t.Fatal("dialer not called")
	}
	select {
	case tg := <-d.targets:
		t.Fatalf("dialer called for an unknown number: %v", tg)
	default:
	}
}

// TestRunDialCRLF: a terminal that ends the ATD line with CR LF gets its
// call (the LF neither abandons the dial nor reaches the line).
func TestRunDialCRLF(t *testing.T) {
	testutil.CheckGoroutines(t)
	d := newFakeDialer()
	h := startModem(t, Options{Dialer: d})
	h.cmd(t, "ATE0", "OK\r\n")
	h.send(t, "ATDT mybbs\r\n")
	if h.exp.ExpectOneOf(t, "CONNECT 33600/LAPM\r\n", "NO CARRIER\r\n") != 0 {
		t.Fatal("the LF after the CR abandoned the dial")
	}
	remote := <-d.remotes
	defer remote.Close()
	h.send(t, "x")
	rexp := newExpecter(remote)
	if got := rexp.expect(t, "x"); got != "x" {
		t.Errorf("the line got %q before the first data, want only %q", got, "x")
	}
}

func TestRunDialAbandoned(t *testing.T) {
	testutil.CheckGoroutines(t)
	d := newFakeDialer()
	d.block = true
	h := startModem(t, Options{Dialer: d})
	h.cmd(t, "ATE0", "OK\r\n")
	h.send(t, "ATDThost:1\r")
	<-d.targets
	h.send(t, " ")
	h.exp.expect(t, "NO CARRIER\r\n")
	// S7 expiry abandons a dial too.
	h.cmd(t, "ATS7=1", "OK\r\n")
	h.send(t, "ATDThost:1\r")
	<-d.targets
	h.exp.expect(t, "NO CARRIER\r\n")
	h.cmd(t, "AT", "OK\r\n")
}

// fakeAnswerer delivers incoming calls the test makes.
type fakeAnswerer struct {
	calls  chan *fakeIncoming
	closed chan struct{}
	once   sync.Once
}

type fakeIncoming struct {
	conn    net.Conn // the modem's end
	reject  error    // Answer fails (not the expected callback)
	mu      sync.Mutex
	refused bool
}

func (f *fakeIncoming) Peer() string { return "test" }

// Gone never fires for the fake (the line-level test covers hang-ups).
func (f *fakeIncoming) Gone() <-chan struct{} { return nil }
func (f *fakeIncoming) Answer(ctx context.Context) (Call, error) {
	if f.reject != nil {
		return nil, f.reject
	}
	return pipeCall{Conn: f.conn, info: ConnectInfo{Rate: 9600}}, nil
}
func (f *fakeIncoming) Refuse() {
	f.mu.Lock()
	f.refused = true
	f.mu.Unlock()
	f.conn.Close()
}

func (a *fakeAnswerer) Accept(ctx context.Context) (Incoming, error) {
	select {
	case c := <-a.calls:
		return c, nil
	case <-a.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *fakeAnswerer) Close() error {
	a.once.Do(func() { close(a.closed) })
	return nil
}

func TestRunCallbackRingsAndAnswers(t *testing.T) {
	testutil.CheckGoroutines(t)
	ans := &fakeAnswerer{calls: make(chan *fakeIncoming), closed: make(chan struct{})}
	h := startModem(t, Options{Dialer: newFakeDialer(), Answerer: ans})
	h.cmd(t, "ATE0S0=1", "OK\r\n")

	a, b := net.Pipe()
	defer b.Close()
	ans.calls <- &fakeIncoming{conn: a}
	h.exp.expect(t, "RING\r\n")
	h.exp.expect(t, "CONNECT 9600\r\n")
	if _, err := b.Write([]byte("welcome back")); err != nil {
		t.Fatal(err)
	}
	h.exp.expect(t, "welcome back")
	b.Close()
	h.exp.expect(t, "NO CARRIER")

	// Manual answer with ATA; the call is not the expected callback.
	h.cmd(t, "ATS0=0", "OK\r\n")
	a2, b2 := net.Pipe()
	defer b2.Close()
	inc := &fakeIncoming{conn: a2, reject: errors.New("auth: callback ticket mismatch")}
	ans.calls <- inc
	h.exp.expect(t, "RING\r\n")
	h.cmd(t, "ATS1?", "001")
	h.cmd(t, "ATA", "not the expected callback; call refused\r\n\r\nNO CARRIER\r\n")
	inc.mu.Lock()
	refused := inc.refused
	inc.mu.Unlock()
	if !refused {
		t.Fatal("wrong callback not refused")
	}
}

// dtrDTE is a DTE whose test end can report DTR drops.
type dtrDTE struct {
	net.Conn
	drops chan struct{}
	data  chan []byte
}

func (d *dtrDTE) Read(b []byte) (int, error) {
	select {
	case <-d.drops:
		return 0, fmt.Errorf("test: %w", ErrDTRDrop)
	case p, ok := <-d.data:
		if !ok {
			return 0, io.EOF
		}
		return copy(b, p), nil
	}
}

func TestRunDTRDropHangsUp(t *testing.T) {
	testutil.CheckGoroutines(t)
	ours, theirs := net.Pipe()
	defer theirs.Close()
	exp := newExpecter(theirs)
	dte := &dtrDTE{Conn: ours, drops: make(chan struct{}), data: make(chan []byte)}
	d := newFakeDialer()
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), dte, Options{Dialer: d}) }()
	dte.data <- []byte("ATE0DThost:1\r")
	remote := <-d.remotes
	exp.expect(t, "CONNECT")
	dte.drops <- struct{}{}
	if _, err := remote.Read(make([]byte, 1)); err == nil {
		t.Fatal("call still up after DTR drop")
	}
	exp.expect(t, "NO CARRIER")
	// The DTE going away for good (EOF) ends Run.
	close(dte.data)
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("Run: %v", err)
	}
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return len(ents)
}

// TestRunHundredCycles dials and hangs up 100 times, alternating ATH after
// an escape and the remote hanging up, and checks that neither goroutines
// nor file descriptors pile up.
func TestRunHundredCycles(t *testing.T) {
	testutil.CheckGoroutines(t)
	fds := countFDs(t)
	d := newFakeDialer()
	h := startModem(t, Options{Dialer: d})
	h.cmd(t, "ATE0S12=0", "OK\r\n") // no guard time: escape at once
	for i := range 100 {
		h.send(t, "ATDThost:1\r")
		remote := <-d.remotes
		<-d.targets
		h.exp.expect(t, "CONNECT")
		if i%2 == 0 {
			h.send(t, "+++")
			h.exp.expect(t, "OK\r\n")
			h.cmd(t, "ATH", "NO CARRIER\r\n\r\nOK\r\n")
			remote.Close()
		} else {
			remote.Close()
			h.exp.expect(t, "NO CARRIER\r\n")
		}
	}
	h.stop()
	if n := countFDs(t); n > fds+2 {
		t.Fatalf("file descriptors: %d before, %d after", fds, n)
	}
}

func TestRunNeedsDialer(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := Run(context.Background(), a, Options{}); err == nil || !strings.HasPrefix(err.Error(), "modem: ") {
		t.Fatal(err)
	}
}

// sizeDTE records the size of every write to the DTE.
type sizeDTE struct {
	net.Conn
	mu    sync.Mutex
	sizes []int
}

func (d *sizeDTE) Write(b []byte) (int, error) {
	d.mu.Lock()
	d.sizes = append(d.sizes, len(b))
	d.mu.Unlock()
	return d.Conn.Write(b)
}

// TestRunPacesDTE: with PaceDTE the output goes out in bursts the DTE
// rate allows (at 300 bit/s, one character at a time); the pacing itself
// is the token bucket of transport/pace, tested there.
func TestRunPacesDTE(t *testing.T) {
	testutil.CheckGoroutines(t)
	ours, theirs := net.Pipe()
	dte := &sizeDTE{Conn: ours}
	exp := newExpecter(theirs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, dte, Options{Dialer: newFakeDialer(), PaceDTE: true, Interp: Config{DTERate: 300}})
	}()
	if _, err := theirs.Write([]byte("AT\r")); err != nil {
		t.Fatal(err)
	}
	exp.expect(t, "AT\r\r\nOK\r\n")
	cancel()
	<-done
	theirs.Close()
	dte.mu.Lock()
	defer dte.mu.Unlock()
	if len(dte.sizes) != len("AT\r\r\nOK\r\n") {
		t.Fatalf("writes %v, want one character each", dte.sizes)
	}
}

// TestDialFailureLogWords: the log line of a failed dial says the reason
// once and the package's name once ("modem: call failed (error): modem:
// error: no such number: modem: no such number: ..." before).
func TestDialFailureLogWords(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&DialError{Reason: ReasonError, Explain: "no such number", Err: fmt.Errorf("%w: 5550199 is not in the phonebook", ErrUnknownNumber)},
			"no such number: 5550199 is not in the phonebook"},
		{&DialError{Reason: ReasonNoAnswer, Explain: "nobody answers at that address (connection refused)", Err: errors.New("tcp: dial 127.0.0.1:9: connection refused")},
			"nobody answers at that address (connection refused): tcp: dial 127.0.0.1:9: connection refused"},
		{&DialError{Reason: ReasonNoCarrier, Explain: "V.42 detection failed"}, "V.42 detection failed"},
		{&DialError{Reason: ReasonNoCarrier, Err: errors.New("modem: line dropped")}, "line dropped"},
		{&DialError{Reason: ReasonNoCarrier}, "call failed"},
		{errors.New("dial tcp: i/o timeout"), "dial tcp: i/o timeout"},
	} {
		if got := dialFailure(c.err); got != c.want {
			t.Errorf("dialFailure(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestAnswerToGoneDTEDiscarded (review): program B opened the pty, typed
// AT and quit before the loop got to it (readDTE reads on while the loop
// is busy): the OK must not reach program C, which opened the pty next
// and asked for S7. (The review's case had the loop stuck writing to a
// line that took nothing; the loop no longer waits for the line, so the
// lag is set up here directly: B's input arrives in its own epoch, 1,
// after readDTE has moved to C's, 2.)
func TestAnswerToGoneDTEDiscarded(t *testing.T) {
	m := &modem{ip: NewInterp(Config{}), now: time.Now, ctx: context.Background(), dteOut: make(chan dteChunk, 4)}
	m.dteEpoch.Store(2)
	for _, ev := range []event{
		{kind: evDTE, data: []byte("ATE0\r"), epoch: 1},  // B
		{kind: evDTE, data: []byte("ATS7?\r"), epoch: 2}, // C
	} {
		if err := m.handle(ev); err != nil {
			t.Fatal(err)
		}
	}
	close(m.dteOut)
	var out bytes.Buffer
	m.writeDTE(&out)
	if got := out.String(); strings.Count(got, "OK") != 1 || !strings.Contains(got, "050") {
		t.Errorf("the modem wrote %q, want only the answer to C's ATS7?", got)
	}
}

// pasteIntoStuckLine runs the modem on a DTE whose DTR the test drops,
// dials with cmd (the fake dialer's remote reads nothing until the test
// does), and pastes 100 KiB online: more than the line's queue holds.
// done has Run's result once the test closes dte.data.
func pasteIntoStuckLine(t *testing.T, cmd string) (dte *dtrDTE, exp *expecter, remote net.Conn, done chan error) {
	t.Helper()
	ours, theirs := net.Pipe()
	t.Cleanup(func() { theirs.Close() })
	exp = newExpecter(theirs)
	dte = &dtrDTE{Conn: ours, drops: make(chan struct{}), data: make(chan []byte)}
	d := newFakeDialer()
	done = make(chan error, 1)
	go func() { done <- Run(context.Background(), dte, Options{Dialer: d}) }()
	dte.data <- []byte(cmd)
	remote = <-d.remotes
	exp.expect(t, "CONNECT")
	chunk := bytes.Repeat([]byte("p"), 1024)
	for range 100 {
		dte.data <- chunk
	}
	return dte, exp, remote, done
}

// TestRunCommandsNotHeldBehindLine: once the modem leaves the online
// state (here a DTR drop under &D1) its commands are answered while the
// line still holds a full backlog; ATH then hangs up at once.
func TestRunCommandsNotHeldBehindLine(t *testing.T) {
	testutil.CheckGoroutines(t)
	dte, exp, remote, done := pasteIntoStuckLine(t, "ATE0&D1DThost:1\r")
	defer remote.Close()
	dte.drops <- struct{}{}
	exp.expect(t, "OK\r\n") // online command state
	dte.data <- []byte("ATS7?\r")
	exp.expect(t, "050")
	dte.data <- []byte("ATH\r")
	exp.expect(t, "NO CARRIER")
	close(dte.data)
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("Run: %v", err)
	}
}

// TestRunStuckLineStaysResponsive: a remote end that stops reading (its
// window shut) while the DTE pastes 100 KiB does not freeze the modem:
// what the remote sends still reaches the DTE, and a DTR drop hangs up.
// Review: the loop waited in a send to the call's full queue, deaf to
// the line, DTR and incoming calls, until SIGTERM.
func TestRunStuckLineStaysResponsive(t *testing.T) {
	testutil.CheckGoroutines(t)
	dte, exp, remote, done := pasteIntoStuckLine(t, "ATE0DThost:1\r")
	defer remote.Close()
	if _, err := remote.Write([]byte("still here\r\n")); err != nil {
		t.Fatal(err)
	}
	exp.expect(t, "still here\r\n")
	dte.drops <- struct{}{}
	exp.expect(t, "NO CARRIER")
	// The remote sees the hang-up behind what the line had taken.
	if _, err := io.Copy(io.Discard, remote); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("remote: %v", err)
	}
	close(dte.data)
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("Run: %v", err)
	}
}

// flakyAnswerer fails its first Accept as tcp.Listener does when
// accept(2) runs out of descriptors, then delivers calls.
type flakyAnswerer struct {
	fakeAnswerer
	failed atomic.Bool
}

func (a *flakyAnswerer) Accept(ctx context.Context) (Incoming, error) {
	if a.failed.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("modem: answer: tcp: accept: %w", syscall.EMFILE)
	}
	return a.fakeAnswerer.Accept(ctx)
}

// TestRunAnswererRetriesAfterFailure: a failed accept (EMFILE) is logged
// and retried; the next call rings. Review: the first such failure
// stopped the answering for good while the port stayed open.
func TestRunAnswererRetriesAfterFailure(t *testing.T) {
	testutil.CheckGoroutines(t)
	logs := &logLines{}
	ans := &flakyAnswerer{fakeAnswerer: fakeAnswerer{calls: make(chan *fakeIncoming), closed: make(chan struct{})}}
	h := startModem(t, Options{Dialer: newFakeDialer(), Answerer: ans, Logger: logs})
	h.cmd(t, "ATE0", "OK\r\n")
	a, b := net.Pipe()
	defer b.Close()
	select {
	case ans.calls <- &fakeIncoming{conn: a}:
	case <-time.After(10 * time.Second):
		t.Fatal("no Accept after a failed one")
	}
	h.exp.expect(t, "RING")
	if !logs.has("too many open files (1 failed accepts; retrying in 5ms)") {
		t.Errorf("the failed accept is not logged: %q", logs.lines)
	}
}

// TestRunErrorControlMode: \N chooses how a dial string that is no
// phonebook entry is called: \N0 plain (no V.42 detection characters in
// a BBS's login prompt), \N2 V.42 required, \N3 (factory) auto; a
// phonebook entry keeps its own mode. Modem trial: every call to a
// telnet BBS by address began with 44 octets of detection pattern.
func TestRunErrorControlMode(t *testing.T) {
	testutil.CheckGoroutines(t)
	d := newFakeDialer()
	d.fail = &DialError{Reason: ReasonNoAnswer, Explain: "test"}
	pb := &Phonebook{Entries: []Entry{{Name: "bbs", Address: "telnet://bbs.example:23", Mode: ModeV42}}}
	h := startModem(t, Options{Dialer: d, Phonebook: pb})
	h.cmd(t, "ATE0", "OK\r\n")
	for _, c := range []struct {
		cmd, dial string
		want      Mode
	}{
		{"ATDThost:1", "host:1", ModeAuto},
		{"AT\\N0DThost:1", "host:1", ModePlain},
		{"AT\\N2DThost:1", "host:1", ModeV42},
		{"AT\\N0DTbbs", "bbs", ModeV42},
		{"AT\\N3DThost:1", "host:1", ModeAuto},
	} {
		h.cmd(t, c.cmd, "NO ANSWER\r\n")
		if tg := <-d.targets; tg.Mode != c.want {
			t.Errorf("%s: dialed %+v, want mode %q", c.cmd, tg, c.want)
		}
	}
	h.cmd(t, "AT\\N8", "ERROR\r\n")
}

// callInCommandMode dials a fake remote and escapes to command mode
// (+++, S12 = 100 ms) with the call up.
func callInCommandMode(t *testing.T) (*harness, net.Conn) {
	t.Helper()
	d := newFakeDialer()
	h := startModem(t, Options{Dialer: d})
	h.cmd(t, "ATE0S12=5", "OK\r\n")
	h.send(t, "ATDThost:1\r")
	remote := <-d.remotes
	h.exp.expect(t, "CONNECT 33600/LAPM\r\n")
	h.escape(t, 100*time.Millisecond)
	return h, remote
}

// TestRunRemoteDataHeldInCommandMode: what the remote sends while the
// modem is in command mode (after +++) waits in the line and reaches the
// DTE after ATO, as on tcpser. Modem trial: it was thrown away.
func TestRunRemoteDataHeldInCommandMode(t *testing.T) {
	testutil.CheckGoroutines(t)
	h, remote := callInCommandMode(t)
	defer remote.Close()
	wrote := make(chan error, 1)
	go func() {
		_, err := remote.Write([]byte("late output\r\n"))
		wrote <- err
	}()
	h.cmd(t, "ATS7?", "OK\r\n") // in command mode: the remote's output waits
	h.send(t, "ATO\r")
	h.exp.expect(t, "CONNECT 33600/LAPM\r\nlate output\r\n")
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// TestRunRemoteHangupInCommandMode: a remote that sends something and
// hangs up while the modem is in command mode is heard at once (NO
// CARRIER, the line free for incoming calls), not only at ATO. Review:
// the reader parked after one read in command mode.
func TestRunRemoteHangupInCommandMode(t *testing.T) {
	testutil.CheckGoroutines(t)
	h, remote := callInCommandMode(t)
	if _, err := remote.Write([]byte("bye\r\n")); err != nil {
		t.Fatal(err)
	}
	remote.Close()
	// Its goodbye first (review: it was lost with the call).
	h.exp.expect(t, "bye\r\n")
	h.exp.expect(t, "NO CARRIER\r\n")
	h.cmd(t, "AT", "OK\r\n")
}

// TestRunDialNameBeginningWithToneLetter: a phonebook name that begins
// with T or P is dialed by ATD<name> (C-Kermit's usrobotics modem type
// dials so), not only by ATDT<name>; a name the string without that
// letter matches still wins, and ATDL dials the same entry again. Modem
// trial: Kermit's "dial plainbbs" sent ATDplainbbs, the modem looked up
// the host "lainbbs" and answered NO DIALTONE.
func TestRunDialNameBeginningWithToneLetter(t *testing.T) {
	testutil.CheckGoroutines(t)
	d := newFakeDialer()
	d.fail = &DialError{Reason: ReasonNoAnswer, Explain: "test"}
	pb := &Phonebook{Entries: []Entry{
		{Name: "plainbbs", Address: "telnet://plain.example:23"},
		{Name: "thebbs", Address: "telnet://the.example:23"},
		{Name: "hebbs", Address: "telnet://he.example:23"},
		{Name: "Tea Room", Address: "telnet://tea.example:23"},
	}}
	h := startModem(t, Options{Dialer: d, Phonebook: pb})
	h.cmd(t, "ATE0", "OK\r\n")
	for _, c := range []struct{ cmd, name string }{
		{"ATDplainbbs", "plainbbs"},
		{"ATDL", "plainbbs"},
		{"ATDTplainbbs", "plainbbs"},
		{"ATDPplainbbs", "plainbbs"},
		{"ATDthebbs", "hebbs"},
		{"ATDTthebbs", "thebbs"},
		{"ATD Tea Room", "Tea Room"},
		{"ATDphost.example:23", ""},
	} {
		h.cmd(t, c.cmd, "NO ANSWER\r\n")
		if tg := <-d.targets; tg.Name != c.name {
			t.Errorf("%s: dialed %+v, want the entry %q", c.cmd, tg, c.name)
		}
	}
}
