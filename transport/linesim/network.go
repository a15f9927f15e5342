package linesim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/dialgate/dialgate/transport"
)

// ErrNoListener is returned by Network.Dial for a name nobody listens on
// (the simulated "connection refused").
var ErrNoListener = errors.New("linesim: no listener")

// ErrNameInUse is returned by Network.Listen for a name already taken.
var ErrNameInUse = errors.New("linesim: name already in use")

// Network is an in-memory switchboard of named listeners, for in-process
// end-to-end tests: Dial connects to the Listener of that name through a
// new pair of simulated lines. It implements transport.Dialer. The zero
// value is not usable; call NewNetwork.
type Network struct {
	mu        sync.Mutex
	listeners map[string]*listener
	cfg       Config
	calls     int64
}

var _ transport.Dialer = (*Network)(nil)

// NewNetwork returns a network whose calls are perfect lines until
// SetConfig says otherwise.
func NewNetwork() *Network {
	return &Network{listeners: map[string]*listener{}, cfg: Config{Seed: 1}}
}

// SetConfig sets the configuration of the pairs made by later calls. With
// a non-zero Seed, call number k (counting from 1 over the network's life)
// uses Seed+k-1, so every call is impaired differently and reproducibly.
// The dialing end is line a of the pair, the answering end line b.
func (n *Network) SetConfig(cfg Config) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cfg = cfg
}

// Listen starts answering calls to name.
func (n *Network) Listen(name string) (transport.Listener, error) {
	name = strings.TrimPrefix(name, "sim://")
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.listeners[name]; dup {
		return nil, fmt.Errorf("%w: %q", ErrNameInUse, name)
	}
	l := &listener{net: n, name: name, incoming: make(chan *Line), done: make(chan struct{})}
	n.listeners[name] = l
	return l, nil
}

// Dial calls the listener named address (with or without a "sim://"
// prefix) and returns the caller's end once the listener has accepted the
// call. ctx bounds the wait for Accept.
func (n *Network) Dial(ctx context.Context, address string) (transport.Line, error) {
	name := strings.TrimPrefix(address, "sim://")
	n.mu.Lock()
	l := n.listeners[name]
	n.calls++
	call := n.calls
	cfg := n.cfg
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("%w at %q", ErrNoListener, name)
	}
	if cfg.Seed != 0 {
		cfg.Seed += call - 1
	}
	caller := fmt.Sprintf("caller-%d", call)
	cfg.Name = name
	a, b := NewPair(cfg)
	a.info.LocalAddr, a.info.RemoteAddr = caller, name
	b.info.LocalAddr, b.info.RemoteAddr = name, caller
	select {
	case l.incoming <- b:
		return a, nil
	case <-l.done:
		err := fmt.Errorf("%w at %q (listener closed)", ErrNoListener, name)
		a.Close()
		b.Close()
		return nil, err
	case <-ctx.Done():
		a.Close()
		b.Close()
		return nil, fmt.Errorf("linesim: dial %q: %w", name, ctx.Err())
	}
}

type listener struct {
	net       *Network
	name      string
	incoming  chan *Line
	done      chan struct{}
	closeOnce sync.Once
}

// Accept waits for the next call.
func (l *listener) Accept(ctx context.Context) (transport.Line, error) {
	select {
	case line := <-l.incoming:
		return line, nil
	case <-l.done:
		return nil, fmt.Errorf("linesim: listener %q: %w", l.name, net.ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Addr returns "sim://" and the name.
func (l *listener) Addr() string { return "sim://" + l.name }

// Close stops answering; the name becomes free. Lines already accepted are
// not affected; pending Dials fail with ErrNoListener.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.net.mu.Lock()
		if l.net.listeners[l.name] == l {
			delete(l.net.listeners, l.name)
		}
		l.net.mu.Unlock()
		close(l.done)
	})
	return nil
}
