package web

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// ErrBadOption is wrapped by Handler for an invalid Options field.
var ErrBadOption = errors.New("web: bad option")

// DefaultLinePath is the WebSocket line path the page connects to unless
// told otherwise (the demo gateway's ws listener answers on it).
const DefaultLinePath = "/line"

// Charsets the page can decode the line with.
const (
	CharsetUTF8  = "utf-8"
	CharsetCP437 = "cp437" // IBM PC code page 437, for ANSI BBS art
)

// Options configure the page.
type Options struct {
	// LinePath is the path of the WebSocket line on the page's own origin
	// (default DefaultLinePath). It must start with one "/" and hold no
	// query, fragment, backslash, space or control character.
	LinePath string
	// Charset is the default character set, CharsetUTF8 (default) or
	// CharsetCP437. The user can switch; the page remembers the choice.
	Charset string
	// Mode is the default login, ModeText (default) or ModeV42; the
	// page's "mode" query parameter overrides it.
	Mode string
	// Name is the gateway's name (gateway_name), the page's title and
	// the name in its toolbar; "" leaves the page's own, "dialgate".
	Name string
}

// Logins the page offers.
const (
	// ModeText: the gateway's text login, typed into the terminal.
	ModeText = "text"
	// ModeV42: V.42 with Access Security run in the page by
	// dialgate.wasm (web/wasm), with the gateway's host key pinned in the
	// browser's local storage. The page starts LAPM at once, without
	// the detection pattern: a listener with v42 = "lapm" takes it, and
	// so does one with v42 = "detect", whose detection sees the opening
	// flags (docs/browser.md).
	ModeV42 = "v42"
)

// The placeholders in index.html that the handler fills in.
const (
	metaLine    = `<meta name="dialgate-line" content="/line">`
	metaCharset = `<meta name="dialgate-charset" content="utf-8">`
	metaMode    = `<meta name="dialgate-mode" content="text">`
	metaNonce   = `<meta name="dialgate-style-nonce" content="">`
	pageTitle   = `<title>dialgate terminal</title>`
	pageName    = `<h1 class="name">dialgate</h1>`
)

type asset struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

// gzipMin is the size from which an asset is sent compressed.
const gzipMin = 32 << 10

// gzipCache holds the compressed embedded assets, made on first demand and
// shared by every handler (the embedded files never change).
var gzipCache sync.Map // name -> func() []byte (sync.OnceValue)

func (a *asset) gzipped() []byte {
	f, _ := gzipCache.LoadOrStore(a.name, sync.OnceValue(func() []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		_, _ = zw.Write(a.body)
		if zw.Close() != nil || b.Len() >= len(a.body) {
			return nil
		}
		return b.Bytes()
	}))
	return f.(func() []byte)()
}

type handler struct {
	// page is index.html split around the line meta tag's content
	// (per request: see relativeLinePath) and the nonce's.
	pageHead, pageMid, pageTail []byte
	linePath                    string
	assets                      map[string]*asset
}

// Handler returns the http.Handler serving the terminal page at "/" (and
// "/index.html") and its assets (app.js, app.css, favicon.svg,
// licenses.txt, and the V.42 caller dialgate.wasm with Go's wasm_exec.js)
// next to it; every other path is 404, every method but GET and HEAD 405.
// Large assets are sent gzip-compressed to browsers that accept it. Mount
// it at "/" of the mux that serves the line, or under a prefix with
// http.StripPrefix (the page refers to its assets by relative URLs). The
// page finds the line by a path relative to itself, worked out from the
// request as the server received it (RequestURI), so both keep working
// behind a reverse proxy that serves them under a path prefix and strips
// it (the page at /bbs/ connects to /bbs/line).
func Handler(opts Options) (http.Handler, error) {
	if opts.LinePath == "" {
		opts.LinePath = DefaultLinePath
	}
	if !validLinePath(opts.LinePath) {
		return nil, fmt.Errorf("%w: line path %q: want an absolute path on this origin such as /line", ErrBadOption, opts.LinePath)
	}
	switch opts.Mode {
	case "":
		opts.Mode = ModeText
	case ModeText, ModeV42:
	default:
		return nil, fmt.Errorf("%w: mode %q: want %q or %q", ErrBadOption, opts.Mode, ModeText, ModeV42)
	}
	switch opts.Charset {
	case "":
		opts.Charset = CharsetUTF8
	case CharsetUTF8, CharsetCP437:
	default:
		return nil, fmt.Errorf("%w: charset %q: want %q or %q", ErrBadOption, opts.Charset, CharsetUTF8, CharsetCP437)
	}
	return newHandler(static, opts)
}

func newHandler(fsys embed.FS, opts Options) (*handler, error) {
	h := &handler{assets: map[string]*asset{}, linePath: opts.LinePath}
	index, err := fs.ReadFile(fsys, "static/index.html")
	if err != nil {
		return nil, fmt.Errorf("web: embedded page: %w", err)
	}
	reps := []struct{ old, new string }{
		{metaCharset, `<meta name="dialgate-charset" content="` + opts.Charset + `">`},
		{metaMode, `<meta name="dialgate-mode" content="` + opts.Mode + `">`},
	}
	if opts.Name != "" {
		name := html.EscapeString(opts.Name)
		reps = append(reps, struct{ old, new string }{pageTitle, "<title>" + name + "</title>"},
			struct{ old, new string }{pageName, `<h1 class="name">` + name + "</h1>"})
	}
	for _, r := range reps {
		if bytes.Count(index, []byte(r.old)) != 1 {
			return nil, fmt.Errorf("web: embedded page lacks %s", r.old)
		}
		index = bytes.Replace(index, []byte(r.old), []byte(r.new), 1)
	}
	var cuts [2]int // where the line path and the nonce go
	for k, m := range []struct{ tag, content string }{{metaLine, "/line"}, {metaNonce, ""}} {
		i := bytes.Index(index, []byte(m.tag))
		if i < 0 || bytes.Count(index, []byte(m.tag)) != 1 {
			return nil, fmt.Errorf("web: embedded page lacks %s", m.tag)
		}
		cuts[k] = i + len(m.tag) - len(`">`) - len(m.content)
	}
	if cuts[0] > cuts[1] {
		return nil, fmt.Errorf("web: embedded page has %s after %s", metaLine, metaNonce)
	}
	h.pageHead = index[:cuts[0]]
	h.pageMid = index[cuts[0]+len("/line") : cuts[1]]
	h.pageTail = index[cuts[1]:]

	for _, name := range []string{"app.js", "app.css", "licenses.txt", "favicon.svg", "wasm_exec.js", "dialgate.wasm"} {
		b, err := fs.ReadFile(fsys, "static/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: embedded asset: %w", err)
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(name))
		switch path.Ext(name) { // not every system's MIME table knows these
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".txt":
			ctype = "text/plain; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		case ".wasm":
			ctype = "application/wasm" // WebAssembly.instantiateStreaming insists
		}
		h.assets["/"+name] = &asset{name: name, body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return h, nil
}

// validLinePath mirrors validPath in web/ui/src/config.js: an absolute
// path of RFC 3986 path characters (§3.3: unreserved, pct-encoded,
// sub-delims, ":", "@", "/"), not starting with "//" (which would name
// another host).
func validLinePath(p string) bool {
	if len(p) == 0 || len(p) > 256 || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	for _, c := range []byte(p) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=:@%/", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// relativeLinePath is linePath (absolute on the server) relative to the
// page at reqPath, the request's path as the server received it: "./line"
// for a page at "/", "../line" for one at "/term/" (a handler mounted with
// http.StripPrefix). The browser resolves it against the page's address,
// so a reverse proxy that serves the page under a prefix and strips it
// leads the page to the line under the same prefix. It falls back to
// linePath when the relative form would be longer than the page accepts
// (web/ui/src/config.js validPath).
func relativeLinePath(reqPath, linePath string) string {
	dir := reqPath[:strings.LastIndexByte(reqPath, '/')+1]
	rel := "./"
	if depth := strings.Count(dir, "/") - 1; depth > 0 {
		rel = strings.Repeat("../", depth)
	}
	rel += strings.TrimPrefix(linePath, "/")
	if len(rel) > 256 {
		return linePath
	}
	return rel
}

// requestPath is the path of r as the server received it, before any
// http.StripPrefix.
func requestPath(r *http.Request) string {
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		return u.EscapedPath()
	}
	return r.URL.EscapedPath()
}

// secureContext reports whether the browser treats the page's origin as
// potentially trustworthy (W3C Secure Contexts §3.1): https (here, or at
// a TLS reverse proxy that says so), or a loopback host. Elsewhere it
// ignores Cross-Origin-Opener-Policy and logs a console error about it.
func secureContext(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hstsMaxAge is the Strict-Transport-Security lifetime (RFC 6797 §6.1.1)
// sent on TLS: one year.
const hstsMaxAge = "max-age=31536000"

// csp is the page's Content-Security-Policy for a style nonce.
func csp(nonce string) string {
	n := "'nonce-" + nonce + "'"
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self' 'wasm-unsafe-eval'", // WebAssembly compilation only; no eval
		"style-src 'self' " + n,
		"style-src-elem 'self' " + n,
		"style-src-attr 'unsafe-inline'",
		"img-src 'self'",
		"font-src 'self'",
		"connect-src 'self'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if secureContext(r) {
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	}
	if r.TLS != nil {
		hd.Set("Strict-Transport-Security", hstsMaxAge)
	}
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Content-Security-Policy", "default-src 'none'")
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "web: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/" || r.URL.Path == "/index.html" {
		h.servePage(w, r)
		return
	}
	hd.Set("Content-Security-Policy", "default-src 'none'")
	a, ok := h.assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", "no-cache")
	body, etag := a.body, a.etag
	if len(a.body) >= gzipMin {
		hd.Add("Vary", "Accept-Encoding")
		if gz := a.gzipped(); gz != nil && acceptsGzip(r) {
			body, etag = gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304 and handles HEAD and
	// Range.
	http.ServeContent(w, r, "", zeroTime, bytes.NewReader(body))
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		http.Error(w, "web: no randomness for the page", http.StatusInternalServerError)
		return
	}
	nonce := base64.RawURLEncoding.EncodeToString(raw[:])
	line := html.EscapeString(relativeLinePath(requestPath(r), h.linePath))
	body := make([]byte, 0, len(h.pageHead)+len(line)+len(h.pageMid)+len(nonce)+len(h.pageTail))
	body = append(append(body, h.pageHead...), line...)
	body = append(append(append(body, h.pageMid...), nonce...), h.pageTail...)

	hd := w.Header()
	hd.Set("Content-Security-Policy", csp(nonce))
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// zeroTime makes ServeContent skip Last-Modified (the ETag identifies the
// content).
var zeroTime = time.Time{}

// dropOWS removes optional white space (RFC 9110 §5.6.3).
var dropOWS = strings.NewReplacer(" ", "", "\t", "")

// acceptsGzip reports whether the request's Accept-Encoding (RFC 9110
// §12.5.3) admits gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			// The weight's "q" is case-insensitive, and OWS is spaces
			// or tabs; "0." is zero too (§12.4.2).
			q, ok := strings.CutPrefix(strings.ToLower(dropOWS.Replace(params)), "q=")
			return !ok || !(q == "0" || strings.HasPrefix(q, "0.") && len(q) <= 5 && strings.Trim(q[2:], "0") == "")
		}
	}
	return false
}
