package modem

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzCommandLine runs one arbitrary command line. It must never panic; a
// line that answers ERROR must leave the profile as it was; a line that
// answers OK must not leave the interpreter dialing.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"AT", "ATZ", "AT&F&C1&D2", "AT S7=45 S0=0 L1 V1 X4 &c1 E1 Q0", "ATS0=5J",
		"ATDTalice@bbs:23", "AT+FCLASS=0;+IPR=115200", "AT&V", "ATI3", "ATS99=255?",
		"AT\\N3%C1&K3", "ATS12=0S2=126", "ATX9", "A/", "AT&W",
		`ATD"bbs:23"`, `ATDT"bbs:23";S0=1X3`, `ATD"bbs:23"J`, `ATD"bbs`, `ATD""`, "ATDT,,,", "ATDThost:0",
		"ATDT9W555/1212$", "AT\x07S0=\x002\n", "A\x1bTE1\x7f",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.ReplaceAll(line, []byte{'\r'}, nil)
		m := NewInterp(Config{})
		m.FromDTE(t0, []byte("ATE0\r"))
		before := m.Profile()
		out := m.FromDTE(t0, append(line, '\r'))
		if bytes.HasSuffix(out.DTE, []byte("ERROR\r\n")) && m.Profile() != before && m.State() == StateCommand {
			t.Fatalf("ERROR line %q changed the profile", line)
		}
		if len(out.Line) != 0 {
			t.Fatalf("command mode sent %q to the line", out.Line)
		}
		for _, a := range out.Actions {
			if a.Kind == ActDial && a.Dial == "" {
				t.Fatal("empty dial string")
			}
		}
	})
}

// FuzzOnlineSplit: online data gives the same line bytes and the same
// escape outcome whether the DTE's bytes arrive in one read or one at a
// time (the bulk path and the per-byte path agree).
func FuzzOnlineSplit(f *testing.F) {
	f.Add([]byte("+++"), byte(0))
	f.Add([]byte("ab+++"), byte(0))
	f.Add([]byte("+++"), byte(1))
	f.Add([]byte("x++++y"), byte(2))
	f.Fuzz(func(t *testing.T, data []byte, gap byte) {
		run := func(split bool) (string, State) {
			m := NewInterp(Config{})
			m.FromDTE(t0, []byte("ATDTx\r"))
			m.Connected(t0, ConnectInfo{})
			now := t0.Add(time.Duration(gap) * 100 * time.Millisecond)
			var line []byte
			if split {
				for _, b := range data {
					line = append(line, m.FromDTE(now, []byte{b}).Line...)
				}
			} else {
				line = append(line, m.FromDTE(now, data).Line...)
			}
			m.Tick(now.Add(2 * time.Second))
			return string(line), m.State()
		}
		want := string(data)
		if time.Duration(gap)*100*time.Millisecond < lfAfterCR {
			// The LF of a CR LF line end, if it comes at once.
			want = strings.TrimPrefix(want, "\n")
		}
		l1, s1 := run(false)
		l2, s2 := run(true)
		if l1 != l2 || s1 != s2 || l1 != want {
			t.Fatalf("whole: %q %v; split: %q %v", l1, s1, l2, s2)
		}
	})
}
