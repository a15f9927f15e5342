// Package busyline reads a gateway's BUSY answer, for its callers
// (gateway dial, gateway modem, the browser page's V.42 caller): a
// gateway with no line for a call says BUSY and hangs up, alone or after
// one short line saying why (bridge's busyMessage:
// "\r\ndialgate: redialled too soon; try again in 2 s\r\nBUSY\r\n").
// The octets come from the remote end and are untrusted: what Parse
// accepts is bounded and printable, so a hostile gateway cannot make a
// caller print control characters or keep more than MaxHeard octets.
// The browser page's text login has the same rules in JavaScript
// (web/ui/src/status.js heardBusy).
package busyline

import "bytes"

// What a gateway may say before its BUSY result line for the call to
// count busy: the reason in at most MaxLines lines of printable ASCII,
// each at most MaxLineLen octets, MaxHeard octets in all. Anything
// longer or stranger is not a BUSY.
const (
	MaxLines   = 2
	MaxLineLen = 120
	MaxHeard   = 256
)

// Parse reports whether the octets a gateway sent before it hung up were
// its BUSY result: BUSY alone on the last line, preceded by nothing, or
// by at most MaxLines short printable lines (the gateway's reason).
// Blank lines and blanks around the words do not count. why is the
// reason's lines joined by a space, "" for a bare BUSY.
func Parse(heard []byte) (why string, ok bool) {
	if len(heard) > MaxHeard {
		return "", false
	}
	var lines [MaxLines + 1][]byte
	n := 0
	for rest := heard; len(rest) > 0; {
		line := rest
		if i := bytes.IndexAny(rest, "\r\n"); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if line = bytes.Trim(line, " \t\v\f"); len(line) == 0 {
			continue
		}
		if n == len(lines) {
			return "", false
		}
		lines[n] = line
		n++
	}
	if n == 0 || string(lines[n-1]) != "BUSY" {
		return "", false
	}
	for _, l := range lines[:n-1] {
		if len(l) > MaxLineLen || !PrintableASCII(l) {
			return "", false
		}
	}
	return string(bytes.Join(lines[:n-1], []byte(" "))), true
}

// PrintableASCII reports whether b is all printable ASCII (space to ~).
func PrintableASCII(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}
