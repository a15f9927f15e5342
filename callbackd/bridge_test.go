package callbackd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/bridge"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

// oneUser is a bridge.Verifier with one account, which has a callback.
type oneUser struct{ name, pw, callback string }

func (v oneUser) Verify(ctx context.Context, user, password, source string) (bridge.Account, error) {
	if user != v.name || password != v.pw {
		return bridge.Account{}, fmt.Errorf("test: %w", bridge.ErrDenied)
	}
	return bridge.Account{Name: user, Callback: v.callback}, nil
}

// expectText reads r until want appears (bounded by the line's deadline).
func expectText(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 512)
	if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
		d.SetReadDeadline(time.Now().Add(20 * time.Second))
		defer d.SetReadDeadline(time.Time{})
	}
	for !bytes.Contains(got, []byte(want)) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil && !bytes.Contains(got, []byte(want)) {
			t.Fatalf("waiting for %q: %v; got %q", want, err, got)
		}
	}
	return string(got)
}

// TestTextCallbackThroughBridge runs the whole text-mode callback in
// process: a text login on the bridge for a user with a callback address,
// the bridge hangs up and hands the call to the Service, the Service
// dials the address on a simulated network, the person there confirms,
// and the bridge connects the callback to an echo backend and records it
// under the original session number.
func TestTextCallbackThroughBridge(t *testing.T) {
	testutil.CheckGoroutines(t)
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ewg sync.WaitGroup
	ewg.Go(func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			ewg.Go(func() { io.Copy(c, c); c.Close() })
		}
	})
	defer ewg.Wait()
	defer echo.Close()

	cfg, err := config.Parse("test.toml", []byte("[lines]\nholdoff = \"0s\"\n[[listener]]\nname = \"test\"\naddress = \"tcp://127.0.0.1:1\"\nv42 = \"off\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Backends = append(cfg.Backends, config.Backend{Name: "echo", Type: config.BackendTCP,
		Address: config.HostPort(echo.Addr().String()), ConnectTimeout: config.Duration{Duration: 5 * time.Second}, Term: "vt100"})
	cfg.Listeners[0].Backend = "echo"
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := bridge.New(bridge.Options{Config: cfg, Store: st, Verifier: oneUser{"alice", "pw", "sim://alice-home"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	simnet := linesim.NewNetwork()
	rec := &records{}
	svc, err := New(Options{
		Config: Config{Delay: 10 * time.Millisecond, Expiry: time.Minute},
		Dial:   simnet.Dial, Recorder: rec,
		Place: Modes{Text: TextConfirm{Name: "testgw"}},
		Handoff: func(ctx context.Context, job Job, s Session) {
			err := srv.BridgeCallback(bridge.CallbackSession{Request: job.Data.(bridge.CallbackRequest), Line: s.Line, Link: s.Conn, Attempts: s.Attempts})
			if err != nil {
				t.Errorf("BridgeCallback: %v", err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	srv.SetCallback(func(ctx context.Context, req bridge.CallbackRequest) error {
		return svc.Schedule(Job{Session: req.Session, User: req.Account.Name, Address: req.Account.Callback,
			Mode: ModeText, Listener: req.Listener, Remote: req.Remote, Data: req})
	})

	home, err := simnet.Listen("alice-home")
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()

	// The first call: text login, then the gateway hangs up.
	a, b := linesim.NewPair(linesim.Config{Seed: 1, Name: "first"})
	first := make(chan error, 1)
	go func() { first <- srv.HandleLine("test", b) }()
	expectText(t, a, "login: ")
	io.WriteString(a, "alice\r\n")
	expectText(t, a, "assword: ")
	io.WriteString(a, "pw\r\n")
	if got := expectText(t, a, "NO CARRIER"); !strings.Contains(got, "called back") {
		t.Errorf("first call ended with %q", got)
	}
	a.Close()
	if err := <-first; err != nil {
		t.Fatal(err)
	}

	// The callback rings at home.
	line, err := home.Accept(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	expectText(t, line, "Type your user name to accept: ")
	io.WriteString(line, "alice\r\nping")
	expectText(t, line, "ping")
	line.Close()
	svc.Close() // waits for the Handoff, that is for the bridged session

	recs := rec.all()
	checkAttempts(t, recs, Connected)
	sessions, err := store.ReadRecordsFile(st.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 2 || sessions[0].Result != store.ResultCallback || sessions[1].Mode != "callback" ||
		sessions[1].Session != sessions[0].Session || sessions[1].CallbackAttempts != 1 || sessions[1].Result != store.ResultCompleted {
		t.Errorf("call records: %+v", sessions)
	}
}
