package ws

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Bounds in time on an HTTP exchange that is not a line (a page, an
// asset, a 404, a refused upgrade). Together with HTTPReadHeaderTimeout
// and HTTPIdleTimeout they bound every moment of such a connection, so
// that a client cannot hold one of the MaxConns slots for as long as it
// likes. A Listen server applies them; a server that mounts a Listener
// elsewhere sets ReadTimeout to HTTPReadTimeout and wraps its handler
// with Listener.BoundResponses. A line is not affected: the upgrade
// clears the connection's deadlines (gorilla/websocket's Upgrade does
// so after the hijack), and from then on the line's own timers apply.
const (
	// HTTPReadTimeout bounds reading a whole request, header and body,
	// from its first octet. No handler here reads a body, but net/http
	// reads up to 256 KiB of an unread one after the handler (to keep
	// the connection), so a client announcing a body and sending it
	// slowly held the connection for ever. (A response outlasting it
	// is not cut: the deadline only ends the request's context, which
	// none of these handlers uses.)
	HTTPReadTimeout = 20 * time.Second
	// HTTPWriteChunk and HTTPWriteStallTimeout are the progress a
	// response must make: each write of at most HTTPWriteChunk octets
	// must be taken by the kernel within HTTPWriteStallTimeout, or the
	// connection is closed. A client reading less than 1.6 KiB/s is
	// cut; a phone at 1 Mbit/s, which takes the 4.5 MB dialgate.wasm
	// in about 40 s, is not, where a flat write timeout short enough to
	// matter would cut it. (The kernel wakes a blocked writer only when
	// a third of the socket's send buffer has drained, so a client
	// that reads slower than its network allows must drain that much
	// within the bound; one limited by its network drains it in about
	// a round trip.)
	HTTPWriteChunk        = 32 << 10
	HTTPWriteStallTimeout = 20 * time.Second
	// HTTPResponseTimeout bounds a whole response however steadily it
	// progresses: the uncompressed 4.5 MB dialgate.wasm needs 7.5 KB/s
	// for it (60 kbit/s), its gzip form (1.3 MB, what browsers get)
	// 2.2 KB/s.
	HTTPResponseTimeout = 10 * time.Minute
)

// The bounds of a Listen server, variables for tests.
var (
	httpReadTimeout     = HTTPReadTimeout
	httpStallTimeout    = HTTPWriteStallTimeout
	httpResponseTimeout = HTTPResponseTimeout
)

// BoundResponses returns h with its responses bounded: every write of
// at most HTTPWriteChunk octets gets stall to reach the client, the whole
// response total (zero: HTTPWriteStallTimeout, HTTPResponseTimeout). A
// response that does not keep up is cut (its connection closed), with
// one log line. A response written in one piece, or by net/http after
// the handler (the header and the last buffered octets), gets stall too.
// Upgrades pass through: the ResponseWriter h sees can be hijacked, and
// the upgrade clears the deadline. The server's connections must support
// deadlines (http.ResponseController); without them responses are not
// bounded.
func (l *Listener) BoundResponses(h http.Handler, stall, total time.Duration) http.Handler {
	if stall <= 0 {
		stall = HTTPWriteStallTimeout
	}
	if total <= 0 {
		total = HTTPResponseTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := &boundedWriter{
			ResponseWriter: w, rc: http.NewResponseController(w), l: l, r: r,
			stall: stall, total: total, end: time.Now().Add(total),
		}
		bw.renew()
		h.ServeHTTP(bw, r)
	})
}

// boundedWriter renews the write deadline before each chunk it writes.
// It does not implement io.ReaderFrom, so io.Copy (http.ServeContent)
// writes through Write, 32 KiB at a time.
type boundedWriter struct {
	http.ResponseWriter
	rc           *http.ResponseController
	l            *Listener
	r            *http.Request
	stall, total time.Duration
	end          time.Time
	written      int64
	logged       bool
}

// renew sets the write deadline for the next chunk: stall from now, but
// not beyond the whole response's end.
func (w *boundedWriter) renew() {
	d := time.Now().Add(w.stall)
	if d.After(w.end) {
		d = w.end
	}
	_ = w.rc.SetWriteDeadline(d)
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		k := min(len(p), HTTPWriteChunk)
		w.renew()
		m, err := w.ResponseWriter.Write(p[:k])
		n += m
		w.written += int64(m)
		if err != nil {
			w.cut(err)
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// cut logs, once per response, why it was cut; other write errors (the
// client went away) are not logged.
func (w *boundedWriter) cut(err error) {
	if w.logged || !errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	w.logged = true
	why := fmt.Sprintf("the client took less than %d KiB in %v", HTTPWriteChunk>>10, w.stall)
	if !time.Now().Before(w.end) {
		why = fmt.Sprintf("the response took longer than %v", w.total)
	}
	w.l.logf("ws: %s: %s %.100q: response cut after %d octets: %s", w.r.RemoteAddr, w.r.Method, w.r.URL.Path, w.written, why)
}

// Flush sends what is buffered, under the same bound as a chunk.
func (w *boundedWriter) Flush() {
	w.renew()
	if err := w.rc.Flush(); err != nil {
		w.cut(err)
	}
}

// Hijack hands over the connection (the WebSocket upgrade), which is
// then no longer bounded here.
func (w *boundedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.rc.Hijack()
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *boundedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
