package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"go.uber.org/zap"

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
	LineRate int // the listener's line_rate, bit/s; 0: not paced
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

// Interrupter is implemented by backend sessions that can deliver a
// caller's interrupt, break or abort output: e is
// transport.EventInterrupt (telnet IP), transport.EventBreak (telnet
// BRK, a V.42 break, a WebSocket break) or transport.EventAbortOutput
// (telnet AO). A pty program gets its interrupt character for the first
// two, and its output waiting in the pty is dropped for AO; a telnet
// service gets IP, BRK or AO, the command the caller sent (RFC 854:
// telnetd makes IP its pty's interrupt character and BRK its quit
// character, and flushes its output for AO).
type Interrupter interface {
	Interrupt(e transport.Event) error
}

// backendEcho is implemented by backend sessions that decide who echoes
// what a telnet caller types. The text login leaves the gateway echoing
// (it told the caller WILL ECHO to hide the password, RFC 857), which
// suits a pty, whose tty echoes, and the demo board, which echoes
// itself: backends without backendEcho keep it.
type backendEcho interface {
	// followEcho is called once, before the session's first octet is
	// copied, with set, which has the gateway tell the caller it echoes
	// (on) or not (off, the caller echoes locally). The session may call
	// set then or later, from Read (as a telnet backend turns its own
	// echo on and off); set does not call Read.
	followEcho(set func(on bool))
}

// terminalInput is implemented by backend sessions that hand what the
// caller types to a terminal's input: a pty, and a telnet service the
// gateway sends BINARY to (telnetd passes binary octets to its pty as
// they are). A telnet caller that does not send BINARY ends lines with
// the NVT newline CR LF, which a terminal reads as two Enters; such a
// session gets CR for it (see enterAsCR).
type terminalInput interface {
	// takesEnterAsCR reports whether the session wants the NVT newline
	// as CR now (a telnet service may turn BINARY on or off).
	takesEnterAsCR() bool
}

// nvtCaller is a caller's line that says whether the caller sends as a
// telnet NVT, ending lines with CR LF (tcp.Line: a telnet line without
// BINARY; never a raw one).
type nvtCaller interface{ NVTIn() bool }

// enterAsCR returns r (what a text-login caller types, read from its
// line) so that a CR LF read while the caller does not send BINARY and
// the backend session conn wants it (terminalInput) becomes CR, as
// telnetd makes it for its pty. Other sessions and lines get r as it is.
func enterAsCR(line transport.Line, conn BackendConn, r io.Reader) io.Reader {
	ti, ok := conn.(terminalInput)
	if !ok {
		return r
	}
	nl, ok := lineAs[nvtCaller](line)
	if !ok {
		return r
	}
	return &newlineReader{r: r, want: func() bool { return nl.NVTIn() && ti.takesEnterAsCR() }}
}

// newlineReader drops the LF of each CR LF while want says so, also when
// a read ends between the two.
type newlineReader struct {
	r       io.Reader
	want    func() bool
	afterCR bool // the last octet read was CR
}

func (n *newlineReader) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		if k == 0 {
			return 0, err
		}
		if (n.afterCR && p[0] == '\n' || bytes.Contains(p[:k], []byte("\r\n"))) && n.want() {
			j := 0
			for _, c := range p[:k] {
				if c == '\n' && n.afterCR {
					n.afterCR = false
					continue
				}
				n.afterCR = c == '\r'
				p[j] = c
				j++
			}
			k = j
		} else {
			n.afterCR = p[k-1] == '\r'
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// programEnder is a backend that runs a program and can say how it
// ended, once it has been closed.
type programEnder interface {
	// ProgramEnd is "" when the program exited with status 0 (or has not
	// been reaped), else how it ended: "exit status 3", "signal:
	// segmentation fault".
	ProgramEnd() string
	// ProgramCrashed reports that the program was ended by a signal
	// that the gateway did not send and that means a failure (a crash:
	// SIGSEGV, SIGABRT, ...; SIGKILL, from the OOM killer or someone's
	// kill -9), not a user's interrupt (SIGINT, SIGQUIT) or a
	// termination (SIGHUP, SIGTERM, SIGPIPE).
	ProgramCrashed() bool
}

// MaxWindowDim bounds each dimension, columns and rows, of the terminal
// size a backend is given. A caller announces its window (telnet NAWS,
// RFC 1073; the WebSocket "resize" message) with up to 65535 in each;
// a curses program on a pty sized like that allocates for every cell
// (21.7 GB at 16384x16384, 353 MB at 2048x2048), so one caller could
// drive the machine out of memory. 1024 is wider and taller than any
// real screen's character grid.
const MaxWindowDim = 1024

// boundWindow returns w with its columns and rows each at most
// MaxWindowDim, and whether it changed anything. A size with a
// dimension of zero or less says "unknown" (NAWS allows 0 for that) and
// is returned as it is: backends ignore it.
func boundWindow(w transport.WindowSize) (transport.WindowSize, bool) {
	if w.Cols <= 0 || w.Rows <= 0 || (w.Cols <= MaxWindowDim && w.Rows <= MaxWindowDim) {
		return w, false
	}
	return transport.WindowSize{Cols: min(w.Cols, MaxWindowDim), Rows: min(w.Rows, MaxWindowDim)}, true
}

// windowLimit bounds the window sizes one session hands its backend:
// the size given to Connect and every later Resize pass through it. The
// first size it has to bound is logged at debug level; later ones are
// not, so a caller resizing in a loop cannot flood the log.
type windowLimit struct {
	log  *zap.Logger
	once sync.Once
}

// bound returns w bounded by boundWindow.
func (l *windowLimit) bound(w transport.WindowSize) transport.WindowSize {
	b, changed := boundWindow(w)
	if changed {
		l.once.Do(func() {
			l.log.Debug("caller's window size bounded",
				zap.Int("cols", w.Cols), zap.Int("rows", w.Rows), zap.Int("max", MaxWindowDim))
		})
	}
	return b
}

// wrap returns be with every Resize bounded. The backend's optional
// Interrupter stays visible.
func (l *windowLimit) wrap(be BackendConn) BackendConn {
	bc := boundedConn{BackendConn: be, lim: l}
	if intr, ok := be.(Interrupter); ok {
		return boundedInterrupter{boundedConn: bc, Interrupter: intr}
	}
	return bc
}

type boundedConn struct {
	BackendConn
	lim *windowLimit
}

func (c boundedConn) Resize(w transport.WindowSize) error {
	return c.BackendConn.Resize(c.lim.bound(w))
}

type boundedInterrupter struct {
	boundedConn
	Interrupter
}

// newBackend builds a backend from its configuration.
func newBackend(b config.Backend) (Backend, error) {
	switch b.Type {
	case config.BackendTCP:
		return &tcpBackend{name: b.Name, addr: string(b.Address), proxy: b.ProxyProtocol, timeout: b.ConnectTimeout.Duration, callerEcho: b.Echo == config.EchoCaller}, nil
	case config.BackendTelnet:
		return newTelnetBackend(b)
	case config.BackendPTY:
		return newPTYBackend(b)
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
