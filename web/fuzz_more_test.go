package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzRelativeLinePath feeds arbitrary request paths (the caller's
// request target) and line paths to relativeLinePath. Properties: the
// answer is short enough for the page (or the absolute line path), and a
// browser resolving it against the page's address reaches the line path,
// as it would resolving the absolute one.
func FuzzRelativeLinePath(f *testing.F) {
	for _, s := range [][2]string{
		{"/", "/line"}, {"/index.html", "/line"}, {"/term/", "/line"}, {"/a/b/c/index.html", "/x/line"},
		{"/a//b", "/line"}, {"/a%2Fb/", "/line"}, {"/" + strings.Repeat("d/", 130), "/line"},
		{"/x/", "/a:b@c/%41;x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, reqPath, linePath string) {
		if !validLinePath(linePath) || !strings.HasPrefix(reqPath, "/") {
			return
		}
		line, err := url.Parse(linePath)
		if err != nil {
			return
		}
		page, err := url.Parse("http://gw.example" + reqPath)
		if err != nil || page.EscapedPath() != reqPath || page.RawQuery != "" || page.Fragment != "" || page.ForceQuery {
			return // not a path a browser sends as is
		}
		for _, seg := range strings.Split(reqPath, "/") {
			if seg == "." || seg == ".." {
				return // a browser removes dot segments before it asks
			}
		}
		rel := relativeLinePath(reqPath, linePath)
		if rel != linePath && len(rel) > 256 {
			t.Fatalf("relativeLinePath(%q, %q) = %q, longer than the page takes", reqPath, linePath, rel)
		}
		ref, err := url.Parse(rel)
		if err != nil {
			t.Fatalf("relativeLinePath(%q, %q) = %q: %v", reqPath, linePath, rel, err)
		}
		got, want := page.ResolveReference(ref), page.ResolveReference(line)
		if got.String() != want.String() {
			t.Fatalf("relativeLinePath(%q, %q) = %q leads to %q, want %q", reqPath, linePath, rel, got, want)
		}
	})
}

// FuzzAcceptsGzipReference compares acceptsGzip with a reading of RFC
// 9110 §12.5.3 and §12.4.2 on arbitrary Accept-Encoding values: the first
// "gzip" coding decides, its weight compared case-insensitively ("q" or
// "Q"), spaces or tabs around the ';', and any way of writing zero
// ("0", "0.", "0.0", ..., "0.000") refuses it.
func FuzzAcceptsGzipReference(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "gzip;Q=0", "gzip;\tq=0", "gzip;q=0.", "gzip;q=0.001", "br, GZIP ; q=0.5",
		"deflate;q=0, gzip", "gzip;q=0, gzip", "identity", "*", ""} {
		f.Add(s, "")
	}
	f.Add("br", "gzip;q=0")
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		r := &http.Request{Header: http.Header{"Accept-Encoding": {v1, v2}}}
		if got, want := acceptsGzip(r), referenceAcceptsGzip([]string{v1, v2}); got != want {
			t.Fatalf("acceptsGzip(%q, %q) = %v, want %v", v1, v2, got, want)
		}
	})
}

func referenceAcceptsGzip(values []string) bool {
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			// White space of any kind around an element goes, as
			// acceptsGzip's TrimSpace takes it (real header values
			// hold no CR, LF or VT).
			parts := strings.Split(strings.TrimSpace(elem), ";")
			if !strings.EqualFold(strings.TrimSpace(parts[0]), "gzip") {
				continue
			}
			if len(parts) < 2 {
				return true
			}
			p := strings.ToLower(strings.NewReplacer(" ", "", "\t", "").Replace(strings.Join(parts[1:], ";")))
			q, ok := strings.CutPrefix(p, "q=")
			if !ok {
				return true
			}
			zero := q == "0" || strings.HasPrefix(q, "0.") && len(q) <= 5 && strings.Trim(q[2:], "0") == ""
			return !zero
		}
	}
	return false
}
