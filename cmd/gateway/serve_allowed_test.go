package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/dialgate/dialgate/internal/store"
)

// TestServeAllowedSources: a listener with allowed_sources hangs up on a
// caller from elsewhere with a line saying why, before any login and
// without a line slot, and records it refused; a reload that lists the
// caller's address lets it in.
func TestServeAllowedSources(t *testing.T) {
	g := newGatewayNoStart(t, gwOpts{maxConcurrent: 1, shSleep: "30"})
	setAllowed := func(list string) {
		t.Helper()
		conf, err := os.ReadFile(g.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		text := string(conf)
		if i := strings.Index(text, "allowed_sources = "); i >= 0 {
			text = text[:i] + text[i+strings.Index(text[i:], "\n")+1:]
		}
		text = strings.Replace(text, "name = \"modem\"\n", "name = \"modem\"\nallowed_sources = "+list+"\n", 1)
		if err := os.WriteFile(g.cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setAllowed(`["10.0.0.0/8", "2001:db8::/32"]`)
	g.start()
	// max_concurrent is 1: a caller turned away holds no slot.
	for range 3 {
		s := telnetTo(t, g.addr)
		s.expect("NO CARRIER (this line does not take calls from your address)")
		s.expect("Connection closed by foreign host")
	}
	// gateway dial, text and V.42: not connected (13), saying why.
	for _, mode := range []string{"--text", "--v42=detect"} {
		cmd := exec.Command(g.bin, "dial", "--quiet", mode, "telnet://"+g.addr)
		cmd.Env = append(os.Environ(), "DIALGATE_USER=alice", "DIALGATE_PASSWORD=pw-alice")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitNoCarrier || !strings.Contains(string(out), "this line does not take calls from your address") {
			t.Errorf("dial %s: %v, output %q; want exit %d saying why", mode, err, out, exitNoCarrier)
		}
	}
	recs := g.waitRecords(5)
	for _, r := range recs {
		if r.Result != store.ResultRefused || r.Reason != "address not in the listener's allowed_sources" || r.User != "" {
			t.Fatalf("record %+v, want refused for its address", r)
		}
	}

	setAllowed(`["10.0.0.0/8", "127.0.0.1"]`)
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)
	s := telnetTo(t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
}
