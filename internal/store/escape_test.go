package store

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestRecordsEscapeTerminalControls: C1 controls and bidirectional
// formatting characters a caller put into a record (a user name claimed
// in a failed V.42 login reaches the record as sent) are written to
// calls.jsonl as \u escapes, never raw, and read back unchanged.
// Regression: encoding/json leaves them raw, and `tail calls.jsonl` let
// a caller's "\u009b2J" clear the operator's screen.
func TestRecordsEscapeTerminalControls(t *testing.T) {
	f, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := CallRecord{
		Session: 1, User: "x\u009b2J\u009d0;pwned\u0007\u202eevil\u2066é", Listener: "modem",
		Remote: "192.0.2.1:4000", Result: ResultDenied, Reason: "caller said \u0085\u200f\u061c",
	}
	if err := f.AppendRecord(want); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(f.RecordsPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range string(raw) {
		if IsTerminalControl(r) || r < 0x20 && r != '\n' {
			t.Errorf("calls.jsonl holds %U raw: %q", r, raw)
		}
	}
	if !bytes.Contains(raw, []byte(`\u009b`)) || !strings.Contains(string(raw), "é") {
		t.Errorf("calls.jsonl: %s", raw)
	}
	got, err := ReadRecordsFile(f.RecordsPath())
	if err != nil || len(got) != 1 || got[0].User != want.User || got[0].Reason != want.Reason {
		t.Fatalf("read back %+v, %v; want %+v", got, err, want)
	}
}

// TestEscapeTerminalControlsEveryRune: for every character, the escaped
// JSON string decodes to the same text and holds no terminal control raw;
// text without them is returned as it is.
func TestEscapeTerminalControlsEveryRune(t *testing.T) {
	var sb strings.Builder
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if utf8.ValidRune(r) {
			sb.WriteRune(r)
		}
	}
	enc, err := json.Marshal(sb.String())
	if err != nil {
		t.Fatal(err)
	}
	esc := escapeTerminalControls(enc)
	for _, r := range string(esc) {
		if IsTerminalControl(r) {
			t.Fatalf("%U left raw", r)
		}
	}
	var back string
	if err := json.Unmarshal(esc, &back); err != nil || back != sb.String() {
		t.Fatalf("every rune: decoded text differs (%v)", err)
	}
	plain := []byte(`"aé€😀"`)
	if out := escapeTerminalControls(plain); &out[0] != &plain[0] {
		t.Error("text without terminal controls was copied")
	}
}
