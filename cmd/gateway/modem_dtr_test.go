//go:build linux

package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/testutil"
)

// floodBackend is a loopback TCP server that sends floodPattern without
// pause to every caller until the caller hangs up; ended gets one value
// per call when it did (the caller's FIN arrived).
type floodBackend struct {
	addr  string
	ended chan struct{}
}

const floodPattern = "FLOOD-0123456789-"

func startFlood(t *testing.T) *floodBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &floodBackend{addr: ln.Addr().String(), ended: make(chan struct{}, 10)}
	chunk := bytes.Repeat([]byte(floodPattern), 256)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				// The caller's hang-up (its FIN) ends the call.
				io.Copy(io.Discard, c)
				c.Close()
				f.ended <- struct{}{}
			})
			wg.Go(func() {
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return f
}

// readUntil reads the DTE until it has seen s (the DTE reads only when
// told to: the flood tests need a DTE that stops).
func readUntil(t *testing.T, m *modemUnderTest, f *os.File, s string) {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(15 * time.Second)
	for !bytes.Contains(got, []byte(s)) {
		f.SetReadDeadline(deadline)
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("DTE waiting for %q: %v; got %q; log:\n%s", s, err, tail(string(got), 200), tail(m.log.String(), 3000))
		}
	}
}

// floodThenClose dials number through the modem's pty, lets the call
// flood the DTE, which stops reading, until the pty and the modem's
// buffers are full, and closes the pty (DTR drop). It returns when the
// modem has hung up (the backend saw the hang-up), failing after bound.
func floodThenClose(t *testing.T, m *modemUnderTest, number, connect string, ended <-chan struct{}, bound time.Duration) {
	t.Helper()
	dte := openDTEFile(t, m.link)
	send(t, dte, "ATE0\r")
	readUntil(t, m, dte, "OK\r\n")
	send(t, dte, "ATDT"+number+"\r")
	readUntil(t, m, dte, connect)
	readUntil(t, m, dte, floodPattern)
	// Nobody reads: the pty fills, then the modem's queue, then the
	// modem blocks writing to the DTE.
	time.Sleep(time.Second)
	dte.Close()
	select {
	case <-ended:
	case <-time.After(bound):
		drainStuck(m)
		t.Fatalf("the modem did not hang up within %v of the DTR drop; log:\n%s", bound, tail(m.log.String(), 2000))
	}
	if !strings.Contains(m.log.String(), "DTE dropped DTR") {
		t.Fatal("no DTR drop logged")
	}
}

// drainStuck reads the pty for a while so that a modem stuck writing to
// it can end when the test does (the test has failed already).
func drainStuck(m *modemUnderTest) {
	fd, err := unix.Open(m.link, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	go func() {
		defer unix.Close(fd)
		buf := make([]byte, 4096)
		end := time.Now().Add(30 * time.Second)
		for time.Now().Before(end) {
			if _, err := unix.Read(fd, buf); err != nil {
				return
			}
		}
	}()
}

// expectFresh opens the pty again as a new DTE session: the first thing
// it reads is the answer to its own command (echo is off since ATE0),
// none of the old call's data.
func expectFresh(t *testing.T, m *modemUnderTest) {
	t.Helper()
	dte := openDTEFile(t, m.link)
	defer dte.Close()
	send(t, dte, "AT\r")
	var got []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Contains(got, []byte("OK\r\n")) {
		dte.SetReadDeadline(deadline)
		n, err := dte.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("new DTE session: %v; got %q; log:\n%s", err, tail(string(got), 300), tail(m.log.String(), 2000))
		}
	}
	// Anything late would come now.
	dte.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, _ := dte.Read(buf)
	got = append(got, buf[:n]...)
	if s := string(got); strings.Contains(s, "FLOOD") || !strings.HasPrefix(s, "\r\nOK\r\n") {
		t.Fatalf("the new DTE session got %q (old call data?)", tail(s, 300))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestModemDTRDropDuringFlood: a DTE that stops reading while the call
// floods it, then closes the pty, is a DTR drop like any other: the modem
// hangs up (&D2) within a bounded time, although its output to the DTE is
// stuck, and the next DTE session sees none of the old call's data.
func TestModemDTRDropDuringFlood(t *testing.T) {
	testutil.CheckGoroutines(t)
	fl := startFlood(t)
	book := filepath.Join(t.TempDir(), "phonebook.toml")
	if err := os.WriteFile(book, []byte("[[entry]]\nname = \"flood\"\naddress = \""+fl.addr+"\"\nmode = \"plain\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book})
	for range 2 {
		floodThenClose(t, m, "flood", "CONNECT 115200\r\n", fl.ended, 5*time.Second)
		expectFresh(t, m)
	}
}

// TestE2EModemDTRDropDuringFlood: the same through the real daemon
// (`gateway serve`, built binary) over V.42 LAPM with Access Security, the
// flood coming from the user's backend: the DTR drop hangs up the sealed
// call at once (DISC), and the gateway records the call without waiting
// for the next DTE.
func TestE2EModemDTRDropDuringFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	testutil.CheckGoroutines(t)
	fl := startFlood(t)
	g := newGateway(t, gwOpts{echoAddr: fl.addr, v42: "detect"})
	dir := t.TempDir()
	book := filepath.Join(dir, "phonebook.toml")
	if err := os.WriteFile(book, []byte("[[entry]]\nname = \"gw\"\naddress = \"telnet://"+g.addr+"\"\nuser = \"bob\"\npassword = \"pw-bob\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book, tofu: true, knownHosts: filepath.Join(dir, "known_hosts"), timeout: 20 * time.Second})
	floodThenClose(t, m, "gw", "CONNECT 115200/LAPM\r\n", fl.ended, 10*time.Second)
	// The modem hung up with DISC: a hang-up, whether it ended the
	// gateway's reads ("caller hung up") or one of its writes ("caller
	// hung up (… DISC received …)"), and recorded at once, not when the
	// pty was opened again as in the bug.
	recs := g.waitRecords(1)
	if r := recs[0]; r.User != "bob" || !strings.HasPrefix(r.Reason, "caller hung up") {
		t.Errorf("call record: user %q result %q reason %q", r.User, r.Result, r.Reason)
	}
	expectFresh(t, m)
}
