package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestFail2banFilters runs the real fail2ban-regex with the shipped
// filters (contrib/fail2ban) over what a running gateway wrote during
// failed logins and a redial flood: the log's denied lines, in the JSON
// and the console format, and the call records, each match names the
// caller's address, and nothing else matches (a completed call, a BUSY
// for a full gateway).
func TestFail2banFilters(t *testing.T) {
	f2b := testutil.NeedBinary(t, "fail2ban-regex")
	filters, err := filepath.Abs("../../contrib/fail2ban/filter.d")
	if err != nil {
		t.Fatal(err)
	}
	// matches runs fail2ban-regex over the file and returns the
	// addresses it would ban, one per match. Each match must carry its
	// time: fail2ban-server skips a match without one ("Match without a
	// timestamp"), which fail2ban-regex counts all the same (operator
	// trial: the calls filter's datepattern took up to 6 fractional
	// digits, the records have 9, and the jail never banned).
	matches := func(t *testing.T, file, filter string) []string {
		t.Helper()
		out, err := exec.Command(f2b, "-o", "row", file, filepath.Join(filters, filter)).CombinedOutput()
		if err != nil {
			t.Fatalf("fail2ban-regex %s %s: %v\n%s", file, filter, err, out)
		}
		var ips []string
		for _, row := range strings.Split(string(out), "\n") {
			// ['127.0.0.9',\t1795489975,\t{'ip4': ...}],
			f := strings.Split(strings.TrimPrefix(row, "["), ",")
			if len(f) < 2 || !strings.HasPrefix(row, "['") {
				continue
			}
			if strings.TrimSpace(f[1]) == "None" {
				t.Errorf("%s: a match without a time (fail2ban-server skips it): %s", filter, row)
			}
			ips = append(ips, strings.Trim(f[0], "'"))
		}
		return ips
	}
	writeFile := func(t *testing.T, name, text string) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// dialFrom calls the gateway from a loopback address of its own
	// (the hold-off and the bans go by address), then, for each pair
	// of script, waits for the first and sends the second; a last,
	// unpaired element is waited for before hanging up. Without a
	// script it reads until the gateway hangs up. It returns what it
	// read.
	dialFrom := func(t *testing.T, g *testGateway, src string, script ...string) string {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		var got strings.Builder
		b := make([]byte, 512)
		for len(script) > 0 || err == nil {
			if len(script) > 0 && strings.Contains(got.String(), script[0]) {
				if len(script) == 1 {
					break
				}
				got.Reset()
				c.Write([]byte(script[1]))
				script = script[2:]
				continue
			}
			var n int
			n, err = c.Read(b)
			got.Write(b[:n])
			if err != nil && len(script) > 0 {
				t.Fatalf("from %s: %v before %q; read %q", src, err, script[0], got.String())
			}
		}
		return got.String()
	}
	failedLogins := func(t *testing.T, g *testGateway, wait func(string)) {
		dialFrom(t, g, "127.0.0.2", "login: ", "alice\r", "password: ", "wrong\r", "Login incorrect")
		dialFrom(t, g, "127.0.0.3", "login: ", "nobody\r", "password: ", "wrong\r", "Login incorrect")
		wait("(unknown user) from 127.0.0.3:")
		ok := telnetTo(t, g.addr)
		ok.login("alice", "pw-alice")
		ok.expect("hello alice")
		ok.send("x\r")
		ok.expect("NO CARRIER")
	}

	t.Run("json", func(t *testing.T) {
		g := newGateway(t, gwOpts{holdoff: "30s"})
		failedLogins(t, g, g.waitLog)
		// Redials within the hold-off from one address: BUSY, recorded.
		dialFrom(t, g, "127.0.0.4", "login: ")
		g.waitRecords(4) // the hold-off runs from that call's end
		for range 3 {
			if got := dialFrom(t, g, "127.0.0.4"); !strings.Contains(got, "BUSY") {
				t.Fatalf("redial within the hold-off heard %q", got)
			}
		}
		// Garbage instead of a login: hung up after 1 MiB, recorded,
		// and matched (security trial: it was not).
		dialFrom(t, g, "127.0.0.5", "login: ", strings.Repeat("garbage ", 256<<10))
		recs := g.waitRecords(8)
		if got := matches(t, writeFile(t, "gateway.log", g.log.String()), "dialgate.conf"); !slices.Equal(got, []string{"127.0.0.2", "127.0.0.3"}) {
			t.Errorf("log filter matched %q, want the two denied logins from 127.0.0.2 and .3\n%s", got, g.log.String())
		}
		got := matches(t, filepath.Join(g.dir, "state", "calls.jsonl"), "dialgate-calls.conf")
		slices.Sort(got)
		if !slices.Equal(got, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.4", "127.0.0.4", "127.0.0.5"}) {
			t.Errorf("records filter matched %q, want 127.0.0.2 and .3 (denied), .4 three times (BUSY for the hold-off) and .5 (flood); records %+v", got, recs)
		}
	})

	// The flood's three reasons (text login, V.42 detection, LAPM) are
	// all matched (retest: only the first was).
	t.Run("flood reasons", func(t *testing.T) {
		var recs strings.Builder
		for i, why := range []string{"", " (during V.42 detection)", " (V.42)"} {
			fmt.Fprintf(&recs, `{"session":%d,"listener":"modem","remote":"192.0.2.%d:4000","line":"telnet","start":"2026-11-24T01:00:00Z","end":"2026-11-24T01:00:0%dZ","result":"abandoned","reason":"caller sent more than 1 MiB before logging in%s","bytes_in":0,"bytes_out":0}`+"\n", i+1, i+1, i, why)
		}
		fmt.Fprintf(&recs, `{"session":9,"listener":"modem","remote":"192.0.2.9:4000","line":"telnet","start":"2026-11-24T01:00:00Z","end":"2026-11-24T01:00:09Z","result":"abandoned","reason":"caller left during login","bytes_in":0,"bytes_out":0}`+"\n")
		got := matches(t, writeFile(t, "calls.jsonl", recs.String()), "dialgate-calls.conf")
		if !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
			t.Errorf("records filter matched %q, want the three floods and not the caller who left", got)
		}
	})

	// A caller from an address a listener's allowed_sources does not
	// list (a scan of a LAN-only line) is matched; other refusals (a
	// policy about the line, not the address) are not.
	t.Run("allowed_sources", func(t *testing.T) {
		recs := `{"session":1,"listener":"sysop","remote":"[2001:db8::7]:4000","line":"telnet","start":"2026-11-24T01:00:00Z","end":"2026-11-24T01:00:01Z","result":"refused","reason":"address not in the listener's allowed_sources","bytes_in":0,"bytes_out":0}` + "\n" +
			`{"session":2,"listener":"modem","remote":"192.0.2.8:4000","line":"telnet","start":"2026-11-24T01:00:00Z","end":"2026-11-24T01:00:02Z","result":"refused","reason":"text login not allowed on this listener","bytes_in":0,"bytes_out":0}` + "\n"
		got := matches(t, writeFile(t, "calls.jsonl", recs), "dialgate-calls.conf")
		if !slices.Equal(got, []string{"2001:db8::7"}) {
			t.Errorf("records filter matched %q, want only the caller from outside allowed_sources", got)
		}
	})

	t.Run("console", func(t *testing.T) {
		g := newGateway(t, gwOpts{})
		// The same gateway's log in the console format: a second
		// process on the same configuration but for the format.
		g.stop()
		conf, err := os.ReadFile(g.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(g.cfgPath, []byte(strings.Replace(string(conf), `format = "json"`, `format = "console"`, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		g.launch()
		wait := func(s string) {
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(g.log.String(), s) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}
		wait("\tanswering\t")
		failedLogins(t, g, wait)
		if got := matches(t, writeFile(t, "gateway.log", g.log.String()), "dialgate.conf"); !slices.Equal(got, []string{"127.0.0.2", "127.0.0.3"}) {
			t.Errorf("log filter matched %q, want the two denied logins from 127.0.0.2 and .3\n%s", got, g.log.String())
		}
	})
}
