package v42caller

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/busyline"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
)

// pair joins two Lines back to back, as a WebSocket joins the browser and
// the gateway.
func pair() (caller, gateway *Line) {
	var c, g *Line
	c = NewLine(func(p []byte) error { return g.Feed(p) }, func() { g.PeerHungUp() }, transport.LineInfo{Transport: "pipe"})
	g = NewLine(func(p []byte) error { return c.Feed(p) }, func() { c.PeerHungUp() }, transport.LineInfo{Transport: "pipe"})
	return c, g
}

type testGateway struct {
	key      auth.HostKey
	verified atomic.Int32
	done     chan error
}

// answer runs a test gateway on line: detection, LAPM, Access Security
// with user alice / password "pw", then an echo of the data phase.
func (tg *testGateway) answer(ctx context.Context, line *Line) {
	tg.done <- func() error {
		defer line.Close()
		res, left, err := lapm.Detect(ctx, line, lapm.Answerer)
		if err != nil {
			return err
		}
		if res != lapm.DetectLAPM {
			return errors.New("caller sent no ODP")
		}
		link, err := lapm.Open(ctx, line, left, lapm.Config{Role: lapm.Answerer})
		if err != nil {
			return err
		}
		defer link.Close()
		first, err := link.AcceptXID(ctx)
		if err != nil {
			return err
		}
		ar, err := auth.Answer(ctx, link, first, auth.AnswererConfig{
			HostKey: tg.key, Name: "test gateway",
			Verify: func(_ context.Context, user, pw string) (auth.User, error) {
				tg.verified.Add(1)
				if user == "alice" && subtle.ConstantTimeCompare([]byte(pw), []byte("pw")) == 1 {
					return auth.User{ID: user}, nil
				}
				return auth.User{}, auth.ErrDenied
			},
			AllocateSession: func() (uint64, error) { return 42, nil },
		})
		if err != nil {
			return err
		}
		link.SetTransform(ar.Transform)
		if err := link.Establish(ctx); err != nil {
			return err
		}
		_, err = io.Copy(link, link)
		return err
	}()
}

func startGateway(t *testing.T, ctx context.Context) (*testGateway, *Line) {
	t.Helper()
	key, err := auth.GenerateHostKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, g := pair()
	tg := &testGateway{key: key, done: make(chan error, 1)}
	go tg.answer(ctx, g)
	return tg, c
}

func TestCallEcho(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tg, line := startGateway(t, ctx)
	var seen []byte
	s, err := Call(ctx, line, Config{UserID: "alice", Password: []byte("pw"), Host: "test:1",
		CheckHostKey: func(pub []byte) error { seen = pub; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(seen, tg.key.Public) || !bytes.Equal(s.HostKey, tg.key.Public) {
		t.Errorf("host key checked %x, session %x, want %x", seen, s.HostKey, tg.key.Public)
	}
	if s.SessionNumber != 42 || s.GatewayName != "test gateway" {
		t.Errorf("session %d gateway %q", s.SessionNumber, s.GatewayName)
	}
	msg := bytes.Repeat([]byte("hello, V.42 from the browser\r\n"), 100)
	go func() { _, _ = s.Link.Write(msg) }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(s.Link, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
	s.Link.Close()
	if err := <-tg.done; err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, lapm.ErrClosed) {
		t.Logf("gateway ended: %v", err)
	}
}

func TestHostKeyRejectedBeforePassword(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tg, line := startGateway(t, ctx)
	errChanged := errors.New("host key changed")
	_, err := Call(ctx, line, Config{UserID: "alice", Password: []byte("pw"), Host: "test:1",
		CheckHostKey: func([]byte) error { return errChanged }})
	if !errors.Is(err, errChanged) {
		t.Fatalf("Call = %v, want the host key error", err)
	}
	<-tg.done
	if n := tg.verified.Load(); n != 0 {
		t.Fatalf("the gateway verified %d passwords after the host key was refused", n)
	}
}

func TestDenied(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tg, line := startGateway(t, ctx)
	_, err := Call(ctx, line, Config{UserID: "alice", Password: []byte("wrong"), Host: "test:1",
		CheckHostKey: func([]byte) error { return nil }})
	if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonDenied {
		t.Fatalf("Call = %v, want REJECT denied", err)
	}
	<-tg.done
}

// TestPasswordWiped: Call zeroes the password it was given, after a
// session is up and after a refused login alike.
func TestPasswordWiped(t *testing.T) {
	for _, pw := range []string{"pw", "wrong"} {
		t.Run(pw, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tg, line := startGateway(t, ctx)
			secret := []byte(pw)
			s, err := Call(ctx, line, Config{UserID: "alice", Password: secret, Host: "test:1",
				CheckHostKey: func([]byte) error { return nil }})
			if (err == nil) != (pw == "pw") {
				t.Fatalf("Call = %v", err)
			}
			if !bytes.Equal(secret, make([]byte, len(pw))) {
				t.Errorf("password after Call: %q, want zeroes", secret)
			}
			if s != nil {
				s.Link.Close()
			}
			<-tg.done
		})
	}
}

func TestNoV42(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, g := pair()
	defer g.Close()
	go func() { _, _ = io.Copy(io.Discard, g) }() // a text-only gateway: silent until T400
	_, err := Call(ctx, c, Config{UserID: "alice", Password: []byte("pw"), CheckHostKey: func([]byte) error { return nil }})
	if !errors.Is(err, ErrNoV42) {
		t.Fatalf("Call = %v, want ErrNoV42", err)
	}
}

func TestCheckHostKeyRequired(t *testing.T) {
	c, g := pair()
	defer g.Close()
	if _, err := Call(context.Background(), c, Config{}); err == nil {
		t.Fatal("Call without CheckHostKey succeeded")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, transport.ErrHungUp) {
		t.Fatalf("line not closed: %v", err)
	}
}

// TestBusy: a gateway with no free line says BUSY in plain text and hangs
// up before any V.42 (bridge), alone or after a short line saying why;
// Call reports a *BusyError (ErrBusy) with the reason, with or without
// detection. Other last words before a hang-up are not BUSY: more than
// two lines before it, a long or non-printable line, or too much in all
// (the bounds of internal/busyline).
func TestBusy(t *testing.T) {
	long := strings.Repeat("x", busyline.MaxLineLen)
	for _, c := range []struct {
		name, said   string
		detect       bool
		busy, noLink bool
		reason, hint string
	}{
		{"LAPM at once", "BUSY\r\n", false, true, false, "", ""},
		{"detection", "BUSY\r\n", true, true, false, "", ""},
		{"reason, LAPM at once", "\r\ndialgate: redialled too soon; try again in 2 s\r\nBUSY\r\n", false, true, false,
			"dialgate: redialled too soon; try again in 2 s", "redialled too soon; try again in 2 s"},
		{"reason, detection", "\r\ngw: all lines busy; try again later\r\nBUSY\r\n", true, true, false,
			"gw: all lines busy; try again later", "all lines busy; try again later"},
		{"two reason lines", "one\r\n\r\ntwo\r\nBUSY\r\n", false, true, false, "one two", "one two"},
		{"longest reason line", long + "\r\nBUSY\r\n", false, true, false, long, long},
		// A listener with v42 = "off" answers LAPM with its text login.
		{"banner then hang-up", "login: ", false, false, true, "", ""},
		{"BUSY in a longer text", "BUSY signal\r\n", false, false, true, "", ""},
		{"BUSY after other text", "hello\r\nBUSY\r\n", true, true, false, "hello", "hello"},
		{"three lines before BUSY", "a\r\nb\r\nc\r\nBUSY\r\n", true, false, false, "", ""},
		{"reason line too long", long + "x\r\nBUSY\r\n", false, false, true, "", ""},
		{"escape in the reason", "\x1b[2Jgw: busy\r\nBUSY\r\n", false, false, true, "", ""},
		{"UTF-8 in the reason", "gw: caf\xc3\xa9\r\nBUSY\r\n", false, false, true, "", ""},
		{"words after BUSY", "BUSY\r\nmore", false, false, true, "", ""},
		{"too much in all", strings.Repeat(" ", busyline.MaxHeard) + "BUSY", false, false, true, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// As in the page, octets sent after the gateway hung up are
			// dropped without an error (a closing WebSocket's send).
			var line, g *Line
			line = NewLine(func(p []byte) error { _ = g.Feed(p); return nil }, func() { g.PeerHungUp() }, transport.LineInfo{Transport: "pipe"})
			g = NewLine(func(p []byte) error { return line.Feed(p) }, func() { line.PeerHungUp() }, transport.LineInfo{Transport: "pipe"})
			go func() {
				_, _ = g.Write([]byte(c.said))
				g.Close()
			}()
			_, err := Call(ctx, line, Config{UserID: "alice", Password: []byte("pw"), Host: "test:1", SkipDetection: !c.detect,
				CheckHostKey: func([]byte) error { return nil }})
			if err == nil {
				t.Fatal("Call succeeded")
			}
			if errors.Is(err, ErrBusy) != c.busy {
				t.Fatalf("Call = %v; want busy %v", err, c.busy)
			}
			if c.busy {
				var be *BusyError
				if !errors.As(err, &be) || be.Reason != c.reason || be.Hint() != c.hint {
					t.Fatalf("Call = %v; want a BusyError with reason %q, hint %q", err, c.reason, c.hint)
				}
				if be.Err == nil || errors.Is(be.Err, ErrBusy) {
					t.Fatalf("BusyError wraps %v, want the call's failure", be.Err)
				}
			}
			if !c.busy && errors.Is(err, ErrNoLink) != c.noLink {
				t.Fatalf("Call = %v; want ErrNoLink %v", err, c.noLink)
			}
		})
	}
}

// FuzzBusyHint: the reason of every BUSY busyline.Parse accepts from
// arbitrary gateway output (untrusted) gives a Hint that is a suffix of
// it (what the page's status line shows), and not empty unless the
// reason is. Parse's own bounds are fuzzed in internal/busyline.
func FuzzBusyHint(f *testing.F) {
	f.Add([]byte("\r\ndialgate: all lines busy; try again later\r\nBUSY\r\n"))
	f.Add([]byte("a: \r\nBUSY\r\n"))
	f.Add([]byte(": x\r\nBUSY"))
	f.Fuzz(func(t *testing.T, heard []byte) {
		why, ok := busyline.Parse(heard)
		if !ok {
			return
		}
		if h := (&BusyError{Reason: why}).Hint(); !strings.HasSuffix(why, h) || (why != "" && h == "") {
			t.Fatalf("hint %q of reason %q", h, why)
		}
	})
}

// TestEndDetail: the gateway's release leaves the reason to its NO
// CARRIER words; a failed link or a dropped line says so (browser trial:
// a bare "hung up").
func TestEndDetail(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{io.EOF, ""},
		{fmt.Errorf("lapm: %w: no answer to 10 polls", lapm.ErrLinkFailure), "the V.42 link failed"},
		{fmt.Errorf("lapm: line: %w", io.ErrUnexpectedEOF), "the line dropped"},
		{fmt.Errorf("lapm: read: %w", lapm.ErrClosed), "you hung up"},
		{fmt.Errorf("lapm: read: %w: auth: authentication failed", lapm.ErrPayloadRefused), "a payload from the gateway did not authenticate"},
	} {
		if got := EndDetail(c.err); !strings.HasPrefix(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("EndDetail(%v) = %q, want %q...", c.err, got, c.want)
		}
	}
}
