package web

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func newTestHandler(t *testing.T, opts Options) http.Handler {
	t.Helper()
	h, err := Handler(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var nonceRE = regexp.MustCompile(`<meta name="dialgate-style-nonce" content="([A-Za-z0-9_-]+)">`)

func TestPage(t *testing.T) {
	h := newTestHandler(t, Options{})
	for _, p := range []string{"/", "/index.html", "/?line=/other&charset=cp437"} {
		r := get(t, h, "GET", p)
		b := body(t, r)
		if r.StatusCode != 200 {
			t.Fatalf("%s: status %d", p, r.StatusCode)
		}
		if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
		if !strings.Contains(b, `<script defer src="app.js"></script>`) || !strings.Contains(b, `href="app.css"`) {
			t.Errorf("%s: page does not load app.js and app.css:\n%s", p, b)
		}
		if strings.Contains(b, "<script>") || regexp.MustCompile(`<script[^>]*>[^<]`).MatchString(b) || strings.Contains(b, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(b) {
			t.Errorf("%s: inline script or event handler in page:\n%s", p, b)
		}
		m := nonceRE.FindStringSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no style nonce in page:\n%s", p, b)
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "style-src-elem 'self' 'nonce-" + m[1] + "'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		for _, d := range strings.Split(csp, ";") {
			if f := strings.Fields(d); len(f) > 0 && f[0] == "script-src" && strings.Join(f, " ") != "script-src 'self' 'wasm-unsafe-eval'" {
				t.Errorf("%s: CSP %q: scripts not limited to the origin (and WebAssembly)", p, d)
			}
		}
		checkCommonHeaders(t, p, r)
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q", p, cc)
		}
	}
}

func checkCommonHeaders(t *testing.T, p string, r *http.Response) {
	t.Helper()
	for k, v := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", p, k, got, v)
		}
	}
	if r.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("%s: no Content-Security-Policy", p)
	}
}

func TestNonceFreshPerResponse(t *testing.T) {
	h := newTestHandler(t, Options{})
	seen := map[string]bool{}
	for range 20 {
		m := nonceRE.FindStringSubmatch(body(t, get(t, h, "GET", "/")))
		if m == nil || len(m[1]) < 22 {
			t.Fatalf("bad nonce %v", m)
		}
		if seen[m[1]] {
			t.Fatalf("nonce %q repeated", m[1])
		}
		seen[m[1]] = true
	}
}

func TestOptionsInPage(t *testing.T) {
	h := newTestHandler(t, Options{LinePath: "/modem/line-1", Charset: CharsetCP437})
	b := body(t, get(t, h, "GET", "/"))
	for _, want := range []string{
		`<meta name="dialgate-line" content="./modem/line-1">`,
		`<meta name="dialgate-charset" content="cp437">`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("page lacks %s:\n%s", want, b)
		}
	}
	b = body(t, get(t, newTestHandler(t, Options{}), "GET", "/"))
	if !strings.Contains(b, `<meta name="dialgate-line" content="./line">`) || !strings.Contains(b, `<meta name="dialgate-charset" content="utf-8">`) ||
		!strings.Contains(b, "<title>dialgate terminal</title>") || !strings.Contains(b, `<h1 class="name">dialgate</h1>`) {
		t.Errorf("defaults missing from page:\n%s", b)
	}
	// The gateway's name, escaped, is the page's title and toolbar name
	// (browser trial: the page said dialgate whatever gateway_name was).
	b = body(t, get(t, newTestHandler(t, Options{Name: `Café <BBS> & "Co"`}), "GET", "/"))
	for _, want := range []string{
		`<title>Café &lt;BBS&gt; &amp; &#34;Co&#34;</title>`,
		`<h1 class="name">Café &lt;BBS&gt; &amp; &#34;Co&#34;</h1>`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("page lacks %s:\n%s", want, b)
		}
	}
}

// TestPageLandmarks: the page's parts are in landmarks, as assistive
// technology navigates by them (axe-core's region, landmark-one-main
// and page-has-heading-one rules flagged the page on every state in the
// browser trial): the controls in one header (banner), the terminal in
// one main, named, and the gateway's name the page's one heading.
func TestPageLandmarks(t *testing.T) {
	b := body(t, get(t, newTestHandler(t, Options{Name: "Retro BBS"}), "GET", "/"))
	for _, c := range []struct {
		tag  string
		want string
	}{
		{"<header", "<header>"},
		{"<main", `<main id="term" aria-label="terminal">`},
		{"<h1", `<h1 class="name">Retro BBS</h1>`},
	} {
		if n := strings.Count(b, c.tag); n != 1 || !strings.Contains(b, c.want) {
			t.Errorf("page has %d %s elements, want one: %s", n, c.tag, c.want)
		}
	}
	head, _, ok := strings.Cut(b, "</header>")
	if !ok || !strings.Contains(head, `id="bar"`) || !strings.Contains(head, `id="login"`) || !strings.Contains(head, `id="softkeys"`) {
		t.Errorf("the toolbar, login form and keys are not all in the header:\n%s", b)
	}
}

// TestPagePhoneKeyboard: the page asks a phone to shrink the page, not
// only the visible part of it, while its on-screen keyboard is up
// (Chrome for Android since 108: interactive-widget), so that the
// toolbar and the row of keys a phone's keyboard lacks stay in view
// with the terminal fitted above the keyboard (browser trial: they
// scrolled out of view as the user typed). Other browsers ignore it.
func TestPagePhoneKeyboard(t *testing.T) {
	b := body(t, get(t, newTestHandler(t, Options{}), "GET", "/"))
	if !strings.Contains(b, `<meta name="viewport" content="width=device-width, initial-scale=1, interactive-widget=resizes-content">`) {
		t.Errorf("viewport meta without interactive-widget=resizes-content:\n%.400s", b)
	}
}

// TestLinePathRelative: the page names the line relative to itself, so
// that it follows the page under a path prefix: one a reverse proxy
// strips (the server sees "/", the browser resolves ./line under /bbs/)
// and one http.StripPrefix strips (the server sees /term/, the line is
// at /line).
func TestLinePathRelative(t *testing.T) {
	h := newTestHandler(t, Options{LinePath: "/line"})
	mux := http.NewServeMux()
	mux.Handle("/term/", http.StripPrefix("/term", h))
	mux.Handle("/", h)
	for target, want := range map[string]string{
		"/":                  "./line",
		"/index.html":        "./line",
		"/?mode=v42":         "./line",
		"/term/":             "../line",
		"/term/index.html":   "../line",
		"http://gw.example/": "./line", // absolute-form request target
	} {
		b := body(t, get(t, mux, "GET", target))
		if tag := `<meta name="dialgate-line" content="` + want + `">`; !strings.Contains(b, tag) {
			t.Errorf("GET %s: page lacks %s", target, tag)
		}
	}
	for _, c := range []struct{ req, line, want string }{
		{"/", "/ws/line", "./ws/line"},
		{"/a/b/", "/line", "../../line"},
		{"/a%2Fb/", "/line", "../line"},
		{"/" + strings.Repeat("a/", 100), "/line", "/line"}, // too long: absolute
	} {
		if got := relativeLinePath(c.req, c.line); got != c.want {
			t.Errorf("relativeLinePath(%q, %q) = %q, want %q", c.req, c.line, got, c.want)
		}
	}
}

// TestContextHeaders: Cross-Origin-Opener-Policy only where the browser
// applies it (a secure context: https, a TLS proxy's X-Forwarded-Proto,
// loopback), Strict-Transport-Security only over TLS.
func TestContextHeaders(t *testing.T) {
	for _, c := range []struct {
		target    string
		hdr       []string
		coop, sts bool
	}{
		{"https://bbs.example.org/", nil, true, true},
		{"https://192.0.2.1:8443/app.js", nil, true, true},
		{"http://bbs.example.org/", nil, false, false},
		{"http://192.0.2.1:8080/", nil, false, false},
		{"http://bbs.example.org/", []string{"X-Forwarded-Proto", "https"}, true, false},
		{"http://127.0.0.1:8080/", nil, true, false},
		{"http://[::1]:8080/", nil, true, false},
		{"http://localhost:8080/app.css", nil, true, false},
	} {
		r := get(t, newTestHandler(t, Options{}), "GET", c.target, c.hdr...)
		if got := r.Header.Get("Cross-Origin-Opener-Policy") == "same-origin"; got != c.coop {
			t.Errorf("GET %s %v: COOP %v, want %v", c.target, c.hdr, got, c.coop)
		}
		if got := r.Header.Get("Strict-Transport-Security"); (got == hstsMaxAge) != c.sts || (got != "" && got != hstsMaxAge) {
			t.Errorf("GET %s %v: Strict-Transport-Security %q, want it %v", c.target, c.hdr, got, c.sts)
		}
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{LinePath: "line"},
		{LinePath: "//evil.example/line"},
		{LinePath: "/a\\b"},
		{LinePath: "/a?b=1"},
		{LinePath: "/a#b"},
		{LinePath: "/a b"},
		{LinePath: "/a\"><script>"},
		{LinePath: "/" + strings.Repeat("a", 300)},
		{Charset: "latin1"},
	} {
		if _, err := Handler(o); !errors.Is(err, ErrBadOption) || !strings.HasPrefix(err.Error(), "web: ") {
			t.Errorf("Handler(%+v) = %v, want ErrBadOption", o, err)
		}
	}
}

func TestAssets(t *testing.T) {
	h := newTestHandler(t, Options{})
	for p, ct := range map[string]string{
		"/app.js":        "text/javascript; charset=utf-8",
		"/app.css":       "text/css; charset=utf-8",
		"/licenses.txt":  "text/plain; charset=utf-8",
		"/favicon.svg":   "image/svg+xml",
		"/wasm_exec.js":  "text/javascript; charset=utf-8",
		"/dialgate.wasm": "application/wasm",
	} {
		r := get(t, h, "GET", p)
		b := body(t, r)
		if r.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("%s: status %d, %d bytes", p, r.StatusCode, len(b))
		}
		if got := r.Header.Get("Content-Type"); got != ct {
			t.Errorf("%s: Content-Type %q, want %q", p, got, ct)
		}
		checkCommonHeaders(t, p, r)
		etag := r.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", p)
		}
		if r := get(t, h, "GET", p, "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
			t.Errorf("%s: If-None-Match: status %d, want 304", p, r.StatusCode)
		}
		if r := get(t, h, "HEAD", p); r.StatusCode != 200 || body(t, r) != "" {
			t.Errorf("%s: HEAD: status %d", p, r.StatusCode)
		}
	}
	if b := body(t, get(t, h, "GET", "/licenses.txt")); !strings.Contains(b, "@xterm/xterm") || !strings.Contains(b, "MIT") {
		t.Errorf("licenses.txt does not name xterm.js and its licence:\n%.300s", b)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := newTestHandler(t, Options{})
	for _, p := range []string{"/line", "/static/app.js", "/../go.mod", "/app.js.map", "/favicon.ico", "/index.htm"} {
		r := get(t, h, "GET", p)
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, r.StatusCode)
		}
		checkCommonHeaders(t, p, r)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		r := get(t, h, m, "/")
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: status %d Allow %q", m, r.StatusCode, r.Header.Get("Allow"))
		}
	}
	if r := get(t, h, "HEAD", "/"); r.StatusCode != 200 || body(t, r) != "" {
		t.Errorf("HEAD /: status %d", r.StatusCode)
	}
}

func TestStripPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/term/", http.StripPrefix("/term", newTestHandler(t, Options{})))
	if r := get(t, mux, "GET", "/term/app.js"); r.StatusCode != 200 {
		t.Errorf("/term/app.js: status %d", r.StatusCode)
	}
	if r := get(t, mux, "GET", "/term/"); r.StatusCode != 200 {
		t.Errorf("/term/: status %d", r.StatusCode)
	}
}

func TestGzip(t *testing.T) {
	h := newTestHandler(t, Options{})
	plain := get(t, h, "GET", "/dialgate.wasm")
	pb := body(t, plain)
	if plain.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(pb, "\x00asm") {
		t.Fatalf("without Accept-Encoding: Content-Encoding %q, body starts %q", plain.Header.Get("Content-Encoding"), pb[:min(8, len(pb))])
	}
	for _, ae := range []string{"gzip", "gzip, deflate, br", "br;q=1.0, GZIP;q=0.5"} {
		r := get(t, h, "GET", "/dialgate.wasm", "Accept-Encoding", ae)
		if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q Vary %q", ae, r.Header.Get("Content-Encoding"), r.Header.Get("Vary"))
		}
		if ae == "gzip" { // decompress once: slow under -race
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(zr)
			if err != nil || string(b) != pb {
				t.Fatalf("gzip body differs (%v)", err)
			}
		}
		if r.Header.Get("ETag") == plain.Header.Get("ETag") {
			t.Error("compressed and plain bodies share an ETag")
		}
	}
	for _, ae := range []string{"gzip;q=0", "gzip;Q=0", "gzip;\tq=0", "gzip; q=0.", "br", "identity"} {
		if r := get(t, h, "GET", "/dialgate.wasm", "Accept-Encoding", ae); r.Header.Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q: got Content-Encoding %q", ae, r.Header.Get("Content-Encoding"))
		}
	}
	if r := get(t, h, "GET", "/favicon.svg", "Accept-Encoding", "gzip"); r.Header.Get("Content-Encoding") != "" {
		t.Error("a small asset was compressed")
	}
}

func TestModeOption(t *testing.T) {
	b := body(t, get(t, newTestHandler(t, Options{Mode: ModeV42}), "GET", "/"))
	if !strings.Contains(b, `<meta name="dialgate-mode" content="v42">`) {
		t.Errorf("mode missing from page:\n%s", b)
	}
	if _, err := Handler(Options{Mode: "telnet"}); !errors.Is(err, ErrBadOption) {
		t.Errorf("bad mode accepted: %v", err)
	}
	r := get(t, newTestHandler(t, Options{}), "GET", "/")
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval';") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("CSP %q: want WebAssembly allowed and eval not", csp)
	}
}
