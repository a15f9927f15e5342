package ws

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/internal/sockstate"
	"github.com/dialgate/dialgate/internal/termname"
	"github.com/dialgate/dialgate/transport"
)

// Logger receives the package's log lines (each starts with "ws: ").
// *log.Logger satisfies it.
type Logger interface {
	Printf(format string, args ...any)
}

// Defaults for zero option values.
const (
	DefaultReadLimit    = 1 << 20          // largest message accepted, octets on the wire
	DefaultPingInterval = 30 * time.Second // ping period (RFC 6455 §5.5.2)
	DefaultIdleTimeout  = 75 * time.Second // hang up after this long without any frame
	DefaultCloseTimeout = 5 * time.Second  // bound on Close
)

const (
	// maxMessage is the most octets Write puts in one text message
	// ("plain", "base64"). Encoded it stays far below DefaultReadLimit:
	// 43,692 bytes in base64, at most 65,536 in plain.
	maxMessage = 32 << 10
	// maxBinaryMessage is the most octets Write puts in one binary
	// message: what websockify sends per message (its 64 KiB reads), so
	// a client that takes websockify's takes these. Against 32 KiB it
	// saved about 0.3 cycles per octet on each end of a bulk transfer
	// (half the messages, half the writes; docs/BENCHMARKS.md).
	maxBinaryMessage = 64 << 10
	// ringSize is the receive buffer per line: what a peer can send before
	// TCP flow control holds it back while nobody Reads.
	ringSize = 16 << 10
	// pongEvery bounds the "pong" control messages a line sends: a "ping"
	// that arrives within pongEvery of the last one answered is not
	// answered (the browser page pings every 10 s; a flood of pings gets
	// one pong a second).
	pongEvery = time.Second
	// breakEvery bounds the breaks a line passes on: a "break" within
	// breakEvery of the last one passed on is dropped, so a flood of them
	// interrupts the backend at most four times a second.
	breakEvery = 250 * time.Millisecond
)

// timeNow is the clock of the rate bounds; tests freeze it.
var timeNow = time.Now

// Errors a Line returns (wrapped, test with errors.Is).
var (
	// ErrPeerHungUp is wrapped by Write after the peer closed the line.
	ErrPeerHungUp = fmt.Errorf("ws: peer hung up: %w", transport.ErrHungUp)
	// ErrMessageTooBig is wrapped by Read after the peer sent a message
	// over the read limit (the line was closed with status 1009).
	ErrMessageTooBig = errors.New("ws: message over the read limit")
	// ErrPeerRefusedMessage is returned by Read, and wrapped by Write,
	// after the peer closed the line with status 1009 (message too big):
	// it takes smaller messages than this end sends (a gateway's line
	// sends binary ones of up to 64 KiB, as websockify does).
	ErrPeerRefusedMessage = errors.New("ws: the peer closed the line with status 1009: it refused a message as too big (this end sends messages of up to 64 KiB)")
	// ErrIdleTimeout is wrapped by Read after nothing arrived from the peer
	// for the idle timeout (the line was closed with status 1001).
	ErrIdleTimeout = errors.New("ws: peer idle too long")
	// ErrNotBinary is returned by SendWindowSize on a line whose
	// subprotocol has no control messages.
	ErrNotBinary = errors.New("ws: control messages need the binary subprotocol")
)

// Line is a WebSocket line. It implements transport.Line,
// transport.WindowNotifier, transport.EventNotifier and transport.Breaker;
// see the package comment for its behaviour.
type Line struct {
	conn    *websocket.Conn
	nc      net.Conn
	proto   string
	control bool // text messages are control messages
	log     Logger

	idle, closeTimeout time.Duration
	linger             atomic.Int64 // SetLinger's bound on Close (a time.Duration); 0: closeTimeout

	// Writing: wlock (capacity 1) is the write lock; Close takes it with a
	// timeout. wclosed and wbuf (small control messages) are guarded by it.
	wlock   chan struct{}
	wclosed bool
	wbuf    []byte
	// wdeadline is SetWriteDeadline's time (nil: none). gorilla's own
	// copy (Conn.SetWriteDeadline, which it applies at every frame) is
	// set from it only under wlock: that field is not safe to write while
	// a message is being written.
	wdeadline atomic.Pointer[time.Time]
	callLog   atomic.Pointer[Logger] // the call's logger (SetLogger); nil: log

	// Reading: only the reader goroutine touches the fields below in.
	in      *ring
	discard []byte
	text    bytes.Buffer // a control message
	scratch []byte       // a piece of a text message
	ignored int          // control messages ignored (ignoredControl)
	// lastBreak and lastPong: when the last break was passed on and the
	// last pong asked for (breakEvery, pongEvery).
	lastBreak, lastPong time.Time
	textDec             textDecoder
	decoded             []byte

	budget transport.ReadBudget  // SetReadBudget's, on the payloads Read returns
	wire   *transport.ReadBudget // SetReadBudget's, on the connection's octets (nil: none)
	berr   atomic.Bool           // a budget was exceeded

	infoMu sync.Mutex
	info   transport.LineInfo
	winCh  chan transport.WindowSize // capacity 1, closed by the reader
	evCh   chan transport.Event      // capacity 1, closed by the reader

	// pongDue (capacity 1) asks keepLoop to send a pong; pongs counts
	// the pongs asked for.
	pongDue chan struct{}
	pongs   atomic.Int64

	done       chan struct{} // closed when Close starts
	readerDone chan struct{}
	keepDone   chan struct{} // closed when keepLoop returns
	closeOnce  sync.Once
}

var (
	_ transport.Line           = (*Line)(nil)
	_ transport.WindowNotifier = (*Line)(nil)
	_ transport.EventNotifier  = (*Line)(nil)
	_ transport.Breaker        = (*Line)(nil)
)

// lineConfig is what newLine needs besides the connection.
type lineConfig struct {
	info                                  transport.LineInfo
	readLimit                             int64
	pingInterval, idleTimeout, closeAfter time.Duration
	log                                   Logger
}

// newLine wraps an established connection and starts its goroutines.
func newLine(conn *websocket.Conn, cfg lineConfig) *Line {
	l := &Line{
		conn:         conn,
		nc:           conn.NetConn(),
		proto:        conn.Subprotocol(),
		log:          cfg.log,
		idle:         cfg.idleTimeout,
		closeTimeout: cfg.closeAfter,
		wlock:        make(chan struct{}, 1),
		in:           newRing(ringSize),
		info:         cfg.info,
		winCh:        make(chan transport.WindowSize, 1),
		evCh:         make(chan transport.Event, 1),
		pongDue:      make(chan struct{}, 1),
		done:         make(chan struct{}),
		readerDone:   make(chan struct{}),
		keepDone:     make(chan struct{}),
	}
	l.wire = wireBudgetOf(l.nc)
	l.control = l.proto == "" || l.proto == ProtoBinary
	l.info.Subproto = l.proto
	conn.SetReadLimit(cfg.readLimit)
	conn.SetPingHandler(l.onPing)
	conn.SetPongHandler(func(string) error { l.extendDeadline(); return nil })
	go l.readLoop()
	go l.keepLoop(cfg.pingInterval)
	return l
}

// SetLogger sends the line's log lines to lg from now on: a logger that
// names the call the line carries (the gateway's adds the call's session
// number and address as fields, and "(session 42)" at the end of the
// text). Nil goes back to the listener's logger.
func (l *Line) SetLogger(lg Logger) {
	if lg == nil {
		l.callLog.Store(nil)
		return
	}
	l.callLog.Store(&lg)
}

// logf writes one of this line's log lines to the call's logger
// (SetLogger) or else the listener's.
func (l *Line) logf(format string, args ...any) {
	lg := l.log
	if c := l.callLog.Load(); c != nil {
		lg = *c
	}
	if lg != nil {
		lg.Printf(format, args...)
	}
}

// Info describes the line; Window reflects the latest resize message.
// PeerState says whether the peer has gone, without reading the line:
// the line's reader has ended (the peer's close message, a read error,
// Close), or the connection under it got the peer's FIN or a reset
// (sockstate.Peer; a reader that stopped because nobody reads the line
// does not see them). A WebSocket has no half-close: a FIN is the end.
func (l *Line) PeerState() sockstate.State {
	select {
	case <-l.readerDone:
		return sockstate.Gone
	default:
	}
	if st := sockstate.Peer(l.nc); st != sockstate.HalfClosed {
		return st
	}
	return sockstate.Gone
}

func (l *Line) Info() transport.LineInfo {
	l.infoMu.Lock()
	defer l.infoMu.Unlock()
	return l.info
}

// WindowChanges returns the channel of window sizes announced by resize
// control messages (latest only; closed when the line's reader stops).
func (l *Line) WindowChanges() <-chan transport.WindowSize { return l.winCh }

// Events returns the channel of breaks announced by "break" control
// messages (transport.EventBreak). A break arriving while one is unread is
// merged with it, and one within breakEvery of the last one passed on is
// dropped. The channel is closed when the line's reader stops.
func (l *Line) Events() <-chan transport.Event { return l.evCh }

// Read returns octets from the peer. After the peer hung up it returns the
// remaining octets, then io.EOF; after Close, an error wrapping
// transport.ErrHungUp.
func (l *Line) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.berr.Load() {
		return 0, fmt.Errorf("ws: read: %w", transport.ErrReadBudget)
	}
	n, err := l.in.read(p)
	if n > 0 && !l.budget.Spend(n) {
		l.berr.Store(true)
		return 0, fmt.Errorf("ws: read: %w", transport.ErrReadBudget)
	}
	return n, err
}

// SetReadBudget implements transport.ReadBudgeter. The octets counted are
// those of the messages' payloads as Read returns them and, on a line
// accepted by a Listener, every octet the connection carries from the
// peer (frames of any kind, TLS records), read or not.
func (l *Line) SetReadBudget(n int64) {
	if l.wire != nil {
		l.wire.Set(n)
	}
	l.budget.Set(n)
}

// ReadBudgetSpent reports whether the peer sent more than the read budget
// (Read fails with transport.ErrReadBudget from then on). A write that
// fails because the line was closed for it is the budget's doing, not a
// caller who left.
func (l *Line) ReadBudgetSpent() bool { return l.berr.Load() }

// Write sends p to the peer in messages of the negotiated subprotocol. It is
// safe to call from several goroutines; each call's octets stay together.
// After Close it returns an error wrapping transport.ErrHungUp, after the
// peer hung up one wrapping ErrPeerHungUp.
func (l *Line) Write(p []byte) (int, error) {
	l.wlock <- struct{}{}
	defer func() { <-l.wlock }()
	if l.wclosed {
		return 0, fmt.Errorf("ws: write: %w", transport.ErrHungUp)
	}
	n, most := 0, l.WriteSize()
	for len(p) > 0 {
		chunk := p[:min(len(p), most)]
		l.syncWriteDeadline()
		var err error
		switch l.proto {
		case ProtoPlain:
			err = l.writeText(chunk, appendPlain)
		case ProtoBase64:
			err = l.writeText(chunk, appendBase64)
		default:
			err = l.conn.WriteMessage(websocket.BinaryMessage, chunk)
		}
		if err != nil {
			return n, l.writeError(err)
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// WriteSize is the most octets Write puts in one message (it sends more
// as several): a relay that hands the line this much at a time sends
// whole messages.
func (l *Line) WriteSize() int {
	if l.proto == ProtoPlain || l.proto == ProtoBase64 {
		return maxMessage
	}
	return maxBinaryMessage
}

// encodePool holds the buffers text subprotocols encode into, so that an
// idle line keeps none (an encoded chunk is up to 64 KiB).
var encodePool = sync.Pool{New: func() any {
	b := make([]byte, 0, 2*maxMessage)
	return &b
}}

// writeText sends chunk as one text message encoded by enc. Called with
// the write lock held.
func (l *Line) writeText(chunk []byte, enc func(b, p []byte) []byte) error {
	bp := encodePool.Get().(*[]byte)
	*bp = enc((*bp)[:0], chunk)
	err := l.conn.WriteMessage(websocket.TextMessage, *bp)
	encodePool.Put(bp)
	return err
}

// SendWindowSize sends a resize control message (binary subprotocol or
// none only; ErrNotBinary otherwise).
func (l *Line) SendWindowSize(w transport.WindowSize) error {
	if w.Cols < 1 || w.Cols > maxWindowDim || w.Rows < 1 || w.Rows > maxWindowDim {
		return fmt.Errorf("ws: window size %dx%d out of range 1..%d", w.Cols, w.Rows, maxWindowDim)
	}
	return l.sendControl("window size", func(b []byte) []byte { return AppendResize(b, w) })
}

// SendTermType sends a term control message announcing the terminal type
// name, as telnet's TTYPE does (binary subprotocol or none only;
// ErrNotBinary otherwise). name must be a terminfo name (termname.Clean);
// the gateway passes it to a pty program as TERM.
func (l *Line) SendTermType(name string) error {
	if termname.Clean([]byte(name)) != name {
		return fmt.Errorf("%w: term %.50q is not a terminfo name", ErrBadControl, name)
	}
	return l.sendControl("terminal type", func(b []byte) []byte { return AppendTerm(b, name) })
}

// SendBreak implements transport.Breaker: it sends a break control
// message (binary subprotocol or none only; ErrNotBinary otherwise),
// which a Line of this package reports on Events.
func (l *Line) SendBreak() error {
	return l.sendControl("break", func(b []byte) []byte { return append(b, msgBreak...) })
}

// SendNotice sends a notice control message (binary subprotocol or none
// only; ErrNotBinary otherwise): words for the user that the browser page
// shows in its status line, such as the gateway's drain. text must be
// printable ASCII of at most MaxNoticeLen octets.
func (l *Line) SendNotice(text string) error {
	if !printableNotice(text) {
		return fmt.Errorf("%w: notice %.50q", ErrBadControl, text)
	}
	return l.sendControl("notice", func(b []byte) []byte { return AppendNotice(b, text) })
}

// sendControl sends the control message that appendMsg appends, as one
// text message (binary subprotocol or none only; ErrNotBinary
// otherwise), after any Write in progress.
func (l *Line) sendControl(what string, appendMsg func([]byte) []byte) error {
	if !l.control {
		return ErrNotBinary
	}
	l.wlock <- struct{}{}
	defer func() { <-l.wlock }()
	if l.wclosed {
		return fmt.Errorf("ws: send %s: %w", what, transport.ErrHungUp)
	}
	l.wbuf = appendMsg(l.wbuf[:0])
	l.syncWriteDeadline()
	if err := l.conn.WriteMessage(websocket.TextMessage, l.wbuf); err != nil {
		return l.writeError(err)
	}
	return nil
}

func (l *Line) writeError(err error) error {
	select {
	case <-l.done:
		return fmt.Errorf("ws: write: %w", transport.ErrHungUp)
	default:
	}
	st := l.in.status()
	if errors.Is(st, ErrPeerRefusedMessage) {
		return fmt.Errorf("ws: write: %w: %w", ErrPeerHungUp, st)
	}
	if errors.Is(err, websocket.ErrCloseSent) || st != nil {
		return fmt.Errorf("ws: write: %w (%v)", ErrPeerHungUp, err)
	}
	return fmt.Errorf("ws: write: %w", err)
}

// SetReadDeadline implements transport.Deadliner with net.Conn semantics:
// a Read waiting when t passes returns an error wrapping
// os.ErrDeadlineExceeded; octets already received are still returned. The
// zero time clears the deadline. V.42 detection (T400) needs it.
func (l *Line) SetReadDeadline(t time.Time) error {
	l.in.setDeadline(t)
	return nil
}

// SetWriteDeadline implements transport.Deadliner: a Write still sending
// when t passes fails with a timeout, and the line is then unusable for
// writing (part of a message may have been sent), as with a net.Conn.
//
// It may be called while a Write is in progress (a hang-up's last words
// under a stalled Write): the socket's deadline is set at once, which
// ends a Write waiting in it, and gorilla's copy, which it applies at
// every frame, is set before the next message under the write lock. A
// deadline set just as a Write starts a frame may apply from the next
// one only; Close ends such a Write in any case.
func (l *Line) SetWriteDeadline(t time.Time) error {
	l.wdeadline.Store(&t)
	return l.nc.SetWriteDeadline(t)
}

// syncWriteDeadline gives gorilla the deadline of SetWriteDeadline.
// Called with the write lock held, before each message.
func (l *Line) syncWriteDeadline() {
	if t := l.wdeadline.Load(); t != nil {
		_ = l.conn.SetWriteDeadline(*t)
	}
}

// SetLinger sets how long Close may take for this line (its close
// handshake: CloseTimeout otherwise); d <= 0 goes back to CloseTimeout. A
// gateway hangs up a caller it never connected anywhere (BUSY, refused)
// with a short one, as with tcp.Line.SetLinger.
func (l *Line) SetLinger(d time.Duration) { l.linger.Store(int64(d)) }

// closeBound is the bound on this line's Close.
func (l *Line) closeBound() time.Duration {
	if d := time.Duration(l.linger.Load()); d > 0 {
		return d
	}
	return l.closeTimeout
}

// Close hangs up: see the package comment. It is idempotent; concurrent
// calls wait for the first to finish. It returns nil unless the close
// handshake could not be completed in time.
func (l *Line) Close() error {
	var err error
	l.closeOnce.Do(func() { err = l.hangUp(websocket.CloseNormalClosure, "") })
	return err
}

// hangUp runs the close handshake with the given status code.
func (l *Line) hangUp(code int, reason string) error {
	close(l.done)
	l.in.close()
	bound := l.closeBound()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	deadline := time.Now().Add(bound)
	var err error

	// Let a Write in progress finish, bounded.
	select {
	case l.wlock <- struct{}{}:
	case <-timer.C:
		err = fmt.Errorf("ws: close: a Write did not finish within %v", bound)
		l.logf("ws: %s: %v; hanging up anyway", l.remote(), err)
		l.nc.Close()
		l.wlock <- struct{}{}
	}
	l.wclosed = true
	<-l.wlock

	// Everything Write accepted is in the kernel; the close frame follows.
	if werr := l.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline); werr != nil &&
		!errors.Is(werr, websocket.ErrCloseSent) && err == nil && l.in.status() == nil {
		err = fmt.Errorf("ws: close: sending close frame: %w", werr)
	}

	// Wait for the peer's close frame so our receive buffer is empty when
	// the TCP connection closes (no reset destroying the peer's data);
	// not for a peer that sent more than its read budget, whose flood the
	// reader would go on discarding until the bound.
	var flooded <-chan time.Time
	if l.berr.Load() {
		flooded = time.After(0)
	}
	select {
	case <-l.readerDone:
	case <-flooded:
	case <-timer.C:
		if err == nil {
			err = fmt.Errorf("ws: close: peer did not answer the close frame within %v", bound)
			l.logf("ws: %s: %v", l.remote(), err)
		}
	}
	l.nc.Close()
	<-l.readerDone
	<-l.keepDone
	return err
}

func (l *Line) remote() string {
	l.infoMu.Lock()
	defer l.infoMu.Unlock()
	return l.info.RemoteAddr
}

func (l *Line) extendDeadline() {
	if l.idle > 0 {
		l.nc.SetReadDeadline(time.Now().Add(l.idle))
	}
}

// onPing answers a ping (RFC 6455 §5.5.3) and counts it as life.
func (l *Line) onPing(data string) error {
	l.extendDeadline()
	err := l.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(l.closeTimeout))
	var ne net.Error
	if err == nil || errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) {
		return nil
	}
	return err
}

// keepLoop sends a ping every interval (none when interval is not
// positive) and the pongs the reader asks for. Pongs are sent here, not by
// the reader, so that a pong waiting for a peer that stopped reading
// never keeps the reader from noticing the idle timeout (which closes the
// connection and so ends that wait).
func (l *Line) keepLoop(interval time.Duration) {
	defer close(l.keepDone)
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.done:
			return
		case <-l.readerDone:
			return
		case <-tick:
			// Failures show up on the reader side.
			_ = l.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(interval))
		case <-l.pongDue:
			l.sendPong()
		}
	}
}

// sendPong sends a pong control message after any Write in progress. A
// failure shows up on the reader side.
func (l *Line) sendPong() {
	select {
	case l.wlock <- struct{}{}:
	case <-l.done:
		return
	case <-l.readerDone:
		return
	}
	defer func() { <-l.wlock }()
	if !l.wclosed {
		l.syncWriteDeadline()
		_ = l.conn.WriteMessage(websocket.TextMessage, []byte(msgPong))
	}
}

// readLoop is the reader goroutine.
func (l *Line) readLoop() {
	defer close(l.readerDone)
	defer close(l.winCh)
	defer close(l.evCh)
	err := l.readMessages()
	l.in.finish(err)
	select {
	case <-l.done:
		// Close is waiting for us and closes the connection.
		return
	default:
	}
	// The peer hung up (its close frame was answered) or the line failed:
	// nothing more can be sent or received.
	l.nc.Close()
}

// readMessages reads until the connection ends and returns why: io.EOF
// for a close frame from the peer.
func (l *Line) readMessages() error {
	for {
		l.extendDeadline()
		typ, r, err := l.conn.NextReader()
		if err != nil {
			return l.readError(err)
		}
		switch {
		case typ == websocket.BinaryMessage:
			err = l.readBinary(r)
		case l.control:
			err = l.readControl(r)
		default:
			err = l.readText(r)
		}
		if err != nil {
			return l.readError(err)
		}
	}
}

// readError turns a failure of the reader into what Read reports, closing
// the connection with the fitting status and logging where the peer
// misbehaved.
func (l *Line) readError(err error) error {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		if ce.Code != websocket.CloseNormalClosure && ce.Code != websocket.CloseGoingAway && ce.Code != websocket.CloseNoStatusReceived {
			l.logf("ws: %s: peer closed the line with status %d %q", l.remote(), ce.Code, ce.Text)
		}
		if ce.Code == websocket.CloseMessageTooBig {
			// Not a hang-up: the peer takes smaller messages than
			// this end sends, and a call's record should say so.
			return ErrPeerRefusedMessage
		}
		return io.EOF
	case isDone(l.done):
		return fmt.Errorf("ws: read: %w", transport.ErrHungUp)
	case errors.Is(err, transport.ErrReadBudget):
		l.berr.Store(true)
		l.logf("ws: %s: sent more than its read budget; no more is read, closing with status 1008", l.remote())
		l.sendClose(websocket.ClosePolicyViolation, "too much input before login")
		return fmt.Errorf("ws: read: %w", transport.ErrReadBudget)
	case errors.Is(err, websocket.ErrReadLimit):
		l.logf("ws: %s: message over the read limit, closed with status 1009", l.remote())
		return fmt.Errorf("%w (closed with status 1009)", ErrMessageTooBig)
	case errors.Is(err, ErrBadPayload):
		l.logf("ws: %s: %v; closing with status 1007", l.remote(), err)
		l.sendClose(websocket.CloseInvalidFramePayloadData, "invalid payload")
		return err
	case errors.As(err, &ne) && ne.Timeout():
		l.logf("ws: %s: nothing received for %v, hanging up", l.remote(), l.idle)
		l.sendClose(websocket.CloseGoingAway, "idle timeout")
		return fmt.Errorf("%w: nothing received for %v", ErrIdleTimeout, l.idle)
	}
	l.logf("ws: %s: line lost: %v", l.remote(), err)
	return fmt.Errorf("ws: read: %w", err)
}

func (l *Line) sendClose(code int, text string) {
	_ = l.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(l.closeTimeout))
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// readBinary streams a binary message into the receive buffer.
func (l *Line) readBinary(r io.Reader) error {
	for {
		space := l.in.reserve()
		keep := space != nil
		if !keep {
			space = l.discardBuf()
		}
		l.extendDeadline()
		n, err := r.Read(space)
		if keep {
			l.in.commit(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (l *Line) discardBuf() []byte {
	if l.discard == nil {
		l.discard = make([]byte, 4096)
	}
	return l.discard
}

// readAll reads a whole message (bounded by the read limit) into l.text.
func (l *Line) readAll(r io.Reader, limit int) error {
	l.text.Reset()
	for {
		l.text.Grow(512)
		space := l.text.AvailableBuffer()
		space = space[:cap(space)]
		if limit >= 0 {
			space = space[:min(len(space), limit+1-l.text.Len())]
		}
		l.extendDeadline()
		n, err := r.Read(space)
		l.text.Write(space[:n])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if limit >= 0 && l.text.Len() > limit {
			return nil
		}
	}
}

// drain discards the rest of a message.
func (l *Line) drain(r io.Reader) error {
	for {
		l.extendDeadline()
		_, err := r.Read(l.discardBuf())
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// maxIgnoredLogged is how many ignored control messages a line logs; a
// peer that sends a stream of them gets one more line saying so, not a
// log line each.
const maxIgnoredLogged = 8

// ignoredControl logs a control message the line ignores, the first
// maxIgnoredLogged of them. Only the reader calls it.
func (l *Line) ignoredControl(format string, args ...any) {
	l.ignored++
	switch {
	case l.ignored <= maxIgnoredLogged:
		l.logf("ws: %s: "+format, append([]any{l.remote()}, args...)...)
	case l.ignored == maxIgnoredLogged+1:
		l.logf("ws: %s: more control messages ignored; not logged further on this line", l.remote())
	}
}

// readControl handles a text message carrying a control message.
func (l *Line) readControl(r io.Reader) error {
	if err := l.readAll(r, MaxControlSize); err != nil {
		return err
	}
	if l.text.Len() > MaxControlSize {
		l.ignoredControl("control message over %d bytes ignored", MaxControlSize)
		return l.drain(r)
	}
	c, err := ParseControl(l.text.Bytes())
	switch {
	case errors.Is(err, ErrUnknownControl):
		l.ignoredControl("control message of unknown type %.40q ignored", c.Type)
	case err != nil:
		l.ignoredControl("%v; ignored", err)
	case c.Type == ControlBreak:
		if now := timeNow(); l.lastBreak.IsZero() || now.Sub(l.lastBreak) >= breakEvery {
			l.lastBreak = now
			select {
			case l.evCh <- transport.EventBreak:
			default: // one is unread: merged with it
			}
		}
	case c.Type == ControlPing:
		if now := timeNow(); l.lastPong.IsZero() || now.Sub(l.lastPong) >= pongEvery {
			l.lastPong = now
			l.pongs.Add(1)
			select {
			case l.pongDue <- struct{}{}:
			default: // one is due already
			}
		}
	case c.Type == ControlNotice:
		// Words for a user: a Line has none to show them to (the
		// browser page reads them itself).
	case c.Type == ControlTerm:
		l.infoMu.Lock()
		l.info.TermType = c.Term
		l.infoMu.Unlock()
	case c.Type == ControlResize:
		l.infoMu.Lock()
		l.info.Window = c.Window
		l.infoMu.Unlock()
		select {
		case l.winCh <- c.Window:
		default:
			select {
			case <-l.winCh:
			default:
			}
			l.winCh <- c.Window // only this goroutine sends
		}
	}
	return nil
}

// readText handles a text message carrying octets (plain, base64). It
// decodes the message textChunk bytes at a time into the receive buffer, so
// a large message is never held whole.
func (l *Line) readText(r io.Reader) error {
	if l.scratch == nil {
		l.scratch = make([]byte, textChunk)
	}
	l.textDec.reset(l.proto == ProtoBase64)
	for {
		l.extendDeadline()
		n, rerr := r.Read(l.scratch)
		var err error
		l.decoded, err = l.textDec.feed(l.decoded[:0], l.scratch[:n])
		if err == nil && rerr == io.EOF {
			l.decoded, err = l.textDec.end(l.decoded)
		}
		if err != nil {
			return err
		}
		l.in.push(l.decoded) // false after Close: the octets are discarded
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
