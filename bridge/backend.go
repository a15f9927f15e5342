package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/transport"
)

// ErrBackendUnavailable is wrapped when a backend cannot be reached or
// started; the caller is told so and the record says backend-down.
var ErrBackendUnavailable = errors.New("bridge: backend unavailable")

// ErrNoSuchBackend is wrapped when a user or listener names a backend the
// configuration does not define.
var ErrNoSuchBackend = errors.New("bridge: no such backend")

// Session is what a backend learns about the authenticated session.
type Session struct {
	Number   uint64
	User     string
	Listener string
	Remote   string // caller address, host:port as best known
	Local    string // the gateway's address the call came in on
	Term     string // terminal type announced by the caller, "" if unknown
	Window   transport.WindowSize
}

// Backend is a service sessions are bridged to.
type Backend interface {
	// Connect opens one session. ctx bounds the set-up only. Errors wrap
	// ErrBackendUnavailable.
	Connect(ctx context.Context, s Session) (BackendConn, error)
}

// BackendConn is one open backend session.
//
// Read returns io.EOF once the backend has ended the session and every
// octet it sent has been read. CloseWrite tells the backend the caller has
// nothing more to send (after everything written has been delivered).
// Close ends the session at once and releases everything (for a pty:
// SIGHUP, then SIGKILL to the process group, and the child is reaped);
// it is idempotent and unblocks Read and Write.
type BackendConn interface {
	io.ReadWriteCloser
	CloseWrite() error
	// Resize forwards a new terminal size; backends without a terminal
	// ignore it.
	Resize(w transport.WindowSize) error
}

// Interrupter is implemented by backend sessions that can deliver an
// interrupt (telnet IP, a pty's VINTR character).
type Interrupter interface {
	Interrupt() error
}

// newBackend builds a backend from its configuration.
func newBackend(b config.Backend) (Backend, error) {
	switch b.Type {
	case config.BackendTCP:
		return &tcpBackend{name: b.Name, addr: string(b.Address), proxy: b.ProxyProtocol, timeout: b.ConnectTimeout.Duration}, nil
	case config.BackendTelnet:
		return newTelnetBackend(b)
	case config.BackendPTY:
		return &ptyBackend{name: b.Name, argv: b.Command, dir: b.Dir, env: b.Env, term: b.Term}, nil
	case config.BackendDemo:
		return demoBackend{}, nil
	}
	return nil, fmt.Errorf("%w: %q has unknown type %q", ErrNoSuchBackend, b.Name, b.Type)
}

// buildBackends builds every configured backend plus the built-in demo.
func buildBackends(c *config.Config) (map[string]Backend, error) {
	m := map[string]Backend{"demo": demoBackend{}}
	for _, b := range c.Backends {
		be, err := newBackend(b)
		if err != nil {
			return nil, err
		}
		m[b.Name] = be
	}
	return m, nil
}
