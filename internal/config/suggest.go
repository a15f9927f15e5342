package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Keys lists the keys the configuration file accepts, table by table,
// from the toml tags of Config: "" is the top level, "lines" the [lines]
// table, "listener" and "backend" the elements of [[listener]] and
// [[backend]]. Tables themselves are listed as keys of their parent.
func Keys() map[string][]string {
	out := map[string][]string{}
	var walk func(table string, t reflect.Type)
	walk = func(table string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			out[table] = append(out[table], name)
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Duration]() {
				walk(name, ft)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	return out
}

// tableName is how a table is written in the file: [lines], [[listener]].
func tableName(name string) string {
	if name == "listener" || name == "backend" {
		return "[[" + name + "]]"
	}
	return "[" + name + "]"
}

// unknownKeyHint says what an unknown key at path probably should have
// been: a key of the same table with a similar spelling, the table where
// the key belongs, or a known table of a similar name. "" when nothing
// comes close.
func unknownKeyHint(path []string) string {
	keys := Keys()
	table := ""
	for i, k := range path {
		known := keys[table]
		if slices.Contains(known, k) {
			if _, isTable := keys[k]; isTable && i < len(path)-1 {
				table = k
				continue
			}
			return ""
		}
		if best := closest(k, known); best != "" {
			if _, isTable := keys[best]; isTable {
				return fmt.Sprintf("did you mean %s?", tableName(best))
			}
			return fmt.Sprintf("did you mean %s?", best)
		}
		if i == len(path)-1 {
			var where []string
			for t, ks := range keys {
				if t != "" && t != table && slices.Contains(ks, k) {
					where = append(where, tableName(t))
				}
			}
			if table != "" && slices.Contains(keys[""], k) {
				where = append(where, "the top of the file (before any table)")
			}
			if len(where) > 0 {
				slices.Sort(where)
				return fmt.Sprintf("%s belongs in %s", k, strings.Join(where, " or "))
			}
		}
		return ""
	}
	return ""
}

// closest returns the candidate nearest to s in edit distance, if it is
// near enough to be a typo (at most 2 edits, and fewer than a third of
// the word); "" otherwise.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(s, c)
		if d < bestD && d*3 <= max(len(s), len(c)) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (octets).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
