// Package termname checks the terminal type a caller announces (telnet
// TTYPE IS, RFC 1091; the browser page's "term" control message) before
// it reaches a backend, as a pty program's TERM or the terminal type the
// gateway announces to a telnet backend.
package termname

import "bytes"

// maxLen bounds a terminal type name (RFC 1091: at most 40 characters).
const maxLen = 40

// Clean returns the terminal type a caller announced if it can be a
// terminfo name, else "" (none). "UNKNOWN", in any case, is "": RFC 1091
// has a client without a terminal type to give announce it, and passed
// on it would make a pty program's TERM "unknown", which curses programs
// refuse, where the backend's term applies for a caller that announced
// none. The name reaches backends, so it must not be a path or carry
// controls: at most maxLen characters from [A-Za-z0-9._+-], starting
// with a letter or digit, as terminfo names are (ncurses refuses names
// with '/'; other programs may not). Spaces and NULs around the name are
// ignored.
func Clean(p []byte) string {
	p = bytes.Trim(p, " \x00")
	if len(p) == 0 || len(p) > maxLen || !isAlnum(p[0]) || AnnouncesNone(p) {
		return ""
	}
	for _, b := range p {
		if !isAlnum(b) && b != '.' && b != '_' && b != '+' && b != '-' {
			return ""
		}
	}
	return string(p)
}

// AnnouncesNone reports whether p announces no terminal type: RFC 1091's
// "UNKNOWN" (in any case), or nothing (spaces and NULs ignored).
func AnnouncesNone(p []byte) bool {
	p = bytes.Trim(p, " \x00")
	return len(p) == 0 || bytes.EqualFold(p, []byte("UNKNOWN"))
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}
