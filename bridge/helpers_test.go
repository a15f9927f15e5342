package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// fakeVerifier accepts the passwords in its map.
type fakeVerifier struct {
	mu       sync.Mutex
	users    map[string]string
	accounts map[string]Account
	busy     bool
}

func (v *fakeVerifier) Verify(ctx context.Context, user, password, source string) (Account, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.busy {
		return Account{}, fmt.Errorf("fake: %w", ErrThrottled)
	}
	if pw, ok := v.users[user]; !ok || pw != password {
		return Account{}, fmt.Errorf("fake: %w", ErrDenied)
	}
	a := v.accounts[user]
	a.Name = user
	return a, nil
}

// testConfig is a configuration with one listener "test" (text only) and
// the given backends, default backend first.
func testConfig(t testing.TB, backends ...config.Backend) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("[lines]\nholdoff = \"0s\"\nmax_concurrent = 4\n[security]\nhandshake_deadline = \"10s\"\n")
	b.WriteString("[[listener]]\nname = \"test\"\naddress = \"tcp://127.0.0.1:1\"\nv42 = \"off\"\n")
	c, err := config.Parse("test.toml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, be := range backends {
		if be.ConnectTimeout.Duration == 0 {
			be.ConnectTimeout.Duration = 5 * time.Second
		}
		if be.Term == "" {
			be.Term = "vt100"
		}
		c.Backends = append(c.Backends, be)
	}
	if len(backends) > 0 {
		c.Listeners[0].Backend = backends[0].Name
	}
	return c
}

// newTestServer builds a server over a fresh store.
func newTestServer(t testing.TB, c *config.Config, v Verifier) (*Server, *store.File) {
	t.Helper()
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Options{Config: c, Store: st, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

// simCall starts one call over an in-memory line pair and returns the
// caller's end and a channel closed when the gateway has recorded it.
func simCall(t testing.TB, s *Server) (transport.Line, <-chan struct{}) {
	t.Helper()
	return simLine(t, s, linesim.Config{Seed: 1, Name: "sim"})
}

// simLine is simCall over a line pair made with cfg.
func simLine(t testing.TB, s *Server, cfg linesim.Config) (transport.Line, <-chan struct{}) {
	t.Helper()
	a, b := linesim.NewPair(cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.HandleLine("test", b); err != nil {
			t.Error(err)
		}
	}()
	return a, done
}

// expect reads from r until want has been seen, returning everything read.
func expect(t testing.TB, r io.Reader, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Contains(got, []byte(want)) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q; got %q", want, got)
		}
		if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
			_ = d.SetReadDeadline(deadline)
		}
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if bytes.Contains(got, []byte(want)) {
				break
			}
			t.Fatalf("read error %v waiting for %q; got %q", err, want, got)
		}
	}
	return string(got)
}

// login answers the text-login prompts.
func login(t testing.TB, rw io.ReadWriter, user, pw string) {
	t.Helper()
	expect(t, rw, "login: ")
	io.WriteString(rw, user+"\r\n")
	expect(t, rw, "password: ")
	io.WriteString(rw, pw+"\r\n")
}

// readAll reads until EOF or error.
func readAll(r io.Reader) string {
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.EOF) && len(b) == 0 {
		return ""
	}
	return string(b)
}

// echoServer is a TCP backend that echoes, or runs handle on each
// connection.
func tcpBackendServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func echoHandler(c net.Conn) { io.Copy(c, c) }

// floodHandler sends output until the gateway stops taking it (its writes
// to the caller block), then until the close.
func floodHandler(c net.Conn) {
	chunk := make([]byte, 32<<10)
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// waitRecords waits (up to 10 s) until st holds n call records and
// returns them. A call writes its record as it finishes, after it gave
// its line slot back (a call that never reached a backend gives it back
// before its line's close waits for the caller), so ActiveCalls() == 0
// does not mean the records are written.
func waitRecords(t testing.TB, st *store.File, n int) []store.CallRecord {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if recs := records(t, st); len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
	}
}

func records(t testing.TB, st *store.File) []store.CallRecord {
	t.Helper()
	recs, err := store.ReadRecordsFile(st.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// defaultCipher is the data cipher of a call whose two ends both run
// auth.CipherAuto on this machine.
func defaultCipher() auth.DataCipher {
	if auth.AESHardware() {
		return auth.CipherAESGCM
	}
	return auth.CipherChaChaPoly
}
