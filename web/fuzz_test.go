package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAcceptsGzip feeds Accept-Encoding values (untrusted header text) to
// the parser: it must not panic, and it may only say yes when the value
// names gzip.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "br, GZIP ; q=0.5", "identity", "", ",,;;", "gzip;q=0.000, deflate"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := &http.Request{Header: http.Header{"Accept-Encoding": {v}}}
		if acceptsGzip(r) && !strings.Contains(strings.ToLower(v), "gzip") {
			t.Fatalf("acceptsGzip(%q) = true", v)
		}
	})
}

// FuzzHandlerPath requests arbitrary paths and query strings (untrusted
// request targets): no panic, only 200 for the known files, 404
// otherwise, and the security headers on every response.
func FuzzHandlerPath(f *testing.F) {
	for _, s := range []string{"/", "/index.html", "/app.js", "/../etc/passwd", "/%2e%2e/", "/line", "//x", "/app.js/", "/?line=//evil&mode=v42"} {
		f.Add(s)
	}
	h, err := Handler(Options{})
	if err != nil {
		f.Fatal(err)
	}
	known := map[string]bool{"/": true, "/index.html": true, "/app.js": true, "/app.css": true, "/favicon.svg": true,
		"/licenses.txt": true, "/wasm_exec.js": true, "/dialgate.wasm": true}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := httptest.NewRequest("HEAD", "http://gw.example", nil)
		req.URL = u
		req.RequestURI = target
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := http.StatusNotFound
		if known[u.Path] {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Fatalf("HEAD %q: status %d, want %d", target, rec.Code, want)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Content-Security-Policy") == "" {
			t.Fatalf("HEAD %q: security headers missing: %v", target, rec.Header())
		}
	})
}
