package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
	"github.com/dialgate/dialgate/transport/ws"
)

// printfLogger adapts zap to the narrow Printf loggers of the transports.
// Their lines are per-connection detail (telnet negotiation, hang-up
// details, refused WebSocket origins) and go to the debug level: the call
// log has one "call ended" line per call, and a connection flood must not
// turn into a log flood.
type printfLogger struct{ s *zap.SugaredLogger }

func (p printfLogger) Printf(format string, args ...any) { p.s.Debugf(format, args...) }

// OpenListener starts answering on a configured listener's address:
// tcp:// and telnet:// with transport/tcp (TLS when tls_cert and tls_key
// are set), ws:// and wss:// with transport/ws (allowed origins, TLS).
func OpenListener(l config.Listener, log *zap.Logger) (transport.Listener, error) {
	if log == nil {
		log = zap.NewNop()
	}
	lg := printfLogger{log.With(zap.String("listener", l.Name)).Sugar()}
	u, err := url.Parse(l.Address)
	if err != nil {
		return nil, fmt.Errorf("bridge: listener %s: %w", l.Name, err)
	}
	switch l.Scheme() {
	case "tcp", "telnet":
		opts := tcp.Options{Telnet: l.TelnetOn(), Logger: lg}
		if l.TLSCert != "" {
			return listenTLS(u.Host, l.TLSCert, l.TLSKey, opts)
		}
		return tcp.Listen(u.Host, opts)
	case "ws", "wss":
		return ws.Listen(l.Address, ws.Options{AllowedOrigins: l.AllowedOrigins, TrustedProxies: l.TrustedProxies, CertFile: l.TLSCert, KeyFile: l.TLSKey, Logger: lg})
	}
	return nil, fmt.Errorf("bridge: listener %s: %w %q", l.Name, transport.ErrUnknownScheme, l.Scheme())
}

// tlsListener answers raw or telnet lines inside TLS.
type tlsListener struct {
	ln     net.Listener
	opts   tcp.Options
	closed atomic.Bool
}

func listenTLS(addr, certFile, keyFile string, opts tcp.Options) (transport.Listener, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("bridge: TLS certificate: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bridge: listen %s: %w", addr, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return &tlsListener{ln: tls.NewListener(ln, cfg), opts: opts}, nil
}

func (l *tlsListener) Accept(ctx context.Context) (transport.Line, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.ln.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			if l.closed.Load() || errors.Is(r.err, net.ErrClosed) {
				return nil, fmt.Errorf("bridge: accept: %w", net.ErrClosed)
			}
			return nil, fmt.Errorf("bridge: accept: %w", r.err)
		}
		return secureLine{tcp.NewLine(r.c, true, l.opts)}, nil
	case <-ctx.Done():
		// Closing the listener is the only way to stop Accept; the
		// server cancels only at shutdown, when it closes it anyway.
		l.Close()
		if r := <-ch; r.c != nil {
			r.c.Close()
		}
		return nil, ctx.Err()
	}
}

func (l *tlsListener) Addr() string {
	s := "tcp"
	if l.opts.Telnet {
		s = "telnet"
	}
	return s + "://" + l.ln.Addr().String()
}

func (l *tlsListener) Close() error {
	l.closed.Store(true)
	return l.ln.Close()
}

// secureLine is a tcp line inside TLS.
type secureLine struct{ *tcp.Line }

func (l secureLine) Info() transport.LineInfo {
	i := l.Line.Info()
	i.Secure = true
	return i
}
