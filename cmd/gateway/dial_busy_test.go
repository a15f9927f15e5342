package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/dialgate/dialgate/internal/busyline"
)

// FuzzHeardBusy feeds arbitrary gateway output (untrusted) to textOutcome,
// as the text path's head and tail of a call: what busyline.Parse takes
// for a BUSY is a busyError with the reason it read, and nothing else
// is; and a short printable reason a gateway puts before BUSY comes back
// as it was. busyline's own bounds are fuzzed in internal/busyline.
func FuzzHeardBusy(f *testing.F) {
	f.Add([]byte("BUSY\r\n"), "dialgate: redialled too soon; try again in 2 s")
	f.Add([]byte("\r\ndialgate: all lines busy; try again later\r\nBUSY\r\n"), "gw: down for maintenance; try again later")
	f.Add([]byte("a\r\nb\r\nc\r\nBUSY\r\n"), "")
	f.Add([]byte("BUSY\r\nNO CARRIER\r\n"), " padded ")
	f.Add([]byte("\x1b]0;x\x07\r\nBUSY"), "\x1b[31mred")
	f.Fuzz(func(t *testing.T, heard []byte, reason string) {
		err := textOutcome(heard, heard)
		if why, ok := busyline.Parse(heard); ok {
			if !errors.Is(err, errBusy) || busyReason(err) != why {
				t.Fatalf("textOutcome(%q) = %v, want a BUSY with reason %q", heard, err, why)
			}
		} else if busyReason(err) != "" {
			t.Fatalf("textOutcome(%q) = %v: a reason without a BUSY", heard, err)
		}
		r := bytes.Trim([]byte(reason), " \t\v\f")
		msg := []byte("\r\n" + reason + "\r\nBUSY\r\n")
		if len(r) == 0 || len(r) > busyline.MaxLineLen || !busyline.PrintableASCII(r) || len(msg) > busyline.MaxHeard {
			return
		}
		if err := textOutcome(msg, msg); !errors.Is(err, errBusy) || busyReason(err) != string(r) {
			t.Fatalf("textOutcome with reason %q: %v", reason, err)
		}
	})
}
