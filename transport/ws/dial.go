package ws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/transport"
)

// ErrHandshake is wrapped by Dial when the server refused the upgrade.
var ErrHandshake = errors.New("ws: handshake refused")

// HandshakeError describes a refused upgrade: the server answered with
// something other than 101 Switching Protocols. It unwraps to ErrHandshake.
type HandshakeError struct {
	URL        string
	StatusCode int    // HTTP status of the answer
	Body       string // start of the answer's body, as sent (untrusted)
}

// Error quotes the body: it comes from the server and may hold terminal
// control sequences that must not reach the user's terminal raw.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("ws: dial %s: handshake refused with HTTP %d: %q", e.URL, e.StatusCode, strings.TrimSpace(e.Body))
}

func (e *HandshakeError) Unwrap() error { return ErrHandshake }

// DialOptions configure Dial. Zero values select the defaults.
type DialOptions struct {
	// Subprotocol to offer: "binary", "plain", "base64", or "" to offer
	// none (binary messages).
	Subprotocol string
	// Origin, if set, is sent as the Origin header.
	Origin string
	// TLSConfig for wss:// (nil: system roots, server name from the URL).
	TLSConfig *tls.Config
	// Header holds extra request headers.
	Header http.Header
	// ReadLimit, PingInterval, IdleTimeout, CloseTimeout and Logger are as
	// in Options.
	ReadLimit                               int64
	PingInterval, IdleTimeout, CloseTimeout time.Duration
	Logger                                  Logger
}

// A dialed line masks what it sends (RFC 6455 §5.3), so gorilla/websocket
// copies each message into its write buffer and sends a frame whenever
// that fills: with its default of 4 KiB, a 64 KiB message went out as 16
// frames, each its own write. A buffer that holds a whole message sends
// it as one frame; it is taken from a pool per message, so an idle line
// holds none.
const dialWriteBufSize = maxBinaryMessage // gorilla/websocket adds room for the header

var dialWriteBufs sync.Pool

// Dial places a WebSocket call to address (ws://host:port/path or
// wss://...). ctx bounds the connection set-up only.
func Dial(ctx context.Context, address string, opts DialOptions) (*Line, error) {
	u, err := url.Parse(address)
	if err != nil {
		return nil, fmt.Errorf("ws: dial %q: %w", address, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("ws: dial %q: scheme must be ws or wss", address)
	}
	if opts.Subprotocol != "" && !isSupported(opts.Subprotocol) {
		return nil, fmt.Errorf("ws: dial %q: unknown subprotocol %q (supported: %s)", address, opts.Subprotocol, strings.Join(supported, ", "))
	}
	t, err := resolveTiming(opts.ReadLimit, opts.PingInterval, opts.IdleTimeout, opts.CloseTimeout)
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{
		NetDialContext:   (&net.Dialer{}).DialContext,
		TLSClientConfig:  opts.TLSConfig,
		HandshakeTimeout: 30 * time.Second,
		WriteBufferSize:  dialWriteBufSize,
		WriteBufferPool:  &dialWriteBufs,
	}
	if opts.Subprotocol != "" {
		d.Subprotocols = []string{opts.Subprotocol}
	}
	hdr := opts.Header.Clone()
	if opts.Origin != "" {
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr.Set("Origin", opts.Origin)
	}
	conn, resp, err := d.DialContext(ctx, u.String(), hdr)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return nil, &HandshakeError{URL: u.Redacted(), StatusCode: resp.StatusCode, Body: string(body)}
		}
		return nil, fmt.Errorf("ws: dial %s: %w", u.Redacted(), err)
	}
	if got := conn.Subprotocol(); got != opts.Subprotocol {
		conn.Close()
		return nil, fmt.Errorf("ws: dial %s: server chose subprotocol %q, we offered %q", u.Redacted(), got, opts.Subprotocol)
	}
	nc := conn.NetConn()
	info := transport.LineInfo{
		Transport:  u.Scheme,
		LocalAddr:  nc.LocalAddr().String(),
		RemoteAddr: nc.RemoteAddr().String(),
		Secure:     u.Scheme == "wss",
	}
	return newLine(conn, lineConfig{
		info: info, readLimit: t.readLimit, pingInterval: t.ping,
		idleTimeout: t.idle, closeAfter: t.closeAfter, log: opts.Logger,
	}), nil
}

func init() {
	for _, scheme := range []string{"ws", "wss"} {
		transport.Register(scheme, listenURL, dialURL)
	}
}

// listenURL serves the registry: default options, so wss:// fails with
// ErrNoCertificate (use Listen with Options for certificates).
func listenURL(u *url.URL) (transport.Listener, error) {
	l, err := Listen(u.String(), Options{})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func dialURL(ctx context.Context, u *url.URL) (transport.Line, error) {
	l, err := Dial(ctx, u.String(), DialOptions{})
	if err != nil {
		return nil, err
	}
	return l, nil
}
