package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/callbackd"
	"github.com/dialgate/dialgate/internal/busyline"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// testLink stands in for lapm.Link until it lands: XID commands and
// responses and sealed data as frames on the line, each behind a 0x7E
// marker so that detection patterns still in flight are skipped (as a
// real HDLC receiver hunts for flags).
type testLink struct {
	line transport.Line
	r    *bufio.Reader
	wmu  sync.Mutex
	tr   auth.Transform
	buf  []byte
	// tamper flips a bit of each sealed payload written, after sealing
	// (an on-path attacker whose frames still pass the FCS).
	tamper bool
}

var _ v42Link = (*testLink)(nil)

func newTestLink(line transport.Line, leftover []byte) *testLink {
	var r io.Reader = line
	if len(leftover) > 0 {
		r = io.MultiReader(strings.NewReader(string(leftover)), line)
	}
	return &testLink{line: line, r: bufio.NewReader(r)}
}

func (l *testLink) writeFrame(kind byte, p []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	b := append([]byte{0x7E, kind}, binary.BigEndian.AppendUint16(nil, uint16(len(p)))...)
	_, err := l.line.Write(append(b, p...))
	return err
}

func (l *testLink) readFrame(want byte) ([]byte, error) {
	for {
		c, err := l.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == 0x7E {
			break
		}
	}
	var hdr [3]byte
	if _, err := io.ReadFull(l.r, hdr[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint16(hdr[1:]))
	if _, err := io.ReadFull(l.r, p); err != nil {
		return nil, err
	}
	if hdr[0] != want {
		return nil, fmt.Errorf("testLink: frame %q, want %q", hdr[0], want)
	}
	return p, nil
}

func (l *testLink) ExchangeXID(ctx context.Context, p []byte) ([]byte, error) {
	if err := l.writeFrame('C', p); err != nil {
		return nil, err
	}
	return l.readFrameCtx(ctx, 'R')
}
func (l *testLink) AcceptXID(ctx context.Context) ([]byte, error) { return l.readFrameCtx(ctx, 'C') }

// readFrameCtx is readFrame until ctx ends, as lapm.Link's exchanges:
// then the line is closed and the error wraps ctx.Err().
func (l *testLink) readFrameCtx(ctx context.Context, want byte) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() { l.line.Close() })
	p, err := l.readFrame(want)
	if !stop() {
		return nil, fmt.Errorf("testLink: %w", ctx.Err())
	}
	return p, err
}
func (l *testLink) RespondXID(p []byte) error     { return l.writeFrame('R', p) }
func (l *testLink) NegotiationTranscript() []byte { return []byte("testLink XID") }
func (l *testLink) Close() error                  { return l.line.Close() }

func (l *testLink) Write(p []byte) (int, error) {
	for n := 0; n < len(p); {
		chunk := p[n:min(len(p), n+1024)]
		sealed := l.tr.Seal(nil, chunk)
		if l.tamper {
			sealed[0] ^= 0x01
		}
		if err := l.writeFrame('D', sealed); err != nil {
			return n, err
		}
		n += len(chunk)
	}
	return len(p), nil
}

func (l *testLink) Read(p []byte) (int, error) {
	for len(l.buf) == 0 {
		sealed, err := l.readFrame('D')
		if err != nil {
			return 0, err
		}
		if l.buf, err = l.tr.Open(nil, sealed); err != nil {
			return 0, fmt.Errorf("%w: %w", lapm.ErrPayloadRefused, err) // as lapm.Link fails
		}
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

// withTestLAPM plugs testLink into gateway dial for one test.
func withTestLAPM(t *testing.T) {
	oldOpen, oldStart := lapmOpen, lapmStart
	lapmOpen = func(ctx context.Context, line transport.Line, leftover []byte, role lapm.Role) (v42Link, error) {
		return newTestLink(line, leftover), nil
	}
	lapmStart = func(ctx context.Context, link v42Link, tr auth.Transform) error {
		link.(*testLink).tr = tr
		return nil
	}
	t.Cleanup(func() { lapmOpen, lapmStart = oldOpen, oldStart })
}

// v42Gateway is a fake gateway: V.42 detection as answerer, testLink,
// Access Security as answerer, then an echo of the sealed data. verify
// decides logins; schedule, if set, is its ScheduleCallback (an error
// refuses the callback: REJECT callback-unavailable); callback, if set,
// is run with the ticket after CONFIRM announced a callback. initiated
// counts the INITIATEs received (before the CHALLENGE is sent), verified
// the logins checked.
type v42Gateway struct {
	key       auth.HostKey
	verify    func(user, pw string) (auth.User, error)
	callback  func(t *testing.T, tk *auth.Ticket)
	schedule  func(tk *auth.Ticket) error
	ttl       time.Duration // the callback ticket's life (0: auth's default)
	tamper    bool          // alter the sealed payloads it sends (testLink.tamper)
	initiated atomic.Int32
	verified  atomic.Int32
}

func (g *v42Gateway) handle(t *testing.T, line *tcp.Line) {
	ctx := t.Context()
	res, leftover, err := lapm.Detect(ctx, line, lapm.Answerer)
	if err != nil || res != lapm.DetectLAPM {
		t.Errorf("gateway detection: %v %v", res, err)
		return
	}
	link := newTestLink(line, leftover)
	first, err := link.AcceptXID(ctx)
	if err != nil {
		return // the caller gave up (host key refused)
	}
	g.initiated.Add(1)
	ar, err := auth.Answer(ctx, link, first, auth.AnswererConfig{
		HostKey: g.key, Name: "fakegw",
		Verify: func(ctx context.Context, user, pw string) (auth.User, error) {
			g.verified.Add(1)
			return g.verify(user, pw)
		},
		AllocateSession:  func() (uint64, error) { return 1200, nil },
		ScheduleCallback: g.schedule,
		CallbackTTL:      g.ttl,
	})
	if err != nil {
		io.Copy(io.Discard, line)
		return
	}
	if ar.Callback != nil {
		line.Close()
		if g.callback != nil {
			g.callback(t, ar.Callback)
		}
		return
	}
	link.tr = ar.Transform
	link.tamper = g.tamper
	io.Copy(link, link)
}

func newV42Gateway(t *testing.T) *v42Gateway {
	k, err := auth.GenerateHostKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &v42Gateway{key: k, verify: func(user, pw string) (auth.User, error) {
		if user == "alice" && pw == "right" {
			return auth.User{ID: user}, nil
		}
		return auth.User{}, auth.ErrDenied
	}}
}

func TestDialV42(t *testing.T) {
	withTestLAPM(t)
	for _, c := range []struct {
		name     string
		pw       string
		busy     bool
		pinOther bool
		want     int
	}{
		{"connected", "right", false, false, exitOK},
		{"wrong password", "wrong", false, false, exitDenied},
		{"busy", "right", true, false, exitBusy},
		{"host key changed", "right", false, true, exitHostKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			g := newV42Gateway(t)
			if c.busy {
				g.verify = func(string, string) (auth.User, error) { return auth.User{}, auth.ErrBusy }
			}
			addr := fakeGateway(t, true, g.handle)
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if c.pinOther {
				other, _ := auth.GenerateHostKey(nil)
				os.WriteFile(kh, []byte(strings.TrimPrefix(addr, "telnet://")+" "+other.Fingerprint()+"\n"), 0o600)
			}
			r := startDial(t, map[string]string{envPassword: c.pw}, "--user", "alice", "--known-hosts", kh, "--tofu", addr)
			if c.want == exitOK {
				waitFor(t, func() bool { return strings.Contains(r.stderr.String(), "session 1200") })
				r.stdin.Write([]byte("sealed echo\r"))
				waitFor(t, func() bool { return r.stdout.String() == "sealed echo\r" })
				r.stdin.Close()
			}
			if code := r.wait(t); code != c.want {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.want, r.stderr)
			}
			if c.pinOther && g.verified.Load() != 0 {
				t.Error("the password was checked although the host key was refused")
			}
			if c.want == exitOK {
				b, _ := os.ReadFile(kh)
				if !strings.Contains(string(b), g.key.Fingerprint()) || !strings.Contains(r.stderr.String(), "was not known") {
					t.Errorf("trust on first use: file %q, stderr %q", b, r.stderr)
				}
			}
		})
	}
}

// TestDialV42TamperedPayload: a payload from the gateway that does not
// authenticate is a protocol error (exit 14, saying so), not a dropped
// line (exit 16) nor, after the end of input, an orderly end (exit 0).
func TestDialV42TamperedPayload(t *testing.T) {
	withTestLAPM(t)
	for _, closeInput := range []bool{false, true} {
		t.Run(fmt.Sprintf("input closed=%v", closeInput), func(t *testing.T) {
			testutil.CheckGoroutines(t)
			g := newV42Gateway(t)
			g.tamper = true
			addr := fakeGateway(t, true, g.handle)
			kh := filepath.Join(t.TempDir(), "known_hosts")
			r := startDial(t, map[string]string{envPassword: "right"}, "--user", "alice", "--known-hosts", kh, "--tofu", addr)
			waitFor(t, func() bool { return strings.Contains(r.stderr.String(), "session 1200") })
			r.stdin.Write([]byte("echoed altered\r"))
			if closeInput {
				r.stdin.Close()
			}
			if code := r.wait(t); code != exitProtocol || !strings.Contains(r.stderr.String(), "did not authenticate") {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitProtocol, r.stderr)
			}
			if r.stdout.String() != "" {
				t.Errorf("stdout %q: nothing unauthenticated may be shown", r.stdout)
			}
		})
	}
}

func TestDialV42Garbage(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		if res, _, err := lapm.Detect(t.Context(), line, lapm.Answerer); err != nil || res != lapm.DetectLAPM {
			return
		}
		l := newTestLink(line, nil)
		if _, err := l.AcceptXID(t.Context()); err != nil {
			return
		}
		l.RespondXID([]byte("\x01\x02this is no CHALLENGE"))
		io.Copy(io.Discard, line)
	})
	r := startDial(t, map[string]string{envPassword: "x"}, "--user", "alice", "--tofu",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), addr)
	if code := r.wait(t); code != exitProtocol {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitProtocol, r.stderr)
	}
}

// TestDialV42BusyLine: a gateway with no free line (or holding off a
// caller that called again too soon) says BUSY and hangs up before V.42
// detection; dial reports busy (exit 11), over telnet and raw TCP lines,
// not a failed detection, with the reason a gateway gives in a short line
// before BUSY. Other words before the hang-up (words after BUSY, more
// lines, control characters) stay "no carrier". With --v42 lapm (no
// detection) the BUSY reaches LAPM, and is still busy (it was a protocol
// error, exit 14: the adversarial trial); other words are a protocol
// error there.
func TestDialV42BusyLine(t *testing.T) {
	for _, mode := range []string{"detect", "lapm"} {
		t.Run(mode, func(t *testing.T) { testDialV42BusyLine(t, mode) })
	}
}

func testDialV42BusyLine(t *testing.T, mode string) {
	for _, c := range []struct {
		name   string
		telnet bool
		say    string
		want   int
	}{
		{"telnet", true, "BUSY\r\n", exitBusy},
		{"tcp", false, "\r\nBUSY\r\n", exitBusy},
		{"other words", true, "go away\r\n", exitNoCarrier},
		{"busy and more", true, "BUSY\r\nmore", exitNoCarrier},
		{"reason", true, "\r\ngw: all lines busy; try again later\r\nBUSY\r\n", exitBusy},
		{"reason tcp", false, "\r\ngw: redialled too soon; try again in 2 s\r\nBUSY\r\n", exitBusy},
		{"three lines", true, "a\r\nb\r\nc\r\nBUSY\r\n", exitNoCarrier},
		{"control characters", true, "\x1b[2J\r\nBUSY\r\n", exitNoCarrier},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			addr := fakeGateway(t, c.telnet, func(t *testing.T, line *tcp.Line) { line.Write([]byte(c.say)) })
			if !c.telnet {
				addr = strings.Replace(addr, "telnet://", "tcp://", 1)
			}
			if mode == "lapm" && c.want == exitNoCarrier {
				c.want = exitProtocol
			}
			r := startDial(t, map[string]string{envPassword: "x"}, "--user", "alice", "--tofu",
				"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--v42", mode, addr)
			if code := r.wait(t); code != c.want {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.want, r.stderr)
			}
			if c.want == exitBusy && !strings.Contains(r.stderr.String(), "BUSY") {
				t.Errorf("stderr does not say BUSY: %q", r.stderr)
			}
			if why, _ := busyline.Parse([]byte(c.say)); why != "" && !strings.Contains(r.stderr.String(), "BUSY: "+why+"\n") {
				t.Errorf("stderr does not give the gateway's reason %q: %q", why, r.stderr)
			}
		})
	}
}

// textOnlyGateway answers the detection pattern with "E NUL" (no V.42)
// and shows a login prompt.
func textOnlyGateway(t *testing.T, line *tcp.Line) {
	buf := make([]byte, 64)
	if _, err := line.Read(buf); err != nil {
		return
	}
	line.Write([]byte(strings.Repeat("E\x00", 10) + "login: "))
	io.Copy(io.Discard, line)
}

// TestDialDetectFallsBackToText: a gateway answering the ODP with "E NUL"
// (no V.42) gets the text path, and what it sent reaches the terminal.
func TestDialDetectFallsBackToText(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := fakeGateway(t, true, textOnlyGateway)
	r := startDial(t, map[string]string{envPassword: "x"}, "--user", "alice", addr)
	waitFor(t, func() bool { return strings.HasSuffix(r.stdout.String(), "login: ") })
	r.stdin.Close()
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	if !strings.Contains(r.stderr.String(), "no V.42") {
		t.Errorf("no notice of the fallback: %q", r.stderr)
	}
}

// TestDialCredentialsAfterAnswer: without a terminal, missing credentials
// are a usage error (exit 2) only once a V.42 gateway has answered the
// call, before anything reaches its Access Security: no INITIATE, so no
// host key either (an unknown one is neither recorded with --tofu nor
// refused without it, exit 12); a gateway that answers without V.42 gets
// the text login, for which dial needs none.
func TestDialCredentialsAfterAnswer(t *testing.T) {
	withTestLAPM(t)
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no user", nil, []string{"--tofu"}, "no user: the gateway asks for a user ID"},
		{"no password", nil, []string{"--user", "alice", "--tofu"}, "no password"},
		{"no user from env", map[string]string{envPassword: "right"}, []string{"--tofu"}, "no user"},
		{"no password, unknown host without --tofu", nil, []string{"--user", "alice"}, "no password"},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			g := newV42Gateway(t)
			var answered atomic.Int32
			addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
				answered.Add(1)
				g.handle(t, line)
			})
			kh := filepath.Join(t.TempDir(), "kh")
			r := startDial(t, c.env, append(c.args, "--known-hosts", kh, addr)...)
			if code := r.wait(t); code != exitUsage || !strings.Contains(r.stderr.String(), c.want) {
				t.Fatalf("exit %d, want %d and %q; stderr:\n%s", code, exitUsage, c.want, r.stderr)
			}
			if answered.Load() != 1 || g.initiated.Load() != 0 || g.verified.Load() != 0 {
				t.Errorf("calls answered %d, INITIATEs %d, logins checked %d; want 1, 0 and 0", answered.Load(), g.initiated.Load(), g.verified.Load())
			}
			if _, err := os.Stat(kh); !errors.Is(err, os.ErrNotExist) || strings.Contains(r.stderr.String(), "was not known") {
				t.Errorf("the host key was recorded (%v); stderr:\n%s", err, r.stderr)
			}
		})
	}
	t.Run("text login", func(t *testing.T) {
		testutil.CheckGoroutines(t)
		r := startDial(t, nil, fakeGateway(t, true, textOnlyGateway))
		waitFor(t, func() bool { return strings.HasSuffix(r.stdout.String(), "login: ") })
		r.stdin.Close()
		if code := r.wait(t); code != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
		}
	})
}

// TestDialDetectPinnedRefusesText: a gateway whose host key is pinned
// (--fingerprint, or a known-hosts entry) and that answers without V.42
// gets no text login: the answer may come from someone on the path, who
// would read the password typed at its prompt.
func TestDialDetectPinnedRefusesText(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := fakeGateway(t, true, textOnlyGateway)
	fp := auth.Fingerprint(make([]byte, 32))
	known := filepath.Join(t.TempDir(), "known_hosts")
	kh, err := auth.LoadKnownHosts(known)
	if err != nil {
		t.Fatal(err)
	}
	u, err := transport.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := kh.Pin(u.Host, fp); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "known_hosts")
	for name, args := range map[string][]string{
		"fingerprint": {"--known-hosts", empty, "--fingerprint", fp},
		"known-hosts": {"--known-hosts", known},
	} {
		t.Run(name, func(t *testing.T) {
			r := startDial(t, map[string]string{envPassword: "x"}, append(args, "--user", "alice", addr)...)
			if code := r.wait(t); code != exitProtocol || !strings.Contains(r.stderr.String(), "host key is pinned") {
				t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
			}
			if strings.Contains(r.stdout.String(), "login: ") {
				t.Errorf("the impostor's prompt reached the terminal: %q", r.stdout)
			}
		})
	}
}

func TestDialNoLAPMInThisBuild(t *testing.T) {
	testutil.CheckGoroutines(t)
	oldOpen := lapmOpen
	lapmOpen = nil
	t.Cleanup(func() { lapmOpen = oldOpen })
	g := newV42Gateway(t)
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "x"}, "--user", "alice", addr)
	if code := r.wait(t); code != exitProtocol || !strings.Contains(r.stderr.String(), "no LAPM link") {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
}

// TestDialV42Callback: the gateway confirms with a callback, hangs up, and
// callbackd's V42 placer calls --answer; dial proves the ticket (phase vi)
// and the sealed session runs on the callback. A first incoming call from
// an impostor is refused and dial keeps waiting; one that stalls in
// detection (and holds its line) does not keep dial from answering the
// gateway meanwhile (callback trial: dial spent --timeout on it).
func TestDialV42Callback(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	g, answer := newV42CallbackGateway(t)
	placer := testPlacer()
	g.callback = func(t *testing.T, tk *auth.Ticket) {
		ctx := t.Context()
		// A peer rings, goes through V.42 detection and then stays
		// silent on its line: dial waits for its LAPM set-up.
		if stall, err := transport.Dial(ctx, answer); err == nil {
			defer stall.Close()
			if res, _, err := lapm.Detect(ctx, stall, lapm.Originator); err != nil || res != lapm.DetectLAPM {
				t.Errorf("the stalling peer's detection: %v %v", res, err)
			}
		}
		// An impostor rings first with a made-up CALLBACK, and holds
		// its line after the REJECT: dial's side of it lingers on
		// closing while the real callback comes in and wins, and the
		// refusal is told all the same.
		if imp, err := transport.Dial(ctx, answer); err == nil {
			defer imp.Close()
			if res, left, err := lapm.Detect(ctx, imp, lapm.Originator); err == nil && res == lapm.DetectLAPM {
				l := newTestLink(imp, left)
				made := append([]byte{1, byte(auth.TypeCallback)}, bytes.Repeat([]byte{0xde, 0xad}, 45)...)
				resp, err := l.ExchangeXID(ctx, made)
				if err == nil && (len(resp) < 2 || resp[1] != byte(auth.TypeReject)) {
					t.Errorf("dial answered an impostor's CALLBACK with %x, not REJECT", resp)
				}
			}
		}
		placeEchoCallback(t, placer, answer, tk)
	}
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "pw"}, "--user", "bob", "--tofu",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", answer, addr)
	waitFor(t, func() bool { return strings.Contains(r.stderr.String(), "callback answered") })
	r.stdin.Write([]byte("on the callback"))
	waitFor(t, func() bool { return r.stdout.String() == "on the callback" })
	r.stdin.Close()
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	// One refusal, the impostor's; not the stalling peer's, whose
	// answer the win cut short.
	var refused []string
	for _, l := range strings.Split(r.stderr.String(), "\r\n") {
		if strings.Contains(l, "refused an incoming call") {
			refused = append(refused, l)
		}
	}
	if len(refused) != 1 || !strings.Contains(refused[0], "denied") {
		t.Errorf("refusals %q, want the impostor's alone; stderr:\n%s", refused, r.stderr)
	}
}

// TestDialV42CallbackNotPlaceable: a caller with --answer whose account's
// callback the gateway cannot place now (another account's callback to the
// same address is pending) hears that, exit 13, and is not told to dial
// with the --answer it gave (callback trial: the same advice as for a
// call without --answer).
func TestDialV42CallbackNotPlaceable(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	g, answer := newV42CallbackGateway(t)
	g.schedule = func(*auth.Ticket) error {
		return errors.New("a callback to this address is already pending for another user")
	}
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "pw"}, "--user", "bob", "--tofu",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", answer, addr)
	code := r.wait(t)
	msg := r.stderr.String()
	if code != exitNoCarrier || !strings.Contains(msg, "cannot place this account's callback now") || strings.Contains(msg, "dial with --answer") {
		t.Fatalf("exit %d; stderr:\n%s", code, msg)
	}
}

// TestDialV42CallbackTelnetOnTCPAnswer: a callback placed to a telnet://
// address (the gateway opens the telnet negotiation) and answered by dial
// on a tcp:// --answer line is refused saying what to answer with, not
// only "the incoming call has no V.42" (callback trial: three refusals in
// those words, then "no callback within 1m0s").
func TestDialV42CallbackTelnetOnTCPAnswer(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	g, answer := newV42CallbackGateway(t)
	hostPort := strings.TrimPrefix(answer, "telnet://")
	placed := make(chan struct{})
	g.callback = func(t *testing.T, tk *auth.Ticket) {
		defer close(placed)
		line, err := callbackd.DialLine(t.Context(), answer)
		if err != nil {
			t.Errorf("calling back: %v", err)
			return
		}
		defer line.Close()
		if _, err := testPlacer().Place(t.Context(), line, callbackd.Job{Session: tk.Session, User: tk.User.ID, Address: answer, Mode: callbackd.ModeV42, Ticket: tk}); err == nil {
			t.Error("the callback was proved on a tcp:// answer line")
		}
	}
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "pw"}, "--user", "bob", "--tofu", "--answer-timeout", "1s",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", "tcp://"+hostPort, addr)
	<-placed
	r.wait(t)
	if want := "answer with --answer telnet://" + hostPort; !strings.Contains(r.stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
	}
}

// testPlacer places V.42 callbacks over the test LAPM (testLink).
func testPlacer() callbackd.V42 {
	return callbackd.V42{
		Open: func(ctx context.Context, line transport.Line, _ callbackd.Job) (callbackd.V42Link, error) {
			res, left, err := lapm.Detect(ctx, line, lapm.Originator)
			if err != nil || res != lapm.DetectLAPM {
				return nil, fmt.Errorf("callback detection: %v %w", res, err)
			}
			return newTestLink(line, left), nil
		},
		Start: func(ctx context.Context, link callbackd.V42Link, tr auth.Transform) error {
			link.(*testLink).tr = tr
			return nil
		},
	}
}

// placeEchoCallback calls answer back with placer for tk's session, and
// echoes what the callback's caller sends until it hangs up.
func placeEchoCallback(t *testing.T, placer callbackd.V42, answer string, tk *auth.Ticket) {
	t.Helper()
	ctx := t.Context()
	line, err := transport.Dial(ctx, answer)
	if err != nil {
		t.Errorf("calling back: %v", err)
		return
	}
	conn, err := placer.Place(ctx, line, callbackd.Job{Session: tk.Session, User: tk.User.ID, Address: answer, Mode: callbackd.ModeV42, Ticket: tk})
	if err != nil {
		t.Errorf("placing the callback: %v", err)
		line.Close()
		return
	}
	io.Copy(conn, conn)
	conn.Close()
}

// TestDialV42CallbackPastSquatters: peers that fill dial's answering
// slots with silent connections, reopening each one dial hangs up, do not
// keep the gateway's callback out: it takes the place of one in set-up
// for longer than staleAnswer. Regression (security trial): four of them
// made dial refuse the callback until the gateway gave up.
func TestDialV42CallbackPastSquatters(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	defer func(d time.Duration) { staleAnswer = d }(staleAnswer)
	staleAnswer = 200 * time.Millisecond
	g, answer := newV42CallbackGateway(t)
	placer := testPlacer()
	g.callback = func(t *testing.T, tk *auth.Ticket) {
		_, hostPort, _ := strings.Cut(answer, "://")
		var squat []net.Conn
		defer func() {
			for _, c := range squat {
				c.Close()
			}
		}()
		for range maxAnswering {
			c, err := net.Dial("tcp", hostPort)
			if err != nil {
				t.Error(err)
				return
			}
			squat = append(squat, c)
		}
		time.Sleep(2 * staleAnswer) // the squatters are stale now
		placeEchoCallback(t, placer, answer, tk)
	}
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "pw"}, "--user", "bob", "--tofu",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", answer, addr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr:\n%s", r.stderr)
		}
	})
	waitFor(t, func() bool { return strings.Contains(r.stderr.String(), "callback answered") })
	r.stdin.Close()
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	if !strings.Contains(r.stderr.String(), "hung up an incoming call still in set-up") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// TestDialV42CallbackPastFreshSquatters: peers on another address that
// keep dial's answering slots full with calls younger than staleAnswer
// (each sends the detection pattern and is reopened every few seconds)
// do not keep the gateway's callback out: calls from the gateway's
// address have slots of their own. Regression (security review): four
// such connections, reopened every 4 s, made all three of a real
// gateway's callback attempts fail ("no callback within 1m10s").
func TestDialV42CallbackPastFreshSquatters(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	g, answer := newV42CallbackGateway(t)
	placer := testPlacer()
	g.callback = func(t *testing.T, tk *auth.Ticket) {
		var squat []net.Conn
		defer func() {
			for _, c := range squat {
				c.Close()
			}
		}()
		// One more than the slots: the last is refused, so the others
		// are all in set-up (the detection pattern keeps them there).
		for i := range maxAnswering + 1 {
			c, err := callElsewhere(answer)
			if err != nil {
				t.Error(err)
				return
			}
			squat = append(squat, c)
			if _, err := c.Write(bytes.Repeat([]byte{0x11, 0x91}, 20)); err != nil && i < maxAnswering {
				t.Error(err)
				return
			}
		}
		// Until dial hangs it up (after its telnet negotiation).
		io.Copy(io.Discard, squat[maxAnswering])
		placeEchoCallback(t, placer, answer, tk)
	}
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "pw"}, "--user", "bob", "--tofu", "--answer-timeout", "5s",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", answer, addr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr:\n%s", r.stderr)
		}
	})
	waitFor(t, func() bool {
		return strings.Contains(r.stderr.String(), "callback answered") || strings.Contains(r.stderr.String(), "no callback within")
	})
	r.stdin.Close()
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

// TestDialLAPMNoAnswer: with --v42 lapm, a host that never answers LAPM
// ends the call after --timeout with a protocol error (exit 14) that says
// what happened and suggests --text.
func TestDialLAPMNoAnswer(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) { io.Copy(io.Discard, line) })
	r := startDial(t, map[string]string{envPassword: "x"}, "--user", "alice", "--v42", "lapm", "--timeout", "300ms",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), addr)
	if code := r.wait(t); code != exitProtocol {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitProtocol, r.stderr)
	}
	if want := "no LAPM answer within --timeout 300ms"; !strings.Contains(r.stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
}

// TestDialLAPMTextAnswer: with --v42 lapm, a listener without V.42 (v42
// = "off") hangs up on the LAPM frames, which its login prompt takes for
// Ctrl-C, before or after its banner. dial says so and what to call with (power-user trial: "protocol error: LAPM:
// lapm: open (originator): lapm: link failure: line: EOF", 56 ms after
// dialling).
func TestDialLAPMTextAnswer(t *testing.T) {
	testutil.CheckGoroutines(t)
	var withBanner atomic.Bool // set before each call, read by the gateway
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		if withBanner.Load() {
			line.Write([]byte("\r\ngw: session 1\r\nlogin: "))
		}
		line.Read(make([]byte, 64)) // the first frame: "Ctrl-C", hang up
		if withBanner.Load() {
			// What the gateway's prompt echoes of it, and its words.
			line.Write([]byte("~~~~~~~~~~\r\nNO CARRIER (login cancelled)\r\n"))
		}
	})
	for _, banner := range []bool{false, true} {
		withBanner.Store(banner)
		r := startDial(t, map[string]string{envPassword: "x"}, "--user", "alice", "--v42", "lapm",
			"--known-hosts", filepath.Join(t.TempDir(), "kh"), addr)
		if code := r.wait(t); code != exitProtocol {
			t.Fatalf("banner %v: exit %d, want %d; stderr:\n%s", banner, code, exitProtocol, r.stderr)
		}
		want := "hung up on the LAPM frames: "
		if banner {
			want = "hung up on the LAPM frames (NO CARRIER (login cancelled)): "
		}
		if !strings.Contains(r.stderr.String(), want) || !strings.Contains(r.stderr.String(), "without --v42 lapm") {
			t.Errorf("banner %v: stderr %q lacks %q and what to do", banner, r.stderr, want)
		}
	}
}

// TestDialLAPMOtherHangupNotText: a gateway that hangs up with other
// words (shutting down, holding the caller off) while dial sends LAPM is
// not taken for a text login that read the frames as Ctrl-C. Review: it
// got the advice to call without --v42 lapm.
func TestDialLAPMOtherHangupNotText(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) {
		line.Write([]byte("\r\nNO CARRIER (the gateway is shutting down)\r\n"))
	})
	r := startDial(t, map[string]string{envPassword: "x"}, "--user", "alice", "--v42", "lapm",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), addr)
	if code := r.wait(t); code != exitProtocol {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitProtocol, r.stderr)
	}
	if strings.Contains(r.stderr.String(), "without --v42 lapm") {
		t.Errorf("stderr %q advises calling without LAPM", r.stderr)
	}
}

// xidFailLink is a testLink whose second XID exchange (RESPONSE, after
// INITIATE/CHALLENGE) fails as lapm's does when the gateway stops
// answering: N400 tries without an answer.
type xidFailLink struct {
	*testLink
	exchanges int
}

func (l *xidFailLink) ExchangeXID(ctx context.Context, p []byte) ([]byte, error) {
	if l.exchanges++; l.exchanges == 2 {
		return nil, fmt.Errorf("%w: no answer to XID after 11 tries", lapm.ErrLinkFailure)
	}
	return l.testLink.ExchangeXID(ctx, p)
}

// TestDialV42XIDTimeout: the link failing during Access Security (no
// answer to XID after its retries) is a V.42 / Access Security failure,
// exit 14, not a local failure (tcpser trial: "auth: sending RESPONSE:
// ... no answer to XID after 11 tries" exited 1).
func TestDialV42XIDTimeout(t *testing.T) {
	withTestLAPM(t)
	lapmOpen = func(ctx context.Context, line transport.Line, leftover []byte, role lapm.Role) (v42Link, error) {
		return &xidFailLink{testLink: newTestLink(line, leftover)}, nil
	}
	testutil.CheckGoroutines(t)
	g := newV42Gateway(t)
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "right"}, "--user", "alice", "--tofu",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), addr)
	if code := r.wait(t); code != exitProtocol {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitProtocol, r.stderr)
	}
	if want := "no answer to XID after 11 tries"; !strings.Contains(r.stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
}

// TestDialCallbackWaitEndsWithTicket: dial waits for a V.42 callback no
// longer than its ticket lives (the gateway refuses a callback after
// that), not the whole --answer-timeout (callback trial: dial waited
// 3 minutes for a callback the gateway had given up on after 60 s).
func TestDialCallbackWaitEndsWithTicket(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	g, answer := newV42CallbackGateway(t)
	g.ttl = 2 * time.Second
	// The gateway never calls back; a peer rings, goes through
	// detection and stays silent until after the wait: a call cut short
	// by the end of the wait is not told as refused.
	g.callback = func(t *testing.T, _ *auth.Ticket) {
		if stall, err := transport.Dial(t.Context(), answer); err == nil {
			defer stall.Close()
			if res, _, err := lapm.Detect(t.Context(), stall, lapm.Originator); err != nil || res != lapm.DetectLAPM {
				t.Errorf("the stalling peer's detection: %v %v", res, err)
			}
			select {
			case <-t.Context().Done():
			case <-time.After(3 * time.Second):
			}
		}
	}
	addr := fakeGateway(t, true, g.handle)
	start := time.Now()
	r := startDial(t, map[string]string{envPassword: "pw"}, "--user", "bob", "--tofu",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", answer, addr)
	if code := r.wait(t); code != exitNoCarrier || !strings.Contains(r.stderr.String(), "no callback within 2s") {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
	}
	if strings.Contains(r.stderr.String(), "refused an incoming call") {
		t.Errorf("a call still being answered when the wait ended was told as refused:\n%s", r.stderr)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("dial waited %v", d)
	}
}

// newV42CallbackGateway is a V.42 gateway whose every user has a callback
// to answer, a free local address for dial --answer.
func newV42CallbackGateway(t *testing.T) (g *v42Gateway, answer string) {
	t.Helper()
	answer = freeAddr(t)
	g = newV42Gateway(t)
	g.verify = func(user, pw string) (auth.User, error) {
		return auth.User{ID: user, Callback: answer}, nil
	}
	return g, answer
}
