package config

import (
	"fmt"
	"strings"
)

// locator finds where keys are written in a TOML file, for error positions
// the decoder does not report (unknown keys, cross-key validation). It
// understands table headers, array-of-table headers and dotted keys; keys
// inside inline tables are found by their table's line.
type locator struct {
	lines []string
}

func newLocator(data string) *locator {
	return &locator{lines: strings.Split(data, "\n")}
}

// position turns a byte offset in the file into its 1-based line and
// column; ok is false for an offset outside the file. The decoder's own
// line is one too far when the offending character is a line end (an
// unclosed "[lines" header is reported on the line after it).
func (l *locator) position(offset int) (line, col int, ok bool) {
	if offset < 0 {
		return 0, 0, false
	}
	for i, text := range l.lines {
		if offset <= len(text) { // len(text): the line's '\n'
			return i + 1, offset + 1, true
		}
		offset -= len(text) + 1
	}
	return 0, 0, false
}

type keyLine struct {
	path []string // full dotted path
	line int      // 1-based
	col  int      // 1-based column of the key
	arr  int      // index of the array-of-tables element, -1 if none
}

// scan lists every key assignment in the file with its full path.
func (l *locator) scan() []keyLine {
	var out []keyLine
	var table []string
	arrCount := map[string]int{}
	arr := -1
	for i, raw := range l.lines {
		s := stripComment(raw)
		t := strings.TrimSpace(s)
		switch {
		case t == "":
			continue
		case strings.HasPrefix(t, "[["):
			name := strings.TrimSuffix(strings.TrimPrefix(t, "[["), "]]")
			table = splitKey(name)
			k := strings.Join(table, ".")
			arr = arrCount[k]
			arrCount[k]++
			continue
		case strings.HasPrefix(t, "["):
			name := strings.TrimSuffix(strings.TrimPrefix(t, "["), "]")
			table = splitKey(name)
			arr = -1
			continue
		}
		eq := strings.Index(s, "=")
		if eq < 0 {
			continue
		}
		key := splitKey(s[:eq])
		if len(key) == 0 {
			continue
		}
		col := strings.Index(raw, strings.TrimSpace(s[:eq])) + 1
		path := append(append([]string{}, table...), key...)
		out = append(out, keyLine{path: path, line: i + 1, col: col, arr: arr})
	}
	return out
}

// find returns the position of the key path; index selects the element of
// an array of tables (-1: the first occurrence anywhere).
func (l *locator) find(path []string, index int) Position {
	keys := l.scan()
	for _, kl := range keys {
		if !samePath(kl.path, path) {
			continue
		}
		if index >= 0 && kl.arr != index {
			continue
		}
		return Position{Line: kl.line, Column: kl.col}
	}
	// The key may be a table: find its header.
	want := strings.Join(path, ".")
	for i, raw := range l.lines {
		t := strings.TrimSpace(stripComment(raw))
		t = strings.Trim(t, "[]")
		if strings.Join(splitKey(t), ".") == want {
			return Position{Line: i + 1, Column: strings.Index(raw, "[") + 1}
		}
	}
	// Or a key in an inline table (lines = { holdoff = "x" }): the
	// table's line, at the key where it is written there (operator
	// trial: no line at all).
	for n := len(path) - 1; n >= 1; n-- {
		for _, kl := range keys {
			if !samePath(kl.path, path[:n]) || index >= 0 && kl.arr != index {
				continue
			}
			pos := Position{Line: kl.line, Column: kl.col}
			raw := l.lines[kl.line-1]
			from := kl.col - 1
			for _, seg := range path[n:] {
				if k := strings.Index(raw[from:], seg); k >= 0 {
					from += k
					pos.Column = from + 1
				}
			}
			return pos
		}
	}
	return Position{}
}

// indexKey names key (dotted, as the decoder gives it) with the index
// of the array-of-tables element written at line, when the key's first
// part is such an array: "listener.line_rate" on a line of the second
// [[listener]] is "listener[1].line_rate", as the other problems name it.
func (l *locator) indexKey(key string, line int) string {
	first, rest, dotted := strings.Cut(key, ".")
	if !dotted || line < 1 {
		return key
	}
	for _, kl := range l.scan() {
		if kl.line == line && kl.arr >= 0 && len(kl.path) > 0 && kl.path[0] == first {
			return fmt.Sprintf("%s[%d].%s", first, kl.arr, rest)
		}
	}
	return key
}

// occurrence returns the position of the n-th (0-based) assignment of the
// key path in the file and the index of its array-of-tables element (-1
// when it is in none). A path written only as a table header, or not
// found, falls back to find.
func (l *locator) occurrence(path []string, n int) (Position, int) {
	for _, kl := range l.scan() {
		if !samePath(kl.path, path) {
			continue
		}
		if n == 0 {
			return Position{Line: kl.line, Column: kl.col}, kl.arr
		}
		n--
	}
	return l.find(path, -1), -1
}

// findTable returns the position of the header of element index of an
// array of tables.
func (l *locator) findTable(name string, index int) Position {
	n := 0
	for i, raw := range l.lines {
		t := strings.TrimSpace(stripComment(raw))
		if !strings.HasPrefix(t, "[[") {
			continue
		}
		if strings.Join(splitKey(strings.Trim(t, "[]")), ".") != name {
			continue
		}
		if n == index {
			return Position{Line: i + 1, Column: strings.Index(raw, "[") + 1}
		}
		n++
	}
	return Position{}
}

// isHeader tells whether line n (1-based) is a table header, [name] or
// [[name]].
func (l *locator) isHeader(n int) bool {
	if n < 1 || n > len(l.lines) {
		return false
	}
	return strings.HasPrefix(strings.TrimSpace(stripComment(l.lines[n-1])), "[")
}

// findLine returns the column of the first key on line n (1-based), 0 if
// none.
func (l *locator) findLine(n int) int {
	if n < 1 || n > len(l.lines) {
		return 0
	}
	raw := l.lines[n-1]
	t := strings.TrimLeft(raw, " \t")
	if t == "" {
		return 0
	}
	return len(raw) - len(t) + 1
}

func samePath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// splitKey splits a dotted TOML key, removing quotes and spaces.
func splitKey(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ".") {
		p = strings.TrimSpace(p)
		p = strings.Trim(p, `"'`)
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// stripComment removes a # comment that is not inside a string.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return s[:i]
		}
	}
	return s
}
