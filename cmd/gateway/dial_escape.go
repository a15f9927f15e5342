package main

import (
	"bytes"
	"fmt"
)

// The escape sequences of gateway dial, after ssh(1): the escape character
// (default '~') is recognised only as the first character of a line, that
// is after CR or LF or at the very start of the session.
//
//	~.  hang up
//	~B  send a break (telnet BREAK / V.42 break) where the line can
//	~^Z suspend dial (Unix; ssh's ~^Z)
//	~?  list the escapes
//	~~  send one '~'
//
// Any other character after the escape character sends both.

// escAction is what a fed chunk asks the session to do.
type escAction uint8

const (
	escNone escAction = iota
	escHangup
	escBreak
	escHelp
	escSuspend
)

// escaper is the pure escape-sequence state machine.
type escaper struct {
	char      byte // escape character; 0 disables escapes
	lineStart bool // the next octet starts a line
	pending   bool // the escape character was seen at a line start
}

func newEscaper(char byte) *escaper { return &escaper{char: char, lineStart: true} }

// feed appends the octets of p meant for the line to out and stops at the
// first escape action. It returns out, the action (escNone when p was used
// up) and how many octets of p it consumed; the caller acts and feeds
// p[consumed:] again.
func (e *escaper) feed(out, p []byte) ([]byte, escAction, int) {
	if e.char == 0 {
		return append(out, p...), escNone, len(p)
	}
	for i := 0; i < len(p); {
		if !e.pending && !e.lineStart {
			// Mid-line: copy up to and including the next line end.
			j := bytes.IndexAny(p[i:], "\r\n")
			if j < 0 {
				return append(out, p[i:]...), escNone, len(p)
			}
			out = append(out, p[i:i+j+1]...)
			e.lineStart = true
			i += j + 1
			continue
		}
		c := p[i]
		i++
		if e.pending {
			e.pending = false
			e.lineStart = false
			switch c {
			case '.':
				return out, escHangup, i
			case 0x1A: // Ctrl-Z
				// At the line's start again when continued, as
				// after ~B.
				e.lineStart = true
				return out, escSuspend, i
			case 'B', '?':
				// Still at the line's start, as in ssh: ~? then ~.
				// hangs up (new-user trial: the ~. went to the
				// call).
				e.lineStart = true
				if c == 'B' {
					return out, escBreak, i
				}
				return out, escHelp, i
			case e.char:
				out = append(out, c)
				continue
			}
			out = append(out, e.char)
			// c is an ordinary octet
		} else if c == e.char { // at a line start
			e.pending = true
			continue
		}
		out = append(out, c)
		e.lineStart = c == '\r' || c == '\n'
	}
	return out, escNone, len(p)
}

// parseEscape reads --escape: "none" (0), one ASCII character, or, as
// ssh's EscapeChar takes it, '^' and a letter or one of @[\]^_? for a
// control character ("^]" is Ctrl-], telnet's escape). A power-user
// trial typed --escape '^]' and was refused.
func parseEscape(s string) (byte, error) {
	switch {
	case s == "none":
		return 0, nil
	case len(s) == 1 && s[0] != 0 && s[0] < 0x80:
		return s[0], nil
	case len(s) == 2 && s[0] == '^' && s[1] == '?':
		return 0x7f, nil
	case len(s) == 2 && s[0] == '^' && (s[1] >= '@' && s[1] <= '_' || s[1] >= 'a' && s[1] <= 'z') && s[1] != '@':
		return s[1] & 0x1f, nil
	}
	return 0, fmt.Errorf("--escape %q: want one ASCII character, ^ and a letter (^] for Ctrl-]), or none", s)
}

// escName is the escape character as the user types it on the command
// line: control characters as ^X, never raw on the terminal.
func escName(c byte) string {
	switch {
	case c == 0x7f:
		return "^?"
	case c < 0x20:
		return "^" + string(c+0x40)
	}
	return string(c)
}

// escHelpText is printed for ~?.
func escHelpText(char byte) string {
	c := escName(char)
	return "\r\nSupported escape sequences:\r\n" +
		" " + c + ".   - hang up\r\n" +
		" " + c + "B   - send a break\r\n" +
		" " + c + "^Z  - suspend dial (fg continues it)\r\n" +
		" " + c + "?   - this message\r\n" +
		" " + c + c + "   - send the escape character\r\n" +
		"(Escapes are only recognised after a newline or another escape.)\r\n"
}
