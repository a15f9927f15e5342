package bridge

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// synDropAddr is a TCP address that takes no connection: a socket that
// listens with a full backlog and never accepts, so the kernel drops
// further SYNs and a dial waits for its timeout (a backend host that is
// down, or overloaded).
func synDropAddr(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	// Fill the queue until a dial times out.
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the listen queue never filled here")
	return ""
}

// TestCallerGoneWhileDialling: a caller that hangs up while its backend
// is being dialled (the backend's host drops SYNs) gives its line back
// at once and is recorded abandoned, not backend-down after the
// backend's connect_timeout. Operator trial: every caller who gave up
// during a backend outage held a line for the whole timeout.
func TestCallerGoneWhileDialling(t *testing.T) {
	testutil.CheckGoroutines(t)
	defer func(d time.Duration) { dialCheck = d }(dialCheck)
	dialCheck = 20 * time.Millisecond
	c := testConfig(t, config.Backend{Name: "hole", Type: config.BackendTCP, Address: config.HostPort(synDropAddr(t)),
		ConnectTimeout: config.Duration{Duration: 30 * time.Second}})
	c.StateDir = t.TempDir()
	c.Listeners[0].Address = "telnet://127.0.0.1:0"
	c.Listeners[0].TextLogin = config.TextLoginAllow
	g, err := Start(context.Background(), c, StartOptions{Verifier: &fakeVerifier{users: map[string]string{"alice": "secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.Addr("test"), "telnet://"))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	login(t, conn, "alice", "secret")
	connecting := func() bool {
		calls := g.Calls()
		return len(calls) == 1 && calls[0].Phase == PhaseConnecting
	}
	for deadline := time.Now().Add(10 * time.Second); !connecting(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call never reached the backend's dial")
		}
	}
	// A half-close (a script whose input ended) is not a hang-up: the
	// caller still reads, and answers the gateway's IAC NOP.
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * dialCheck)
	if !connecting() {
		t.Fatalf("a caller that half-closed was cut off: %+v, records %+v", g.Calls(), records(t, g.Store))
	}
	hungUp := time.Now()
	conn.Close()
	recs := waitRecords(t, g.Store, 1)
	if len(recs) != 1 || recs[0].Result != store.ResultAbandoned || recs[0].Reason != reasonGoneWhileDialling || recs[0].User != "alice" {
		t.Fatalf("records: %+v", recs)
	}
	if d := time.Since(hungUp); d > 10*time.Second {
		t.Errorf("the line was held %v after the hang-up", d)
	}
}
