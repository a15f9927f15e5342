package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestHeardBusy: BUSY is the last line; before it at most two short
// printable lines, the gateway's reason, are accepted; more lines, long
// or non-printable ones, words after BUSY, or too much in all are not a
// BUSY.
func TestHeardBusy(t *testing.T) {
	long := strings.Repeat("x", maxBusyLineLen)
	for _, c := range []struct {
		heard string
		why   string
		ok    bool
	}{
		{"BUSY\r\n", "", true},
		{"\r\nBUSY\r\n", "", true},
		{"  BUSY \t", "", true},
		{"BUSY", "", true},
		{"\r\ndialgate: redialled too soon; try again in 2 s\r\nBUSY\r\n", "dialgate: redialled too soon; try again in 2 s", true},
		{"\ngw: all lines busy; try again later\nBUSY\n", "gw: all lines busy; try again later", true},
		{"one\r\n\r\ntwo\r\nBUSY\r\n", "one two", true},
		{long + "\r\nBUSY\r\n", long, true},
		{long + "x\r\nBUSY\r\n", "", false},
		{"one\r\ntwo\r\nthree\r\nBUSY\r\n", "", false},
		{"BUSY\r\nmore", "", false},
		{"busy\r\n", "", false},
		{"BUSY signal\r\n", "", false},
		{"\x1b[2Jgw: busy\r\nBUSY\r\n", "", false},
		{"gw: caf\xc3\xa9\r\nBUSY\r\n", "", false},
		{"gw\x00: x\r\nBUSY\r\n", "", false},
		{"", "", false},
		{"\r\n\r\n", "", false},
		{strings.Repeat(" ", maxBusyHeard) + "BUSY", "", false},
	} {
		why, ok := heardBusy([]byte(c.heard))
		if why != c.why || ok != c.ok {
			t.Errorf("heardBusy(%q) = %q, %v; want %q, %v", c.heard, why, ok, c.why, c.ok)
		}
	}
}

// FuzzHeardBusy feeds arbitrary gateway output (untrusted) to
// heardBusy: a BUSY it accepts is bounded and ends with BUSY, and its
// reason is short printable ASCII; and every short printable reason a
// gateway puts before BUSY comes back as it was.
func FuzzHeardBusy(f *testing.F) {
	f.Add([]byte("BUSY\r\n"), "dialgate: redialled too soon; try again in 2 s")
	f.Add([]byte("\r\ndialgate: all lines busy; try again later\r\nBUSY\r\n"), "gw: down for maintenance; try again later")
	f.Add([]byte("a\r\nb\r\nc\r\nBUSY\r\n"), "")
	f.Add([]byte("BUSY\r\nNO CARRIER\r\n"), " padded ")
	f.Add([]byte("\x1b]0;x\x07\r\nBUSY"), "\x1b[31mred")
	f.Fuzz(func(t *testing.T, heard []byte, reason string) {
		if why, ok := heardBusy(heard); ok {
			if len(heard) > maxBusyHeard {
				t.Fatalf("accepted %d octets", len(heard))
			}
			if !bytes.HasSuffix(bytes.TrimRight(heard, " \t\v\f\r\n"), []byte("BUSY")) {
				t.Fatalf("accepted %q, which does not end with BUSY", heard)
			}
			if len(why) > maxBusyLines*(maxBusyLineLen+1) || !printableASCII([]byte(why)) {
				t.Fatalf("reason %q from %q", why, heard)
			}
			if why == "" && !bytes.Equal(bytes.TrimSpace(heard), []byte("BUSY")) {
				t.Fatalf("no reason from %q, which is not a bare BUSY", heard)
			}
		} else if why != "" {
			t.Fatalf("a reason %q without a BUSY", why)
		}
		r := strings.Trim(reason, " \t\v\f")
		msg := []byte("\r\n" + reason + "\r\nBUSY\r\n")
		if r == "" || len(r) > maxBusyLineLen || !printableASCII([]byte(r)) || len(msg) > maxBusyHeard {
			return
		}
		why, ok := heardBusy(msg)
		if !ok || why != r {
			t.Fatalf("reason %q came back as %q, %v", reason, why, ok)
		}
		if err := textOutcome(msg, msg); !errors.Is(err, errBusy) || busyReason(err) != r {
			t.Fatalf("textOutcome with reason %q: %v", reason, err)
		}
	})
}
