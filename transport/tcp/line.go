package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dialgate/dialgate/internal/sockstate"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/proxyproto"
)

// Logger is the narrow logger this package writes to (a *log.Logger or a
// zap SugaredLogger wrapper satisfies it).
type Logger interface {
	Printf(format string, args ...any)
}

// Defaults for Options.
const (
	DefaultLinger    = 5 * time.Second
	DefaultKeepAlive = 30 * time.Second
)

// writeChunk bounds how much of the caller's data one telnet write system
// call carries, so that negotiation replies queued meanwhile go out between
// chunks. A gateway relaying bulk data to a fast line hands it up to 1 MiB
// at a time (bridge: plainWideSize, only once the line has shown that it
// drains faster than any modem), and one system call for those cost the
// gateway less than eight of 32 KiB (docs/BENCHMARKS.md, fourteenth
// session) and less than four of 256 KiB (twenty-seventh session); at
// network speed 1 MiB holds a reply back a few milliseconds at most.
const writeChunk = 1 << 20

// minGatherRun is the shortest average run between escapes (IAC IAC, CR
// NUL) for which a telnet write gathers the caller's runs with writev
// instead of copying the chunk into an encode buffer. Each piece costs the
// kernel about as much as copying 1-2 KiB in user space: gathering random
// data (an IAC every 256 octets on average) cost 30 % more CPU per octet
// in BenchmarkRelay/telnet than copying it, while relaying IAC-free data
// (an LAPM bit stream never has six 1s in a row, so no IAC inside its
// frames) cost 4-10 % less gathered than copied
// (BenchmarkRelay/telnet-noiac, two benchstat runs).
const minGatherRun = 4096

// encodePool holds the buffers of chunks sent by copy. They come from a
// pool so that idle lines hold none. A new one has room for a 32 KiB chunk
// with every octet escaped (a keystroke's echo with a CR NUL takes this
// path, and must not cost a writeChunk-sized allocation after each garbage
// collection); larger chunks grow it.
var encodePool = sync.Pool{New: func() any {
	b := make([]byte, 0, 2*(32<<10)+64)
	return &b
}}

// piecesPool holds the piece lists of chunks sent with writev.
var piecesPool = sync.Pool{New: func() any {
	return &gather{pieces: make([][]byte, 0, 2*(writeChunk/minGatherRun)+2)}
}}

// gather is one writev's list of pieces; bufs is the net.Buffers that
// WriteTo consumes (a field, so that handing it over does not allocate).
type gather struct {
	pieces [][]byte
	bufs   net.Buffers
}

// Options configure a line.
type Options struct {
	// Telnet selects telnet-modem mode; false gives a raw line.
	Telnet bool
	// Open makes a client-side telnet line open the negotiation (DO
	// BINARY, DO SGA) instead of waiting to be asked, for a peer that
	// answers calls and never opens itself: tcpser takes a call for
	// telnet only when its first octet is IAC, and otherwise passes the
	// line's IAC IAC and CR NUL through as data. A callback dials such
	// peers. A server (a BBS, a gateway) opens itself, and a raw service
	// at a telnet address would get the opening as data, so dialling
	// leaves it off.
	Open bool
	// Sniff makes a client-side telnet line decide as tcpser does: it is
	// raw until the peer's first octet, takes the telnet protocol from
	// there if that octet is IAC, and stays raw for the whole call if it
	// is not. A BBS or retro machine behind tcpser's (or another
	// telnet-modem's) listening port never negotiates and takes the call
	// raw; speaking NVT to it (CR NUL, IAC IAC) damages binary transfers.
	// Telnet servers open the negotiation at once and are unaffected. What
	// is written before the first octet arrives goes raw. Open is ignored.
	Sniff bool
	// TermType is the terminal type a client-side telnet line announces
	// when the server asks (RFC 1091); "" answers "UNKNOWN".
	TermType string
	// Window is the window size a client-side telnet line announces when
	// the server agrees to NAWS (RFC 1073); zero announces nothing until
	// SetWindowSize.
	Window transport.WindowSize
	// TermSpeed is the terminal speed, bit/s, a client-side telnet line
	// announces when the server asks (RFC 1079, TSPEED: telnetd sets its
	// pty's speed from it); 0 refuses the option.
	TermSpeed int
	// Logger receives protocol-error and close-time log lines; nil drops them.
	Logger Logger
	// Linger bounds Close: flushing accepted output and waiting for the
	// peer's FIN. 0 means DefaultLinger.
	Linger time.Duration
	// KeepAlive is the TCP keepalive idle time and interval; 0 means
	// DefaultKeepAlive, negative disables keepalive.
	KeepAlive time.Duration
	// MaxSubneg bounds one telnet subnegotiation (longer ones are given
	// up at the bound, see DefaultMaxSubneg); 0 means DefaultMaxSubneg.
	MaxSubneg int
	// Proxied is set, for one line, by a listener that learned the caller
	// from a trusted proxy's PROXY protocol header: Info reports its
	// address (and Secure when the caller reached the proxy over TLS)
	// instead of the connection's peer, with Proxied set.
	Proxied *Peer
}

// Peer is the caller as a trusted proxy described it.
type Peer struct {
	RemoteAddr string // host:port
	Secure     bool   // the caller's connection to the proxy was encrypted
}

func (o Options) logf(format string, args ...any) {
	if o.Logger != nil {
		o.Logger.Printf(format, args...)
	}
}

// SetLogger sends the line's log lines to l from now on: a logger that
// names the call the line carries (the gateway's adds the call's session
// number and address as fields, and "(session 42)" at the end of the
// text). Lines from many callers interleave in a gateway's log (a
// telnet storm): the address that starts each line and the call's
// logger tell them apart. Nil goes back to Options.Logger.
func (l *Line) SetLogger(lg Logger) {
	if lg == nil {
		l.callLog.Store(nil)
		return
	}
	l.callLog.Store(&lg)
}

// logf writes one of this line's log lines, "tcp: ADDRESS: " before it,
// to the call's logger (SetLogger) or else Options.Logger.
func (l *Line) logf(format string, args ...any) {
	lg := l.opts.Logger
	if c := l.callLog.Load(); c != nil {
		lg = *c
	}
	if lg == nil {
		return
	}
	lg.Printf("tcp: %s: "+format, append([]any{l.info.RemoteAddr}, args...)...)
}

func (o Options) linger() time.Duration {
	if o.Linger > 0 {
		return o.Linger
	}
	return DefaultLinger
}

// Line is a raw or telnet-modem TCP line. It implements transport.Line and
// the optional abilities WindowNotifier, EchoController (server side),
// EventNotifier, Breaker (telnet) and Deadliner. Read and Write may be
// called from different goroutines; concurrent Reads (or Writes) are
// serialized.
type Line struct {
	conn   net.Conn
	opts   Options
	server bool
	// guard watches a server line's first octets for a PROXY protocol
	// header, which no caller sends: a proxy the listener does not
	// trust, or one in front of a listener without proxy_protocol. Nil
	// once it has decided. Guarded by readMu.
	guard    *proxyproto.Guard
	info     transport.LineInfo // static part
	vectored bool               // conn gathers net.Buffers with writev

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	linger    atomic.Int64 // SetLinger's bound on Close (a time.Duration); 0: Options.Linger

	readMu sync.Mutex           // serializes Read and the drain in Close
	rerr   error                // sticky end of the received stream (io.EOF)
	budget transport.ReadBudget // SetReadBudget's
	// wire is SetReadBudget's on the connection's own octets, when it
	// was made by MeterWire (under TLS: records, tags, padding); nil
	// otherwise.
	wire *transport.ReadBudget
	// flooded: the peer sent more than its read budget. Hang-up then
	// discards at most floodDrain octets waiting for its FIN, not until
	// the linger ends: a peer sending at network speed would otherwise
	// keep a processor busy discarding for that long.
	flooded atomic.Bool

	writeMu sync.Mutex // serializes everything written to conn
	wclosed bool       // CloseWrite or Close has sent FIN
	wbuf    []byte     // control output buffer (small), under writeMu

	// dlMu orders the deadlines callers set against Close: once closed
	// is set (under dlMu), the hang-up owns the connection's deadlines
	// (its linger bound) and SetReadDeadline/SetWriteDeadline refuse.
	dlMu sync.Mutex

	tmu      sync.Mutex // guards tn and flushing
	tn       *telnet    // nil on raw lines
	flushing bool       // a control flusher goroutine runs
	// sniff is sniffNone on lines that are telnet or raw from the start;
	// Options.Sniff lines wait (sniffWait), then turn telnet (sniffNone)
	// or raw for good (sniffRaw) at the peer's first octet, in read.
	sniff atomic.Int32
	wg    sync.WaitGroup

	nmu     sync.Mutex // guards the notification channels and functions
	nclosed bool
	winCh   chan transport.WindowSize
	evCh    chan transport.Event
	// Set by SetControlFuncs (under nmu): notifications go to these
	// functions instead of the channels, delivered by Read.
	winFn      func(transport.WindowSize)
	evFn       func(transport.Event)
	pendWin    transport.WindowSize // under nmu; valid when hasPendWin
	hasPendWin bool
	pendEv     []transport.Event // under nmu
	pending    atomic.Bool       // pendWin or pendEv holds something
	cmu        sync.Mutex        // serializes calls of winFn/evFn and SetControlFuncs

	callLog atomic.Pointer[Logger] // the call's logger (SetLogger); nil: opts.Logger
}

// The states of Line.sniff.
const (
	sniffNone = iota // telnet or raw from the start, or decided telnet
	sniffWait        // raw until the peer's first octet decides
	sniffRaw         // the peer's first octet was not IAC: raw
)

// telnetOn reports whether the line speaks the telnet protocol now: a
// telnet line not waiting or decided raw (Options.Sniff).
func (l *Line) telnetOn() bool { return l.tn != nil && l.sniff.Load() == sniffNone }

var (
	_ transport.Line           = (*Line)(nil)
	_ transport.WindowNotifier = (*Line)(nil)
	_ transport.EchoController = (*Line)(nil)
	_ transport.EventNotifier  = (*Line)(nil)
	_ transport.Breaker        = (*Line)(nil)
	_ transport.Deadliner      = (*Line)(nil)
)

// Dial connects to addr (host:port) and returns a client-side line.
// ctx bounds the connection set-up only.
func Dial(ctx context.Context, addr string, opts Options) (*Line, error) {
	d := net.Dialer{KeepAlive: -1} // NewLine configures keepalive
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, netError("dial", addr, err)
	}
	return NewLine(c, false, opts), nil
}

// DialTLS connects to addr (host:port) over TLS and returns a client-side
// line whose Info is Secure, with Transport "telnets" or "tls". config nil
// means the system's certificate authorities (SSL_CERT_FILE replaces them),
// the server name from addr and TLS 1.2 at least. ctx bounds the
// connection and the handshake.
func DialTLS(ctx context.Context, addr string, opts Options, config *tls.Config) (*Line, error) {
	d := net.Dialer{KeepAlive: -1} // NewLine configures keepalive
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, netError("dial", addr, err)
	}
	if config == nil {
		host, _, _ := net.SplitHostPort(addr)
		config = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	tc := tls.Client(c, config)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, netError("dial", addr, fmt.Errorf("TLS handshake: %w", err))
	}
	return newLine(tc, false, opts, true), nil
}

// NewLine wraps an accepted (server true) or dialed (server false)
// connection; the Line owns c from now on. On a *net.TCPConn, or a TLS
// connection over one, it turns on TCP_NODELAY and keepalive. A
// server-side telnet line starts its opening negotiation at once.
func NewLine(c net.Conn, server bool, opts Options) *Line {
	return newLine(c, server, opts, false)
}

// newLine is NewLine; secure marks a line the dialer runs in TLS
// (DialTLS), before its telnet negotiation starts.
func newLine(c net.Conn, server bool, opts Options, secure bool) *Line {
	l := &Line{
		conn:   c,
		opts:   opts,
		server: server,
		winCh:  make(chan transport.WindowSize, 1),
		evCh:   make(chan transport.Event, 16),
	}
	l.info = transport.LineInfo{Transport: scheme(opts.Telnet), LocalAddr: c.LocalAddr().String(), RemoteAddr: c.RemoteAddr().String()}
	if p := opts.Proxied; p != nil {
		l.info.RemoteAddr, l.info.Secure, l.info.Proxied = p.RemoteAddr, p.Secure, true
	}
	if secure {
		l.info.Secure = true
	}
	if l.info.Secure {
		l.info.Transport = SecureTransport(l.info.Transport)
	}
	if server {
		// A PROXY protocol header at the start of a server line is not a
		// caller's typing (see read).
		l.guard = new(proxyproto.Guard)
	}
	_, l.vectored = c.(*net.TCPConn)
	l.wire = wireBudgetOf(c)
	if tc := sockstate.TCPUnder(c); tc != nil {
		if err := tc.SetNoDelay(true); err != nil {
			l.logf("TCP_NODELAY: %v", err)
		}
		if err := InlineUrgent(tc); err != nil {
			l.logf("SO_OOBINLINE: %v", err)
		}
		ka := net.KeepAliveConfig{Enable: opts.KeepAlive >= 0}
		if ka.Enable {
			p := opts.KeepAlive
			if p == 0 {
				p = DefaultKeepAlive
			}
			ka.Idle, ka.Interval, ka.Count = p, p, 4
		}
		if err := tc.SetKeepAliveConfig(ka); err != nil {
			l.logf("keepalive: %v", err)
		}
	}
	if opts.Telnet && opts.Sniff && !server {
		opts.Open = false
		l.sniff.Store(sniffWait)
	}
	if opts.Telnet {
		l.tn = newTelnet(server, opts)
		l.tn.logFn = l.logf
		l.tn.start()
		l.tmu.Lock()
		l.kickFlushLocked()
		l.tmu.Unlock()
	}
	return l
}

// PeerState says whether the peer has closed or reset its end of the
// connection (sockstate.Peer), without reading the line. A line closed
// already (a V.42 link over it ended when the caller released it) is
// gone: its socket can no longer be asked.
func (l *Line) PeerState() sockstate.State {
	if l.closed.Load() {
		return sockstate.Gone
	}
	return sockstate.Peer(l.conn)
}

// Info describes the line; TermType and Window are what the peer last
// announced (server side).
func (l *Line) Info() transport.LineInfo {
	info := l.info
	if l.tn != nil {
		l.tmu.Lock()
		info.TermType = l.tn.peerTerm
		info.Window = l.tn.peerWindow
		l.tmu.Unlock()
	}
	return info
}

// SetReadBudget implements transport.ReadBudgeter. The octets counted are
// those Read returns and, on a line over a MeterWire connection (a TLS
// listener's), every octet the connection carries from the peer.
func (l *Line) SetReadBudget(n int64) {
	if l.wire != nil {
		l.wire.Set(n)
	}
	l.budget.Set(n)
}

// ReadBudgetSpent reports whether the peer sent more than the read budget
// (Read fails with transport.ErrReadBudget from then on).
func (l *Line) ReadBudgetSpent() bool { return l.flooded.Load() }

// Read returns received data octets (telnet commands removed). After the
// peer's FIN it returns io.EOF once everything before it was returned;
// after Close it returns an error wrapping transport.ErrHungUp.
func (l *Line) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := l.read(p)
		if !l.pending.Load() {
			return n, err
		}
		// Window sizes or events for the functions of SetControlFuncs,
		// called without the line's locks held.
		l.deliverControl()
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// read is Read without the deliveries of SetControlFuncs: it also returns
// (0, nil) when what it read was telnet control only and left a delivery
// pending.
func (l *Line) read(p []byte) (int, error) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	for {
		if l.closed.Load() {
			return 0, fmt.Errorf("tcp: read: %w", transport.ErrHungUp)
		}
		if l.rerr != nil {
			return 0, l.rerr
		}
		n, err := l.conn.Read(p)
		if n > 0 && !l.budget.Spend(n) || errors.Is(err, transport.ErrReadBudget) {
			l.flooded.Store(true)
			l.rerr = fmt.Errorf("tcp: read: %w", transport.ErrReadBudget)
			return 0, l.rerr
		}
		if n > 0 && l.guard != nil {
			if l.guard.Feed(p[:n]) {
				l.guard = nil
				l.rerr = fmt.Errorf("tcp: read: %w", proxyproto.ErrUnwanted)
				return 0, l.rerr
			}
			if l.guard.Decided() {
				l.guard = nil
			}
		}
		if n > 0 && l.sniff.Load() == sniffWait {
			if p[0] == cmdIAC {
				l.sniff.Store(sniffNone)
			} else {
				l.sniff.Store(sniffRaw)
			}
		}
		if n > 0 && l.telnetOn() {
			n = l.decode(p[:n])
		}
		if err != nil {
			if l.closed.Load() {
				return 0, fmt.Errorf("tcp: read: %w", transport.ErrHungUp)
			}
			if errors.Is(err, io.EOF) {
				if l.telnetOn() {
					l.tmu.Lock()
					l.tn.finish()
					l.tmu.Unlock()
				}
				l.rerr = io.EOF
			} else {
				err = fmt.Errorf("tcp: read: %w", err)
				if n == 0 {
					return 0, err
				}
				l.logf("%v", err)
			}
		}
		if n > 0 {
			return n, nil
		}
		if l.pending.Load() {
			return 0, nil
		}
	}
}

// decode decodes p in place and dispatches what the telnet session produced.
func (l *Line) decode(p []byte) int {
	l.tmu.Lock()
	n := len(l.tn.decode(p[:0], p))
	events := l.tn.events
	l.tn.events = l.tn.events[:0]
	var ws transport.WindowSize
	winChanged := l.tn.windowChanged
	if winChanged {
		ws = l.tn.peerWindow
		l.tn.windowChanged = false
	}
	l.kickFlushLocked()
	l.nmu.Lock()
	switch {
	case l.nclosed:
	case l.winFn != nil || l.evFn != nil:
		// Read calls the functions once the line's locks are released.
		for _, e := range events {
			if len(l.pendEv) < cap(l.evCh) {
				l.pendEv = append(l.pendEv, e)
			}
		}
		if winChanged {
			l.pendWin, l.hasPendWin = ws, true
		}
		if len(l.pendEv) > 0 || l.hasPendWin {
			l.pending.Store(true)
		}
	default:
		for _, e := range events {
			select {
			case l.evCh <- e:
			default:
			}
		}
		if winChanged {
			sendLatest(l.winCh, ws)
		}
	}
	l.nmu.Unlock()
	l.tmu.Unlock()
	return n
}

// Write sends p (IAC-escaped on telnet lines). When it returns nil, every
// octet is in the kernel's send buffer and Close will deliver it. When a
// write deadline or error cuts it short, the count is exact: the peer
// receives precisely p[:n] (an octet whose escape, the second IAC or the
// NUL after CR, did not fit counts as sent, and its escape goes first in
// the stream before anything else), so writing p[n:] later continues the
// stream without loss or duplication.
func (l *Line) Write(p []byte) (int, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.wclosed || l.closed.Load() {
		return 0, fmt.Errorf("tcp: write: %w", transport.ErrHungUp)
	}
	if !l.telnetOn() {
		n, err := l.conn.Write(p)
		if err != nil {
			err = fmt.Errorf("tcp: write: %w", err)
		}
		return n, err
	}
	done := 0
	for done < len(p) {
		n, err := l.writeTelnet(p[done:min(len(p), done+writeChunk)])
		done += n
		if err != nil {
			return done, fmt.Errorf("tcp: write: %w", err)
		}
	}
	return done, nil
}

// writeTelnet sends the control output the session has queued, then chunk
// as telnet data, with one system call: runs of chunk without escapes go
// straight from the caller's buffer (writev) unless escapes are too dense,
// then chunk is encoded into a pooled buffer. It returns how many octets
// of chunk were sent; after an error, unsent control output and an owed
// escape are put back at the front of the session's output queue. Called
// with writeMu held.
func (l *Line) writeTelnet(chunk []byte) (int, error) {
	l.tmu.Lock()
	l.wbuf = append(l.wbuf[:0], l.tn.out...)
	l.tn.out = l.tn.out[:0]
	binary := l.tn.us.enabled(optBinary)
	l.tmu.Unlock()
	ctrl := l.wbuf

	var n int
	var err error
	sent := false
	if l.vectored {
		g := piecesPool.Get().(*gather)
		pieces := g.pieces[:0]
		if len(ctrl) > 0 {
			pieces = append(pieces, ctrl)
		}
		var ok bool
		if pieces, ok = appendEncodedPieces(pieces, chunk, binary, len(chunk)/minGatherRun); ok {
			g.bufs = pieces
			var n64 int64
			n64, err = g.bufs.WriteTo(l.conn)
			n, sent = int(n64), true
		}
		clear(pieces) // the pool must not keep the caller's buffer alive
		g.pieces, g.bufs = pieces[:0], nil
		piecesPool.Put(g)
	}
	if !sent {
		bp := encodePool.Get().(*[]byte)
		buf := appendEncoded(append((*bp)[:0], ctrl...), chunk, binary)
		n, err = l.conn.Write(buf)
		*bp = buf[:0]
		encodePool.Put(bp)
	}
	if err == nil {
		return len(chunk), nil
	}
	if n < len(ctrl) {
		l.requeue(ctrl[n:])
		return 0, err
	}
	count, owed := encodedPrefix(chunk, binary, n-len(ctrl))
	l.requeue(owed)
	return count, err
}

// requeue puts encoded octets that a failed write did not send back at the
// front of the session's output queue, so the stream stays well formed:
// the next Write, control write or Close sends them first. Called with
// writeMu held.
func (l *Line) requeue(unsent []byte) {
	if len(unsent) == 0 {
		return
	}
	l.tmu.Lock()
	l.tn.out = slices.Insert(l.tn.out, 0, unsent...)
	l.tmu.Unlock()
}

// SetReadDeadline has net.Conn semantics. Once Close has begun it
// changes nothing and returns an error wrapping transport.ErrHungUp:
// Close's wait for the peer keeps its linger bound (a reader that clears
// its deadline as the hang-up wakes it must not make Close wait for ever).
func (l *Line) SetReadDeadline(t time.Time) error {
	return l.setDeadline("read deadline", t, l.conn.SetReadDeadline)
}

// SetWriteDeadline has net.Conn semantics; after Close has begun, as
// SetReadDeadline.
func (l *Line) SetWriteDeadline(t time.Time) error {
	return l.setDeadline("write deadline", t, l.conn.SetWriteDeadline)
}

func (l *Line) setDeadline(what string, t time.Time, set func(time.Time) error) error {
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	if l.closed.Load() {
		return fmt.Errorf("tcp: %s: %w", what, transport.ErrHungUp)
	}
	return set(t)
}

// CloseWrite half-closes the line: pending output is flushed, the peer
// reads EOF, and Read keeps working until the peer closes too. Later
// Writes fail with transport.ErrHungUp.
func (l *Line) CloseWrite() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.shutdownWriteLocked()
}

func (l *Line) shutdownWriteLocked() error {
	if l.wclosed {
		return nil
	}
	l.wclosed = true
	var err error
	if l.telnetOn() {
		l.tmu.Lock()
		l.wbuf = append(l.wbuf[:0], l.tn.out...)
		l.tn.out = l.tn.out[:0]
		l.tmu.Unlock()
		if len(l.wbuf) > 0 {
			if _, werr := l.conn.Write(l.wbuf); werr != nil {
				err = fmt.Errorf("tcp: flushing at close: %w", werr)
			}
		}
	}
	if cw, ok := l.conn.(interface{ CloseWrite() error }); ok {
		if cerr := cw.CloseWrite(); cerr != nil && err == nil {
			err = fmt.Errorf("tcp: half-close: %w", cerr)
		}
	}
	return err
}

// SetLinger sets how long Close may wait for the peer (Options.Linger)
// for this line; d <= 0 goes back to Options.Linger. A gateway hangs up a
// caller it never connected anywhere (BUSY, refused, denied) with a short
// one: its last words are a line, and a caller that never closes its side
// should not hold the connection for the full linger.
func (l *Line) SetLinger(d time.Duration) { l.linger.Store(int64(d)) }

// lingerFor is the bound on this line's Close.
func (l *Line) lingerFor() time.Duration {
	if d := time.Duration(l.linger.Load()); d > 0 {
		return d
	}
	return l.opts.linger()
}

// Close hangs up: see the package documentation ("Delivery at close").
// It blocks at most Options.Linger (or SetLinger's). Reads and Writes in
// other goroutines return errors wrapping transport.ErrHungUp. Close is
// idempotent.
func (l *Line) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.hangUp() })
	return l.closeErr
}

func (l *Line) hangUp() error {
	linger := l.lingerFor()
	deadline := time.Now().Add(linger)
	// Under tmu, so that no control flusher starts after wg.Wait below.
	l.tmu.Lock()
	l.dlMu.Lock()
	l.closed.Store(true)
	l.dlMu.Unlock()
	l.tmu.Unlock()
	// A Read in progress returns at once; what arrives after hang-up is
	// not wanted. A Write in progress gets until the deadline to finish.
	_ = l.conn.SetReadDeadline(time.Now())
	_ = l.conn.SetWriteDeadline(deadline)

	l.writeMu.Lock()
	err := l.shutdownWriteLocked()
	l.writeMu.Unlock()
	l.wg.Wait() // the control flusher sees closed and exits

	if _, ok := l.conn.(interface{ CloseWrite() error }); ok && err == nil {
		// Wait for the peer's FIN, discarding what it still sends, so the
		// kernel never resets a connection with unread data.
		l.readMu.Lock()
		_ = l.conn.SetReadDeadline(deadline)
		var src io.Reader = budgetedReader{l}
		if l.flooded.Load() {
			src = io.LimitReader(l.conn, floodDrain)
		}
		n, derr := io.Copy(io.Discard, src)
		l.readMu.Unlock()
		if derr != nil {
			l.logf("hang-up: %s (%d octets discarded): %v", drainFailure(derr, linger), n, derr)
		}
	}
	if cerr := l.conn.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("tcp: close: %w", cerr)
	}
	l.nmu.Lock()
	l.nclosed = true
	close(l.winCh)
	close(l.evCh)
	l.nmu.Unlock()
	return err
}

// floodDrain is what hang-up discards at most from a peer that sent more
// than its read budget (see Line.flooded).
const floodDrain = 64 << 10

// budgetedReader is the connection as hang-up drains it: what it discards
// counts against the read budget too, and the drain ends once the budget
// is spent. A caller hung up before it logged in (refused, denied, BUSY,
// timed out) within its budget could otherwise send at network speed for
// the whole linger, every octet discarded: a processor busy for each such
// call (security trial: 2.3 GB in the 1 s of a refused call's linger).
type budgetedReader struct{ l *Line }

func (r budgetedReader) Read(p []byte) (int, error) {
	n, err := r.l.conn.Read(p)
	if n > 0 && !r.l.budget.Spend(n) || errors.Is(err, transport.ErrReadBudget) {
		r.l.flooded.Store(true)
		return n, fmt.Errorf("tcp: read: %w", transport.ErrReadBudget)
	}
	return n, err
}

// drainFailure says in words why waiting for the peer's FIN at hang-up
// ended with err instead.
func drainFailure(err error, linger time.Duration) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("peer did not close within %v", linger)
	case errors.Is(err, syscall.ECONNRESET):
		return "peer reset the connection instead of closing it"
	case errors.Is(err, transport.ErrReadBudget):
		return "peer sent more than its read budget"
	}
	return "waiting for the peer's close failed"
}

// SecureTransport is the LineInfo.Transport of a tcp or telnet line
// inside TLS (the gateway's own, or a proxy's that said so): "tls" or
// "telnets" (the name of RFC 4777's port 992 and of telnet-ssl), as a
// WebSocket line in TLS is "wss".
func SecureTransport(plain string) string {
	switch plain {
	case "tcp":
		return "tls"
	case "telnet":
		return "telnets"
	}
	return plain
}
