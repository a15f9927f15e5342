package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// aliceCall makes one whole call as alice (the sh backend), who sends
// "call n" and hears it back.
func (g *testGateway) aliceCall(n int) {
	g.t.Helper()
	s := telnetTo(g.t, g.addr)
	s.login("alice", "pw-alice")
	s.expect("hello alice")
	s.send(fmt.Sprintf("call %d\r", n))
	s.expect(fmt.Sprintf("got:call %d", n))
	s.expect("NO CARRIER")
	s.close()
}

// TestServeLogrotateCreate rotates calls.jsonl with the real logrotate
// the way docs/operators.md shows (`create`, then SIGHUP in postrotate)
// between calls: every call's record is in the rotated file or the new
// one, once, and the new one is the gateway's (mode 0600).
func TestServeLogrotateCreate(t *testing.T) {
	lr := testutil.NeedBinary(t, "logrotate")
	g := newGateway(t, gwOpts{})
	const reopened = `"msg":"call records file reopened (it was rotated or removed)"`
	records := filepath.Join(g.dir, "state", "calls.jsonl")
	conf := filepath.Join(g.dir, "logrotate.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`%s {
    rotate 4
    create 0600
    missingok
    postrotate
        kill -HUP %d
    endscript
}
`, records, g.cmd.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	rotate := func() {
		t.Helper()
		out, err := exec.Command(lr, "-f", "-s", filepath.Join(g.dir, "logrotate.status"), conf).CombinedOutput()
		if err != nil {
			t.Fatalf("logrotate: %v\n%s", err, out)
		}
	}
	g.aliceCall(1)
	g.waitRecords(1)
	rotate()
	g.waitLog(reopened)
	g.aliceCall(2)
	g.aliceCall(3)
	g.waitRecords(2)
	rotate()
	// The signal is asynchronous: call 4 once the gateway has taken it.
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(g.log.String(), reopened) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	g.aliceCall(4)

	// Each record is written as its call ends, after the caller saw NO
	// CARRIER: wait for all four.
	files := []string{records + ".2", records + ".1", records}
	var sessions map[uint64]string
	deadline = time.Now().Add(20 * time.Second)
	for {
		sessions = map[uint64]string{}
		for _, name := range files {
			recs, err := store.ReadRecordsFile(name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, r := range recs {
				if prev, ok := sessions[r.Session]; ok {
					t.Fatalf("session %d recorded in %s and %s", r.Session, prev, name)
				}
				sessions[r.Session] = filepath.Base(name)
			}
		}
		if len(sessions) >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	perFile := map[string]int{}
	for _, f := range sessions {
		perFile[f]++
	}
	if len(sessions) != 4 || perFile["calls.jsonl.2"] != 1 || perFile["calls.jsonl.1"] != 2 || perFile["calls.jsonl"] != 1 {
		t.Errorf("records per file %v, want calls.jsonl.2: 1 (call 1), .1: 2 (calls 2, 3), calls.jsonl: 1 (call 4)\n%s", perFile, g.log.String())
	}
	st, err := os.Stat(records)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("live records file: %v, %v", st, err)
	}
}
