package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	_ "github.com/dialgate/dialgate/transport/tcp" // tcp:// and telnet:// lines
	"github.com/dialgate/dialgate/transport/ws"
)

// The paths a load client can take to the backend. Each dial returns a
// peer on which the backend protocol (backend.go) can be spoken.
const (
	pathDirect     = "direct"     // TCP straight to the backend
	pathSocat      = "socat"      // TCP through a socat relay
	pathRelay      = "relay"      // TCP through benchpeer relay: Go, splice, no protocol
	pathRaw        = "raw"        // telnet-modem line, text login, gateway, TCP backend
	pathFull       = "full"       // telnet-modem line, V.42 detection, LAPM, Access Security, sealed payloads
	pathWS         = "ws"         // WebSocket line (binary), text login, gateway, TCP backend
	pathWebsockify = "websockify" // WebSocket through websockify to the backend
	pathIdle       = "idle"       // telnet-modem line, text login, gateway, built-in demo backend
	pathIdleFull   = "idle-full"  // as pathFull, but to the built-in demo backend (no backend descriptor in the gateway)
)

// endpoints are the addresses of everything a client may dial.
type endpoints struct {
	backend    string // host:port
	socat      string // host:port
	relay      string // host:port
	text       string // gateway telnet-modem listener without V.42 (host:port)
	modem      string // gateway telnet-modem listener with V.42 detection
	idle       string // gateway telnet-modem listener bridged to the demo backend
	idleFull   string // gateway telnet-modem listener with V.42 detection bridged to the demo backend
	ws         string // gateway ws:// URL
	websockify string // websockify ws:// URL
	user, pass string
}

// fullParams is what the load client offers in LAPM parameter
// negotiation: the largest values lapm supports, as a fast line would.
var fullParams = lapm.LinkParams{N401: 4096, K: 127, FCS32: true}

// peer is a connection to the backend through some path, with the octets
// read past a marker kept for the next Read.
type peer struct {
	rwc     io.ReadWriteCloser
	closers []io.Closer // closed after rwc, in order
	pending []byte
	link    *lapm.Link // full path only
}

func (p *peer) Read(b []byte) (int, error) {
	if len(p.pending) > 0 {
		n := copy(b, p.pending)
		p.pending = p.pending[n:]
		return n, nil
	}
	return p.rwc.Read(b)
}

func (p *peer) Write(b []byte) (int, error) { return p.rwc.Write(b) }

func (p *peer) Close() error {
	err := p.rwc.Close()
	for _, c := range p.closers {
		_ = c.Close()
	}
	return err
}

// errNoV42 is returned when V.42 detection ends without LAPM (T400
// expired: the gateway's ADP did not arrive within 750 ms).
var errNoV42 = errors.New("benchpeer: V.42 detection did not find LAPM")

// errMarker is returned when a marker does not arrive within the limit.
var errMarker = errors.New("benchpeer: expected text did not arrive")

// expect reads until marker has been seen (at most limit octets) and
// keeps what follows it for the next Read.
func (p *peer) expect(marker string, limit int) error {
	var acc []byte
	buf := make([]byte, 4096)
	for {
		if i := bytes.Index(acc, []byte(marker)); i >= 0 {
			p.pending = append(p.pending[:0:0], acc[i+len(marker):]...)
			return nil
		}
		if len(acc) > limit {
			return fmt.Errorf("%w: %q, got %q", errMarker, marker, tail(acc, 80))
		}
		n, err := p.Read(buf)
		acc = append(acc, buf[:n]...)
		if err != nil {
			if i := bytes.Index(acc, []byte(marker)); i >= 0 {
				p.pending = append(p.pending[:0:0], acc[i+len(marker):]...)
				return nil
			}
			return fmt.Errorf("benchpeer: waiting for %q (got %q): %w", marker, tail(acc, 80), err)
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// dial connects through path and sends the backend command cmd; it
// returns once the backend's BEGIN marker has arrived (data flowing). On
// pathIdle the demo backend ignores cmd; dial returns at its menu.
func dial(ctx context.Context, ep *endpoints, path, cmd string) (*peer, error) {
	p, err := connect(ctx, ep, path)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	if path == pathIdle || path == pathIdleFull {
		// The demo backend speaks first and knows no commands: the
		// session is up when its menu has arrived.
		if err := p.expect("Choice: ", 64<<10); err != nil {
			p.Close()
			return nil, fmt.Errorf("benchpeer: %s: %w", path, err)
		}
		return p, nil
	}
	if _, err := io.WriteString(p, cmd+"\n"); err != nil {
		p.Close()
		return nil, fmt.Errorf("benchpeer: %s: sending command: %w", path, err)
	}
	if err := p.expect(beginMarker, 64<<10); err != nil {
		p.Close()
		return nil, fmt.Errorf("benchpeer: %s: %w", path, err)
	}
	if ctx.Err() != nil {
		p.Close()
		return nil, ctx.Err()
	}
	return p, nil
}

// connect establishes the path up to the point where octets reach the
// backend.
func connect(ctx context.Context, ep *endpoints, path string) (*peer, error) {
	var d net.Dialer
	switch path {
	case pathDirect, pathSocat, pathRelay:
		addr := ep.backend
		switch path {
		case pathSocat:
			addr = ep.socat
		case pathRelay:
			addr = ep.relay
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("benchpeer: %s: %w", path, err)
		}
		return &peer{rwc: c}, nil
	case pathRaw, pathIdle:
		addr := ep.text
		if path == pathIdle {
			addr = ep.idle
		}
		line, err := transport.Dial(ctx, "telnet://"+addr)
		if err != nil {
			return nil, fmt.Errorf("benchpeer: %s: %w", path, err)
		}
		p := &peer{rwc: line}
		if err := textLogin(ctx, p, ep); err != nil {
			p.Close()
			return nil, fmt.Errorf("benchpeer: %s: %w", path, err)
		}
		return p, nil
	case pathWS, pathWebsockify:
		addr := ep.ws
		if path == pathWebsockify {
			addr = ep.websockify
		}
		line, err := ws.Dial(ctx, addr, ws.DialOptions{Subprotocol: "binary"})
		if err != nil {
			return nil, fmt.Errorf("benchpeer: %s: %w", path, err)
		}
		p := &peer{rwc: line}
		if path == pathWS {
			if err := textLogin(ctx, p, ep); err != nil {
				p.Close()
				return nil, fmt.Errorf("benchpeer: %s: %w", path, err)
			}
		}
		return p, nil
	case pathFull:
		return connectFull(ctx, ep, ep.modem)
	case pathIdleFull:
		return connectFull(ctx, ep, ep.idleFull)
	}
	return nil, fmt.Errorf("benchpeer: unknown path %q", path)
}

// textLogin answers the gateway's login and password prompts.
func textLogin(ctx context.Context, p *peer, ep *endpoints) error {
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	if err := p.expect("login: ", 4096); err != nil {
		return err
	}
	if _, err := io.WriteString(p, ep.user+"\r\n"); err != nil {
		return err
	}
	if err := p.expect("password: ", 4096); err != nil {
		return err
	}
	_, err := io.WriteString(p, ep.pass+"\r\n")
	return err
}

// connectFull is what gateway dial does on a V.42 call: detection (V.42
// §7.2), LAPM with parameter negotiation, Access Security phases i–iv in
// XID frames, then the data phase with every I-frame payload sealed. addr
// is the gateway's telnet-modem listener (host:port).
func connectFull(ctx context.Context, ep *endpoints, addr string) (*peer, error) {
	line, err := transport.Dial(ctx, "telnet://"+addr)
	if err != nil {
		return nil, fmt.Errorf("benchpeer: full: %w", err)
	}
	res, left, err := lapm.Detect(ctx, line, lapm.Originator)
	if err != nil {
		line.Close()
		return nil, fmt.Errorf("benchpeer: full: detection: %w", err)
	}
	if res != lapm.DetectLAPM {
		line.Close()
		return nil, fmt.Errorf("benchpeer: full: %w: result %v", errNoV42, res)
	}
	link, err := lapm.Open(ctx, line, left, lapm.Config{Role: lapm.Originator, Params: fullParams})
	if err != nil {
		line.Close()
		return nil, fmt.Errorf("benchpeer: full: LAPM: %w", err)
	}
	cr, err := auth.Call(ctx, link, auth.CallerConfig{
		UserID: ep.user, Password: ep.pass, HostName: addr,
		// The gateway was started by this run with a fresh host key.
		CheckHostKey: func([]byte) error { return nil },
	})
	if err != nil {
		link.Close()
		line.Close()
		return nil, fmt.Errorf("benchpeer: full: Access Security: %w", err)
	}
	link.SetTransform(cr.Transform)
	if err := link.Establish(ctx); err != nil {
		link.Close()
		line.Close()
		return nil, fmt.Errorf("benchpeer: full: establish: %w", err)
	}
	return &peer{rwc: link, closers: []io.Closer{line}, link: link}, nil
}
