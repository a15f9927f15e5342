package bridge

import (
	"context"
	"net"
	"time"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// telnetBackend is a telnet service (RFC 854), reached with a client-side
// telnet line of transport/tcp, which negotiates with the backend. The
// caller's terminal type (RFC 1091) and window size (RFC 1073 NAWS) are
// passed on, and window changes forwarded.
type telnetBackend struct {
	name    string
	addr    string
	proxy   bool
	term    string
	timeout time.Duration
}

func newTelnetBackend(b config.Backend) (Backend, error) {
	return &telnetBackend{name: b.Name, addr: string(b.Address), proxy: b.ProxyProtocol, term: b.Term, timeout: b.ConnectTimeout.Duration}, nil
}

func (b *telnetBackend) Connect(ctx context.Context, s Session) (BackendConn, error) {
	c, err := dialTCP(ctx, b.addr, b.timeout, b.proxy, s)
	if err != nil {
		return nil, err
	}
	term := s.Term
	if term == "" {
		term = b.term
	}
	return newTelnetConn(c, term, s), nil
}

// telnetBackendLinger bounds the close of a telnet backend's connection
// (tcp.Options.Linger): flushing what the gateway queued for it and
// waiting for its FIN. By then the session is over: the backend was
// given backendLinger after the caller hung up, or the gateway ends the
// call (operator, idle or session limit, drain), and a raw tcp backend
// is closed at once. With the line's default (tcp.DefaultLinger, 5 s),
// a telnet backend that never closed its side held every such ending
// 5 s more: the caller heard "NO CARRIER (the operator ended the call)"
// 5.0 s after `gateway hangup` instead of at once, and a caller's
// hang-up ended the call 7 s later instead of backendLinger (leak
// review). A live telnetd answers the FIN within a round trip.
const telnetBackendLinger = 250 * time.Millisecond

// newTelnetConn is the client side of a telnet session with a backend
// over c, announcing term, s's window and s's line rate.
func newTelnetConn(c net.Conn, term string, s Session) *telnetConn {
	// The line's rate as the terminal's speed (TSPEED): telnetd gives it
	// to its pty, where curses programs pad for it (BBS trial).
	ln := tcp.NewLine(c, false, tcp.Options{Telnet: true, TermType: term, Window: s.Window, TermSpeed: s.LineRate, Linger: telnetBackendLinger})
	return &telnetConn{Line: ln}
}

type telnetConn struct {
	*tcp.Line
	// Set by followEcho before the first Read; used by Read only.
	setEcho  func(on bool)
	echoSent bool // echo holds what setEcho was last told
	echo     bool
}

// followEcho passes the backend's ECHO (RFC 857) on to the caller: the
// caller is told the gateway echoes while the backend echoes, and echoes
// locally while it does not (a MUD-style line-mode server, or one that
// never negotiates ECHO). It is decided at the backend's first data and
// followed from then on (a server turning echo off for a password
// prompt and on again), each change sent before the data that came
// after it; a change made while the caller has not yet answered the
// last one reaches it once it has (RFC 1143's queue).
func (c *telnetConn) followEcho(set func(on bool)) { c.setEcho = set }

// Read reads the backend's data and passes on a change of its ECHO.
func (c *telnetConn) Read(p []byte) (int, error) {
	n, err := c.Line.Read(p)
	if c.setEcho != nil && n > 0 {
		if on := c.PeerEchoes(); !c.echoSent || on != c.echo {
			c.echoSent, c.echo = true, on
			c.setEcho(on)
		}
	}
	return n, err
}

// takesEnterAsCR: while the gateway sends BINARY, telnetd hands what it
// gets to its pty as it is (terminalInput).
func (c *telnetConn) takesEnterAsCR() bool {
	_, out := c.Binary()
	return out
}

func (c *telnetConn) Resize(w transport.WindowSize) error { return c.SetWindowSize(w) }

// Interrupt passes a caller's interrupt on as telnet IP, a break as
// telnet BRK and an abort output as AO (RFC 854), followed by DO TIMING-MARK (RFC 860): the output
// the backend made before it, waiting in its socket buffers and the
// gateway's (megabytes on loopback, hours at 2,400 bit/s), is read and
// dropped until the backend's answer, as a telnet client does after an
// interrupt, so that the program's prompt follows at once.
func (c *telnetConn) Interrupt(e transport.Event) error {
	send := c.SendInterrupt
	switch e {
	case transport.EventBreak:
		send = c.SendBreak
	case transport.EventAbortOutput:
		send = c.SendAbortOutput
	}
	if err := send(); err != nil {
		return err
	}
	return c.DiscardToMark()
}
