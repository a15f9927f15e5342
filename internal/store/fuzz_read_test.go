package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzReadRecords reads arbitrary octets as a call-record file and checks
// ReadRecords against its doc comment and against a line-by-line model:
//
//   - every non-blank line that is a JSON record is returned, in order, and
//     nothing else: a damaged line costs only itself, never the records
//     after it;
//   - the error is nil when every line was a record, else it wraps
//     ErrCorrupt and names the first damaged line;
//   - no record comes from more lines than the input has;
//   - every record read, written again by the writer (encodeRecord), is
//     one terminal-safe line that reads back to the same record, and the
//     writer's line is then a fixed point (records the writer wrote
//     round-trip exactly);
//   - the same octets, written as the second half of a file after a
//     record the writer wrote, leave that record first.
func FuzzReadRecords(f *testing.F) {
	f.Add([]byte(`{"session":1,"listener":"modem","remote":"127.0.0.1:1","start":"2026-01-02T03:04:05Z","end":"2026-01-02T03:04:06Z","result":"busy","bytes_in":0,"bytes_out":0}` + "\n"))
	f.Add([]byte("{\"session\":2}\n{\"sess"))
	f.Add([]byte("{\"session\":3}\r\n\n  \n{\"session\":x}\n{\"session\":4,\"lapm\":{\"k\":7,\"sealed\":true}}\n"))
	f.Add([]byte("{\"session\":5,\"user\":\"\\u001b[2J\\u009b\\u202e\",\"start\":\"2026-01-02T03:04:05+01:00\"}\n"))
	f.Add([]byte("{\"session\":6,\"SESSION\":7,\"unknown\":[1,2]}\n[]\nnull\n\"x\"\n{\"session\":-1}\n"))
	f.Add([]byte("{\"session\":8,\"answer\":\"0001-01-01T00:00:00Z\",\"end\":\"9999-12-31T23:59:59.999999999-23:59\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ReadRecords(bytes.NewReader(data))

		// The model: one line at a time.
		var want []CallRecord
		firstBad := 0
		lines := strings.Split(string(data), "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		for i, l := range lines {
			l := bytes.TrimSpace([]byte(l))
			if len(l) == 0 {
				continue
			}
			var r CallRecord
			if json.Unmarshal(l, &r) != nil {
				if firstBad == 0 {
					firstBad = i + 1
				}
				continue
			}
			want = append(want, r)
		}
		if !reflect.DeepEqual(recs, want) && !(len(recs) == 0 && len(want) == 0) {
			t.Fatalf("read %d records, the lines hold %d:\n%+v\n%+v", len(recs), len(want), recs, want)
		}
		if len(recs) > len(lines) {
			t.Fatalf("%d records from %d lines", len(recs), len(lines))
		}
		switch {
		case firstBad == 0 && err != nil:
			t.Fatalf("every line is a record, but: %v", err)
		case firstBad != 0 && (!errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("record line %d:", firstBad))):
			t.Fatalf("first damaged line is %d, error %v", firstBad, err)
		}

		for _, r := range recs {
			k, err := encodeRecord(r)
			if err != nil {
				t.Fatalf("record %+v read but not writable: %v", r, err)
			}
			line := k.line
			if bytes.IndexByte(line, '\n') != len(line)-1 || !utf8.Valid(line) {
				t.Fatalf("written record is not one UTF-8 line: %q", line)
			}
			for _, c := range string(line[:len(line)-1]) {
				if c < 0x20 || IsTerminalControl(c) || c == '\u2028' || c == '\u2029' {
					t.Fatalf("written record %q holds %U raw", line, c)
				}
			}
			back, err := ReadRecords(bytes.NewReader(line))
			if err != nil || len(back) != 1 || !sameRecord(back[0], r) {
				t.Fatalf("record %+v written as %q reads back as %+v, %v", r, line, back, err)
			}
			k2, _ := encodeRecord(back[0])
			if !bytes.Equal(k2.line, line) {
				t.Fatalf("the writer's line is not a fixed point: %q then %q", line, k2.line)
			}
		}

		first := CallRecord{Session: 99, Listener: "modem", Remote: "192.0.2.1:1", Result: ResultCompleted,
			Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), End: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)}
		k, _ := encodeRecord(first)
		got, _ := ReadRecords(bytes.NewReader(append(k.line, data...)))
		if len(got) == 0 || !sameRecord(got[0], first) {
			t.Fatalf("a written record followed by %q reads as %+v", data, got)
		}
	})
}

// sameRecord compares records as a reader sees them: times by instant and
// offset (a parsed offset is a new *time.Location each time).
func sameRecord(a, b CallRecord) bool {
	sameTime := func(x, y time.Time) bool {
		_, ox := x.Zone()
		_, oy := y.Zone()
		return x.Equal(y) && ox == oy
	}
	if !sameTime(a.Start, b.Start) || !sameTime(a.Answer, b.Answer) || !sameTime(a.End, b.End) {
		return false
	}
	a.Start, a.Answer, a.End = b.Start, b.Answer, b.End
	return reflect.DeepEqual(a, b)
}
