package modem

import (
	"bytes"
	"net"
	"strconv"
	"strings"
)

// The dial string of the D command (V.250 6.3.1). Unquoted, it is the rest
// of the command line: spaces are ignored, a leading T or P (tone, pulse)
// is dropped and so is a final ';' (return to command state, which an
// emulated line has no use for). Quoted, as WiFi modems (Zimodem) take it
// (D"host:port", DT"host:port"), it is the text between the quotes as it
// is, the closing quote optional at the line's end, and the commands after
// the closing quote (an optional ';' first) are run as on any line.
//
// What it names is decided later (Phonebook.Resolve): a string made of
// digits and dial punctuation is a telephone number, anything else a name,
// an address or a line URL. The interpreter rejects only what can name
// nothing: a string with no digit, letter or address in it (ATDT,,,) and
// a host:port whose port is not 1..65535.

// dialString reads the dial string of a D command whose argument starts at
// src[p]. end is where the commands after it start: len(src) for an
// unquoted string, which takes the rest of the line.
func dialString(src []byte, p int) (s string, quoted bool, end int) {
	i := skipSpaces(src, p)
	if i < len(src) && strings.IndexByte("TtPp", src[i]) >= 0 {
		if j := skipSpaces(src, i+1); j < len(src) && src[j] == '"' {
			i = j
		}
	}
	if i < len(src) && src[i] == '"' {
		rest := src[i+1:]
		k := bytes.IndexByte(rest, '"')
		if k < 0 {
			return string(rest), true, len(src)
		}
		return string(rest[:k]), true, i + 1 + k + 1
	}
	return dialTarget(unquotedDial(src, p)), false, len(src)
}

// unquotedDial is an unquoted dial string as the DTE typed it, from src[p]
// to the line's end: without its spaces and a final ';', its tone or
// pulse letter (which dialTarget drops) still there.
func unquotedDial(src []byte, p int) string {
	var b strings.Builder
	for _, c := range src[p:] {
		if c != ' ' {
			b.WriteByte(c)
		}
	}
	return strings.TrimSuffix(b.String(), ";")
}

func skipSpaces(src []byte, i int) int {
	for i < len(src) && src[i] == ' ' {
		i++
	}
	return i
}

// dialTarget strips the Hayes tone/pulse modifier from a dial string
// unless it is the first letter of a line URL's scheme.
func dialTarget(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case 'T', 't', 'P', 'p':
		if isURLScheme(s) && !isURLScheme(s[1:]) {
			return s
		}
		return s[1:]
	}
	return s
}

func isURLScheme(s string) bool {
	for _, sc := range []string{"tcp://", "telnet://", "tls://", "telnets://", "ws://", "wss://"} {
		if len(s) >= len(sc) && equalFold(s[:len(sc)], sc) {
			return true
		}
	}
	return false
}

// dialable reports whether s, a dial string as dialString returned it,
// may name something: it is not empty, not only dial punctuation
// (ATDT,,,), and not a host:port (with or without a user or a line URL's
// scheme) whose port is not a number 1..65535.
func dialable(s string) bool {
	if onlyPunct(s) {
		return false
	}
	if _, ok := digitsOnly(s); ok {
		return true
	}
	_, rest, _ := splitDialUser(s)
	if i := strings.Index(rest, "://"); i >= 0 {
		rest, _, _ = strings.Cut(rest[i+3:], "/")
	}
	_, port, err := net.SplitHostPort(rest)
	return err != nil || validPort(port) // no port: Resolve decides
}

// validPort reports whether port is a TCP port number, 1..65535, in
// decimal digits.
func validPort(port string) bool {
	if port == "" || strings.Trim(port, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// dialPunct reports whether c is punctuation people type in telephone
// numbers or a Hayes dial modifier (V.250 6.3.1: T, P, W, ',', '!', '@';
// '/' and '$' from Hayes modems), which a number's digits are matched
// without.
func dialPunct(c byte) bool {
	switch c {
	case '-', '(', ')', '.', '+', ',', '!', '/', '$', '@', 'T', 't', 'P', 'p', 'W', 'w':
		return true
	}
	return false
}

func onlyPunct(s string) bool {
	for i := 0; i < len(s); i++ {
		if !dialPunct(s[i]) {
			return false
		}
	}
	return true
}

// digitsOnly reports whether s is a telephone number (digits, '*' and
// '#', with dial punctuation and modifiers anywhere) and returns its
// digits.
func digitsOnly(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#':
			b.WriteByte(c)
		case dialPunct(c):
		default:
			return "", false
		}
	}
	return b.String(), b.Len() > 0
}
