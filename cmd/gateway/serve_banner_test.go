package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dialgate/dialgate/transport/tcp"
)

// TestServeBannerFile: a listener's banner_file is shown to a telnet
// caller after the session line, before the login prompt, its new lines
// as CR LF and its octets as they are (an ANSI colour, a CP437 block
// 0xDB, 0xFF doubled on the telnet line); an edited banner applies to
// the next caller after a reload.
func TestServeBannerFile(t *testing.T) {
	g := newGatewayNoStart(t, gwOpts{})
	banner := filepath.Join(g.dir, "banner.ans")
	if err := os.WriteFile(banner, []byte("\x1b[1;34mExample BBS\x1b[0m \xdb\xff\nGuests: see the board\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.setListener("banner_file", `"banner.ans"`) // relative to the configuration file
	g.start()

	// dialgate's telnet client: the octets as sent, 0xFF undoubled.
	line, err := tcp.Dial(context.Background(), g.addr, tcp.Options{Telnet: true, TermType: "vt100"})
	if err != nil {
		t.Fatal(err)
	}
	got := readUntilOn(t, line, "login: ")
	// The session line first: gateway dial knows a dialgate gateway by
	// it (gatewayBanner).
	if !gatewayBanner.MatchString(got) || !strings.HasSuffix(got, "\r\n\x1b[1;34mExample BBS\x1b[0m \xdb\xff\r\nGuests: see the board\r\nlogin: ") {
		t.Fatalf("before the prompt: %q, want the session line, then the banner", got)
	}
	line.Close()

	if err := os.WriteFile(banner, []byte("Closed for maintenance on Sunday"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	s := telnetTo(t, g.addr)
	s.expect("testgw: session ")
	s.expect("\r\nClosed for maintenance on Sunday\r\n")
	s.login("alice", "pw-alice")
	s.expect("hello alice")
}
