package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzRecordRoundTrip writes records whose text fields hold arbitrary
// strings (a claimed user name, a reason quoting the peer, an address a
// proxy passed on: all caller-controlled) as AppendRecord does, with a
// torn line between them, and reads them back. Properties: each line is
// one line of JSON with no raw control, C1 or bidirectional formatting
// character; both records read back as encoding/json reads the
// unescaped text (escaping changes nothing a reader sees); and the torn
// line costs only itself.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("alice", "caller said \u009b2J\u202e", "192.0.2.1:4000", []byte(`{"sess`))
	f.Add("x\xff\xfe", "\u2028\u2029\x00\x1b]0;t\x07", "[fe80::1%\u200f]:1", []byte("\n\n"))
	f.Add("", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, user, reason, remote string, torn []byte) {
		start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		recs := []CallRecord{
			{Session: 1, User: user, Listener: "modem", Remote: remote, Start: start, End: start, Result: ResultDenied, Reason: reason},
			{Session: 2, User: reason, Listener: user, Remote: remote, Start: start, End: start, Result: "busy", Reason: user},
		}
		var file []byte
		var want []CallRecord
		for i, r := range recs {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var plain CallRecord
			if err := json.Unmarshal(b, &plain); err != nil {
				t.Fatal(err)
			}
			want = append(want, plain)
			line := escapeTerminalControls(b)
			if !utf8.Valid(line) {
				t.Fatalf("line %q is not UTF-8", line)
			}
			for _, c := range string(line) {
				if c < 0x20 || IsTerminalControl(c) || c == '\u2028' || c == '\u2029' {
					t.Fatalf("line %q holds %U raw", line, c)
				}
			}
			file = append(append(file, line...), '\n')
			if i == 0 {
				// A torn record: whatever a crash left, then the
				// newline the next append starts with.
				file = append(append(file, bytes.ReplaceAll(torn, []byte("\n"), nil)...), '\n')
			}
		}
		got, err := ReadRecords(bytes.NewReader(file))
		if !reflect.DeepEqual(got, want) {
			// The torn line may itself be a record; then it is read too.
			if len(got) == 3 && reflect.DeepEqual(got[0], want[0]) && reflect.DeepEqual(got[2], want[1]) && err == nil {
				return
			}
			t.Fatalf("read back %+v, %v; want %+v", got, err, want)
		}
	})
}
