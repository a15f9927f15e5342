package main

import (
	"bytes"
	"slices"
	"strconv"
)

// modeTracker follows the terminal modes a program behind the call turns
// on in its output and off again: the alternate screen, mouse reporting,
// bracketed paste, application cursor keys and keypad, a hidden cursor.
// When a call ends with some still on (vim when the gateway or the line
// went away), dial puts them back, as the browser page does (power-user
// trial: the shell's prompt came back on vim's alternate screen, with the
// mouse reporting clicks as text, until the user typed reset). A program
// that ended normally has put them back itself, and nothing is written.
//
// Only the DEC private modes set and reset with CSI ? Pm h / l, the
// keypad's ESC = / ESC >, and whether the last SGR (CSI Pm m) left
// colours or attributes on are followed; other sequences pass untouched.
type modeTracker struct {
	st     int                     // 0 text, 1 after ESC, 2 after CSI, 3 in CSI ? parameters, 4 in another CSI
	params []int                   // the parameters of CSI ? so far (bounded)
	cur    int                     // the parameter being read (-1: none yet)
	on     [len(trackedModes)]bool // by trackedModes' index
	keypad bool                    // application keypad (ESC =)
	// sgr: colours or attributes are on (the last SGR, CSI Pm m, set
	// some). plain: the CSI being read has no parameter but 0 so far (an
	// SGR reset if it ends in m); private: it is a CSI ? one.
	sgr, plain, private bool
}

// trackedModes are the DEC private modes put back at the end of a call,
// with the order they are reset in: the alternate screens first (leaving
// one restores what the normal screen showed).
var trackedModes = [...]int{
	1049, 1047, 47, // alternate screen
	1000, 1002, 1003, 1005, 1006, 1015, // mouse reporting
	2004, // bracketed paste
	1,    // application cursor keys
	25,   // the cursor, tracked as hidden (CSI ? 25 l)
}

// maxModeParams bounds the parameters kept of one CSI ? sequence.
const maxModeParams = 16

func newModeTracker() *modeTracker {
	return &modeTracker{cur: -1}
}

// feed follows the modes in p, a piece of the call's output (sequences
// may be split across pieces).
func (t *modeTracker) feed(p []byte) {
	for len(p) > 0 {
		if t.st == 0 {
			i := bytes.IndexByte(p, 0x1b)
			if i < 0 {
				return
			}
			p = p[i+1:]
			t.st = 1
			continue
		}
		c := p[0]
		p = p[1:]
		switch t.st {
		case 1:
			switch c {
			case '[':
				t.st = 2
			case '=', '>':
				t.keypad = c == '='
				t.st = 0
			case 0x1b:
			default:
				t.st = 0
			}
		case 2:
			t.plain, t.private = true, c == '?'
			if c == '?' {
				t.st, t.params, t.cur = 3, t.params[:0], -1
			} else {
				t.csi(c)
			}
		case 3:
			switch {
			case c >= '0' && c <= '9':
				t.cur = min(max(t.cur, 0)*10+int(c-'0'), 1<<20)
			case c == ';':
				t.param()
			case c == 'h' || c == 'l':
				t.param()
				for _, m := range t.params {
					if i := slices.Index(trackedModes[:], m); i >= 0 {
						// The cursor is tracked as hidden: l turns that on.
						t.on[i] = (c == 'h') != (m == 25)
					}
				}
				t.st = 0
			default:
				t.csi(c)
			}
		case 4:
			t.csi(c)
		}
	}
}

// param ends the parameter being read.
func (t *modeTracker) param() {
	if t.cur >= 0 && len(t.params) < maxModeParams {
		t.params = append(t.params, t.cur)
	}
	t.cur = -1
}

// csi skips the rest of a CSI sequence not followed: it ends at a final
// octet (0x40-0x7e); ESC starts a new sequence, a C0 control or another
// octet outside the sequence's ranges ends it.
func (t *modeTracker) csi(c byte) {
	switch {
	case c >= 0x40 && c <= 0x7e:
		if c == 'm' && !t.private {
			t.sgr = !t.plain
		}
		t.st = 0
	case c == 0x1b:
		t.st = 1
	case c >= 0x20 && c <= 0x3f:
		if c != '0' && c != ';' {
			t.plain = false
		}
		t.st = 4 // parameters and intermediates
	default:
		t.st = 0
	}
}

// reset returns what puts back the modes still on (nil when none is), and
// takes them as put back.
func (t *modeTracker) reset() []byte {
	var b []byte
	for i, m := range trackedModes {
		if !t.on[i] {
			continue
		}
		b = append(b, "\x1b[?"...)
		b = strconv.AppendInt(b, int64(m), 10)
		if m == 25 {
			b = append(b, 'h')
		} else {
			b = append(b, 'l')
		}
	}
	if t.keypad {
		b = append(b, "\x1b>"...)
	}
	if b != nil || t.sgr {
		b = append(b, "\x1b[0m"...) // colours, as the page does
	}
	t.on = [len(trackedModes)]bool{}
	t.keypad, t.sgr = false, false
	return b
}
