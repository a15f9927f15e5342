package auth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// vectorWriter formats the test vectors of docs/access-security.md §9.
type vectorWriter struct{ b strings.Builder }

func (w *vectorWriter) line(label string, v []byte) {
	fmt.Fprintf(&w.b, "%-24s %x\n", label, v)
}

func (w *vectorWriter) tokens(log []sentToken) {
	for _, s := range log {
		dir := "C->G"
		if s.from == "G" {
			dir = "G->C"
		}
		_, typ, _ := peekHeader(s.tok)
		w.line(dir+" "+typ.String(), s.tok)
	}
}

// generateVectors runs the fixed scenarios and returns their transcripts.
func generateVectors(t testing.TB) string {
	t.Helper()
	var w vectorWriter
	hk := testHostKey("gateway")
	fmt.Fprintf(&w.b, "# common inputs\n")
	w.line("host static private", hk.Private)
	w.line("host static public", hk.Public)
	w.line("transcript", testTranscript)
	w.line("callback transcript", testCallbackTranscript)

	for _, s := range []scenario{scenarioDirect, scenarioCallback, scenarioDenied, scenarioAES, scenarioCallbackAES} {
		cc := s.callerConfig(nil)
		ac := answererConfig(s.gwSeed, nil)
		r := runPair(t, cc, ac, testTranscript, testTranscript, nil)
		fmt.Fprintf(&w.b, "\n# scenario %s: user %q, password %q, caller offers callback: %v", s.name, s.user, s.pw, s.callback)
		if s.aes {
			fmt.Fprintf(&w.b, ", AES-256-GCM: true")
		}
		fmt.Fprintf(&w.b, "\n")
		switch s.name {
		case "denied":
			if reason, ok := RejectReason(r.callErr); !ok || reason != ReasonDenied {
				t.Fatalf("%s: caller: %v", s.name, r.callErr)
			}
		default:
			if r.callErr != nil || r.ansErr != nil {
				t.Fatalf("%s: call: %v; answer: %v", s.name, r.callErr, r.ansErr)
			}
		}
		callerRand, gwRand := cc.Rand.(*recRand), ac.Rand.(*recRand)
		w.line("caller random", callerRand.drawn)
		w.line("gateway random", gwRand.drawn)
		w.tokens(r.log)
		switch s.name {
		case "direct", "aes":
			w.line(`C->G data "hello gateway"`, r.call.Transform.Seal(nil, []byte("hello gateway")))
			w.line(`G->C data "hello caller"`, r.ans.Transform.Seal(nil, []byte("hello caller")))
			if s.aes {
				// A second payload each way pins the counter's byte order.
				w.line(`C->G data "again"`, r.call.Transform.Seal(nil, []byte("again")))
				w.line(`G->C data "again"`, r.ans.Transform.Seal(nil, []byte("again")))
			}
		case "callback", "callback-aes":
			before := len(callerRand.drawn)
			cbRand := newRecRand("gateway callback phase")
			if s.aes {
				cbRand = newRecRand("gateway callback aes phase")
			}
			gwTr, callerTr, log, gerr, cerr := runCallbackPair(t, r.ans.Callback, cbRand, r.call.Ticket)
			if gerr != nil || cerr != nil {
				t.Fatalf("callback: place: %v; accept: %v", gerr, cerr)
			}
			fmt.Fprintf(&w.b, "# %s call (NNpsk0)\n", s.name)
			w.line("gateway random", cbRand.drawn)
			w.line("caller random", callerRand.drawn[before:])
			w.tokens(log)
			w.line(`G->C data "hello caller"`, gwTr.Seal(nil, []byte("hello caller")))
			w.line(`C->G data "hello gateway"`, callerTr.Seal(nil, []byte("hello gateway")))
			if s.aes {
				w.line(`G->C data "again"`, gwTr.Seal(nil, []byte("again")))
				w.line(`C->G data "again"`, callerTr.Seal(nil, []byte("again")))
			}
		}
	}
	return w.b.String()
}

const (
	vectorsBegin = "<!-- vectors:begin -->\n"
	vectorsEnd   = "<!-- vectors:end -->\n"
	specPath     = "../docs/access-security.md"
)

// TestSpecVectors checks the vectors printed in docs/access-security.md §9
// against what the code produces; -update rewrites them.
func TestSpecVectors(t *testing.T) {
	testutil.CheckGoroutines(t)
	got := generateVectors(t)
	doc, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	i, j := strings.Index(string(doc), vectorsBegin), strings.Index(string(doc), vectorsEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: vector markers missing", specPath)
	}
	block := "```\n" + got + "```\n"
	if *update {
		out := string(doc[:i+len(vectorsBegin)]) + block + string(doc[j:])
		if err := os.WriteFile(specPath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if have := string(doc[i+len(vectorsBegin) : j]); have != block {
		t.Errorf("%s vectors differ from the code (run go test ./auth -run TestSpecVectors -update after checking why):\n--- doc\n%s\n--- code\n%s", specPath, have, block)
	}
}

// TestGoldenTranscripts compares full transcripts, including a version
// mismatch, with testdata/transcripts.golden; -update rewrites it.
func TestGoldenTranscripts(t *testing.T) {
	testutil.CheckGoroutines(t)
	got := generateVectors(t)

	// Version mismatch: a version-2 INITIATE gets a clear REJECT version.
	var w vectorWriter
	conn := &scriptConn{transcript: testTranscript}
	init := append([]byte{2, byte(TypeInitiate)}, make([]byte, keyLen)...)
	init = append(init, CapSealed)
	if _, err := Answer(context.Background(), conn, init, answererConfig("g", nil)); err == nil {
		t.Fatal("version-2 INITIATE accepted")
	}
	fmt.Fprintf(&w.b, "\n# scenario version: INITIATE of version 2\n")
	w.tokens([]sentToken{{from: "C", tok: init}})
	for _, r := range conn.sentResps {
		w.tokens([]sentToken{{from: "G", tok: r}})
	}
	got += w.b.String()

	path := filepath.Join("testdata", "transcripts.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != got {
		t.Errorf("transcripts differ from %s:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}
