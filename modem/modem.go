package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialgate/dialgate/internal/retry"
	"github.com/dialgate/dialgate/transport/pace"
)

// ErrDTRDrop is returned (wrapped) by a DTE's Read when the DTE dropped DTR
// (for a pty: the last process holding the terminal closed it). The DTE must
// then block in later Reads until the DTE is back. Any other Read error ends
// Run.
var ErrDTRDrop = errors.New("modem: DTE dropped DTR")

// ErrDTEClosed is wrapped with ErrDTRDrop when the DTE did not only drop
// DTR but closed its end (a pty's last holder closed it): nothing said to
// it after the drop is for the next DTE, so the hang-up's NO CARRIER is
// not sent. A serial DTE that drops DTR may still be listening, and hears
// it, as from a modem.
var ErrDTEClosed = errors.New("modem: the DTE closed its end")

// ErrDTRRaise is returned (wrapped) by a DTE's Read when the DTE raised
// DTR again after a drop without sending anything (a serial port whose DTR
// the modem watches): the modem may answer calls again (S0). A pty shows
// a new DTE only by its input, and never returns it.
var ErrDTRRaise = errors.New("modem: DTE raised DTR")

// CarrierSetter is implemented by DTEs that can show the carrier to the
// DTE (a serial port wired so that one of our outputs reaches the DTE's
// DCD input). Run calls SetCarrier with Interp.DCD whenever it changes,
// and once at the start.
type CarrierSetter interface {
	SetCarrier(on bool) error
}

// DSRSetter is implemented by DTEs that can show Data Set Ready (circuit
// 107) to the DTE. Run calls SetDSR with Interp.DSR (per &S) whenever it
// changes, and once at the start.
type DSRSetter interface {
	SetDSR(on bool) error
}

// RingSetter is implemented by DTEs that can show the Ring Indicator
// (circuit 125) to the DTE. Run calls SetRing with Interp.RI whenever it
// changes (on for RingOn at each RING), and once at the start.
type RingSetter interface {
	SetRing(on bool) error
}

// FlowSetter is implemented by DTEs whose device does the local flow
// control itself (a serial port: termios CRTSCTS, IXON/IXOFF). Run calls
// SetFlow with Interp.Flow (per &K) whenever it changes, and once at the
// start. For a DTE without it (a pty, stdio) Run does XON/XOFF itself, in
// band: DC3 from the DTE holds the modem's output to the DTE until DC1,
// and neither reaches the line; RTS/CTS cannot be done there (Run logs so
// once).
type FlowSetter interface {
	SetFlow(f Flow) error
}

// DC1 and DC3, the XON and XOFF characters of in-band flow control.
const (
	xon  = 0x11
	xoff = 0x13
)

// Options configure Run.
type Options struct {
	Interp    Config     // command interpreter settings (stored profile, identity, DTE rate)
	Phonebook *Phonebook // resolves dial strings; nil resolves only addresses
	// PhonebookFile, if set, replaces Phonebook: each dial resolves with
	// its current contents (the file is read again when it changes).
	PhonebookFile *PhonebookFile
	Dialer        Dialer   // places calls; required
	Answerer      Answerer // incoming calls; nil means the modem never rings
	// SaveProfile persists &W; nil keeps the stored profile in memory only.
	SaveProfile func(Profile) error
	// PaceDTE paces output to the DTE, and input from it, at
	// Interp.DTERate (a pty or stdio has no baud rate of its own; a serial
	// port paces itself).
	PaceDTE bool
	Logger  Logger           // nil drops log lines
	Now     func() time.Time // clock; nil means time.Now
}

// event kinds delivered to the loop.
type evKind int

const (
	evDTE evKind = iota
	evDTR
	evDTRUp
	evDTEEnd
	evLine
	evLineEnd
	evDialed
	evIncoming
	evIncomingGone
	evPrompt
)

type event struct {
	kind evKind
	gen  uint64 // call generation for line and dial events
	data []byte
	call Call
	inc  Incoming
	err  error
	// prompt is a dial's Prompter call (evPrompt).
	prompt *promptReq
	// gone: the DTE closed its end (evDTR; ErrDTEClosed).
	gone bool
	// epoch is the DTE session an evDTE or evDTR came from (modem.dteEpoch
	// when readDTE read it): what the loop writes in answer is for that
	// session only.
	epoch uint64
}

// modem runs an Interp against a DTE and the injected Dialer and Answerer.
// One goroutine (Run's) owns all state; readers and writers feed it events.
type modem struct {
	opts   Options
	ip     *Interp
	now    func() time.Time
	events chan event
	ctx    context.Context
	wg     sync.WaitGroup

	dteOut chan dteChunk
	// dteEpoch counts the DTE's DTR drops: output queued for the DTE
	// before a drop is discarded, never written to the next DTE session.
	dteEpoch atomic.Uint64
	// dtrDown is fired by readDTE when the DTE drops DTR, before the loop
	// hears of it: apply stops waiting for the DTE's output queue then.
	dtrDown dtrSignal
	// answering is set, with the epoch of its DTE session, while the
	// loop handles an evDTE or evDTR: readDTE goes on reading while the
	// loop is busy, so the DTE that typed may have gone (and another
	// come) by then, and the answer must not reach the next one (toDTE).
	answering      bool
	answeringEpoch uint64

	gen  uint64 // generation of the current call attempt
	call Call
	// lineQ carries the DTE's data to the call's line (nil without a
	// call); the forwarder reads it too (waitLineRoom).
	lineQ atomic.Pointer[lineQueue]
	// online is set while the interpreter is online (what the DTE sends
	// goes to the line): only then does the forwarder hold input back
	// for the line (waitLineRoom); commands never wait for it.
	online atomic.Bool
	// fromLine is what the line delivered after the modem left the
	// online state: it reaches the DTE after ATO. Past heldLimit the
	// reader reads no more meanwhile (waitOnline), so the rest waits in
	// the line, as on tcpser; heldN is its length for the reader.
	fromLine   []byte
	heldN      atomic.Int64
	cancelDial context.CancelFunc
	incoming   Incoming
	// incomingDone ends the goroutine watching incoming's Gone channel.
	incomingDone chan struct{}
	// prompt is set while the dial in progress prompts the DTE for a
	// login (prompt.go): what the DTE types goes there.
	prompt *prompting

	// The circuits shown to the DTE and the device's flow control, each
	// set when it changes.
	dcd, dsr, ri signal[bool]
	flow         signal[Flow]
	// In-band XON/XOFF (DTEs without FlowSetter): inband tells readDTE
	// to take DC1/DC3 as flow control; held stops writeDTE.
	inband     atomic.Bool
	held       outputHold
	flowLogged bool // RTS/CTS impossible on this DTE: logged once
}

// dteChunk is output for the DTE, queued in epoch (see modem.dteEpoch).
type dteChunk struct {
	b     []byte
	epoch uint64
}

// dtrSignal tells the loop, blocked or not, that the DTE dropped DTR:
// C is closed by fire and replaced by rearm once the loop has acted on
// the drop.
type dtrSignal struct {
	mu    sync.Mutex
	ch    chan struct{}
	fired bool
}

// C returns the channel closed at the next (or a pending) DTR drop.
func (d *dtrSignal) C() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

func (d *dtrSignal) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	if !d.fired {
		d.fired = true
		close(d.ch)
	}
}

func (d *dtrSignal) rearm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fired {
		d.ch, d.fired = make(chan struct{}), false
	}
}

// signal is one output towards the DTE that Run drives when the
// interpreter's decision changes: set is nil when the DTE cannot show it.
type signal[T comparable] struct {
	name   string
	set    func(T) error
	last   T
	ok     bool // last was set successfully
	failed bool // a failure was logged (once)
}

// update sets v unless it is already shown.
func (s *signal[T]) update(v T, logf func(string, ...any)) {
	if s.set == nil || s.ok && v == s.last {
		return
	}
	if err := s.set(v); err != nil {
		if !s.failed {
			logf("modem: cannot drive %s: %v", s.name, err)
			s.failed = true
		}
		s.ok = false
		return
	}
	s.last, s.ok = v, true
}

// outputHold is the XOFF state of in-band flow control: while held,
// writeDTE waits.
type outputHold struct {
	mu      sync.Mutex
	held    bool
	release chan struct{} // closed when the hold ends
}

// hold stops output to the DTE (XOFF).
func (h *outputHold) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.held {
		h.held, h.release = true, make(chan struct{})
	}
}

// resume lets output to the DTE go on (XON, or flow control turned off).
func (h *outputHold) resume() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held {
		h.held = false
		close(h.release)
	}
}

// isHeld reports whether output to the DTE is held.
func (h *outputHold) isHeld() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// wait returns at once when output is not held; otherwise it calls
// onHold and waits until output is resumed or done is closed.
func (h *outputHold) wait(done <-chan struct{}, onHold func()) {
	h.mu.Lock()
	held, release := h.held, h.release
	h.mu.Unlock()
	if !held {
		return
	}
	onHold()
	select {
	case <-release:
	case <-done:
	}
}

// Run drives the modem until ctx ends or the DTE fails (io.EOF from stdio).
// It owns dte and closes it (and any call) before returning; every
// goroutine it started has ended by then. A nil error means ctx ended.
func Run(ctx context.Context, dte io.ReadWriteCloser, opts Options) error {
	if opts.Dialer == nil {
		_ = dte.Close()
		return errors.New("modem: Options.Dialer is nil")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &modem{
		opts:   opts,
		ip:     NewInterp(opts.Interp),
		now:    now,
		events: make(chan event, 16),
		ctx:    ctx,
		dteOut: make(chan dteChunk, 64),
	}
	defer func() {
		cancel()
		m.dropCall()
		if inc := m.takeIncoming(); inc != nil {
			inc.Refuse()
		}
		if opts.Answerer != nil {
			_ = opts.Answerer.Close()
		}
		_ = dte.Close()
		close(m.dteOut)
		m.wg.Wait()
	}()

	m.dcd.name, m.dsr.name, m.ri.name, m.flow.name = "DCD", "DSR", "RI", "flow control"
	if cs, ok := dte.(CarrierSetter); ok {
		m.dcd.set = cs.SetCarrier
	}
	if ds, ok := dte.(DSRSetter); ok {
		m.dsr.set = ds.SetDSR
	}
	if rs, ok := dte.(RingSetter); ok {
		m.ri.set = rs.SetRing
	}
	if fs, ok := dte.(FlowSetter); ok {
		m.flow.set = fs.SetFlow
	}
	m.updateSignals()
	m.goFunc(func() { m.readDTE(dte) })
	m.goFunc(func() { m.writeDTE(dte) })
	if opts.Answerer != nil {
		m.goFunc(m.acceptLoop)
	}
	return m.loop()
}

func (m *modem) goFunc(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

func (m *modem) logf(format string, args ...any) {
	if m.opts.Logger != nil {
		m.opts.Logger.Printf(format, args...)
	}
}

// send delivers an event to the loop unless Run is ending.
func (m *modem) send(ev event) bool {
	select {
	case m.events <- ev:
		return true
	case <-m.ctx.Done():
		if ev.call != nil {
			_ = ev.call.Close()
		}
		if ev.inc != nil {
			ev.inc.Refuse()
		}
		return false
	}
}

func (m *modem) loop() error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var tick <-chan time.Time
		d, ok := m.ip.Deadline()
		waiting := m.prompt != nil && m.prompt.req != nil
		if waiting {
			// S7 waits while the user types (it starts again after
			// each line); the prompt has its own bound.
			d, ok = m.prompt.deadline, true
		}
		if ok {
			timer.Reset(max(d.Sub(m.now()), 0))
			tick = timer.C
		}
		select {
		case <-m.ctx.Done():
			return nil
		case <-tick:
			if waiting {
				m.promptTimedOut()
			} else {
				m.apply(m.ip.Tick(m.now()))
			}
		case ev := <-m.events:
			if err := m.handle(ev); err != nil {
				return err
			}
		}
		m.updateSignals()
		m.noteOnline()
		if tick == nil {
			continue
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (m *modem) handle(ev event) error {
	now := m.now()
	if ev.kind == evDTE || ev.kind == evDTR {
		m.answering, m.answeringEpoch = true, ev.epoch
		defer func() { m.answering = false }()
	}
	switch ev.kind {
	case evDTE:
		if m.prompt != nil {
			m.promptInput(ev.data)
			clear(ev.data) // a password's keystrokes
			return nil
		}
		m.apply(m.ip.FromDTE(now, ev.data))
	case evPrompt:
		m.startPrompt(ev.prompt)
	case evDTR:
		m.logf("modem: DTE dropped DTR")
		m.dtrDown.rearm()
		m.endPrompting()
		m.held.resume() // an XOFF does not outlive the DTE that sent it
		out := m.ip.DTRDrop(now)
		if ev.gone {
			// The result of the drop (NO CARRIER) would be queued for
			// the DTE that went and reach the next DTE session as its
			// own, when that opens the pty before it is written (seen
			// under load).
			out.DTE = nil
		}
		m.apply(out)
	case evDTRUp:
		m.logf("modem: DTE raised DTR")
		m.ip.DTRRaise()
	case evDTEEnd:
		if errors.Is(ev.err, io.EOF) {
			return fmt.Errorf("modem: DTE closed: %w", ev.err)
		}
		return fmt.Errorf("modem: DTE: %w", ev.err)
	case evLine:
		if ev.gen != m.gen || m.call == nil {
			return nil
		}
		if m.ip.State() == StateOnlineCommand && len(m.fromLine)+len(ev.data) <= maxHeldFromLine {
			m.fromLine = append(m.fromLine, ev.data...)
			m.heldN.Store(int64(len(m.fromLine)))
			return nil
		}
		out, n := m.ip.FromLine(ev.data)
		if n > 0 {
			m.logf("modem: %d octets from the line discarded in command mode", n)
		}
		m.apply(out)
	case evLineEnd:
		if ev.gen != m.gen || m.call == nil {
			return nil
		}
		explain := "the other end hung up"
		if ev.err != nil && !errors.Is(ev.err, io.EOF) {
			explain = "the line failed"
			m.logf("modem: call lost: %v", ev.err)
		} else {
			m.logf("modem: remote hung up")
		}
		if len(m.fromLine) > 0 {
			// What the remote sent in command mode, its goodbye
			// maybe, is not lost with the call (review): it comes
			// before the NO CARRIER.
			m.toDTE(m.fromLine)
		}
		m.dropCall()
		m.apply(m.ip.CarrierLost(now, explain))
	case evDialed:
		if ev.gen != m.gen {
			if ev.call != nil {
				m.closeCall(ev.call)
			}
			return nil
		}
		m.cancelDial = nil
		m.endPrompting()
		if ev.err != nil {
			r, explain := Classify(ev.err)
			m.logf("modem: call failed (%v): %s", r, dialFailure(ev.err))
			m.apply(m.ip.DialFailed(now, r, explain))
			return nil
		}
		out := m.ip.Connected(now, ev.call.Info())
		if m.ip.State() != StateOnline {
			m.closeCall(ev.call)
			return nil
		}
		m.startCall(ev.call)
		m.logf("modem: connected (%d bit/s, LAPM %v)", ev.call.Info().Rate, ev.call.Info().LAPM)
		m.apply(out)
	case evIncoming:
		if m.incoming != nil || m.call != nil || m.ip.State() != StateCommand {
			m.logf("modem: incoming call from %s refused: line in use", ev.inc.Peer())
			if b, ok := ev.inc.(busyRefuser); ok {
				m.goFunc(b.RefuseBusy)
			} else {
				m.refuse(ev.inc)
			}
			return nil
		}
		m.logf("modem: incoming call from %s", ev.inc.Peer())
		m.setIncoming(ev.inc)
		m.apply(m.ip.Incoming(now))
	case evIncomingGone:
		if m.incoming == nil || m.incoming != ev.inc {
			return nil // answered or refused meanwhile
		}
		m.logf("modem: incoming call from %s: the caller hung up while ringing", ev.inc.Peer())
		m.refuse(m.takeIncoming())
		m.apply(m.ip.IncomingGone(now))
	}
	return nil
}

// apply performs the interpreter's output. A profile is saved before the
// DTE sees the OK for &W.
func (m *modem) apply(out Output) {
	for _, a := range out.Actions {
		if a.Kind == ActSave && m.opts.SaveProfile != nil {
			if err := m.opts.SaveProfile(a.Profile); err != nil {
				m.logf("modem: &W: %v", err)
			}
		}
	}
	if len(out.DTE) > 0 {
		// The DTE may have stopped reading and gone: a DTR drop must
		// not wait behind output nobody will read (readDTE fires dtrDown
		// before the loop hears of the drop, and that output is
		// discarded anyway).
		m.toDTE(out.DTE)
	}
	if q := m.lineQ.Load(); len(out.Line) > 0 && q != nil {
		q.put(append([]byte(nil), out.Line...))
	}
	for _, a := range out.Actions {
		switch a.Kind {
		case ActDial:
			m.dial(a.Dial, a.Whole, a.Mode)
		case ActHangup:
			if a.Why != "" {
				m.logf("modem: hang up: %s", a.Why)
			} else {
				m.logf("modem: hang up")
			}
			m.dropCall()
			if inc := m.takeIncoming(); inc != nil {
				m.refuse(inc)
			}
		case ActAnswer:
			m.answer()
		case ActRefuse:
			if inc := m.takeIncoming(); inc != nil {
				m.logf("modem: incoming call from %s refused", inc.Peer())
				m.refuse(inc)
			}
		}
	}
}

// toDTE queues b for the DTE. It is dropped when the DTE has dropped DTR
// and the loop has not acted on it yet: it was meant for the DTE that
// went, and must not reach the next one.
func (m *modem) toDTE(b []byte) {
	// The epoch first: readDTE fires dtrDown before it moves to the
	// next epoch, so b is either seen as after a drop here or queued in
	// the old epoch, which writeDTE discards.
	c := dteChunk{epoch: m.dteEpoch.Load()}
	if m.answering && m.answeringEpoch < c.epoch {
		// An answer to a DTE that has gone since it typed: writeDTE
		// discards it.
		c.epoch = m.answeringEpoch
	}
	drop := m.dtrDown.C()
	select {
	case <-drop:
		return
	default:
	}
	c.b = append([]byte(nil), b...)
	select {
	case m.dteOut <- c:
	case <-drop:
	case <-m.ctx.Done():
	}
}

// dial starts placing a call in its own goroutine; the result comes back
// as evDialed with the attempt's generation. whole is s with the tone or
// pulse letter it lost (Action.Whole).
func (m *modem) dial(s, whole string, mode Mode) {
	m.dropCall()
	m.gen++
	gen := m.gen
	pb := m.opts.Phonebook
	if m.opts.PhonebookFile != nil {
		var err error
		if pb, err = m.opts.PhonebookFile.Current(); err != nil {
			m.logf("modem: %v (dialing with the entries read before)", err)
		}
	}
	t, err := pb.ResolveDial(s, whole)
	if err == nil && t.Name == "" && mode != "" {
		// No phonebook entry: \N says how to call (AT\N0, a plain
		// call without the V.42 detection characters a BBS's login
		// prompt would read: modem trial).
		t.Mode = mode
	}
	if err != nil {
		m.goFunc(func() {
			// The phonebook's words say what is wrong (not in it, a
			// password in the dial string, a malformed address).
			m.send(event{kind: evDialed, gen: gen, err: &DialError{Reason: ReasonError, Explain: strings.TrimPrefix(err.Error(), "modem: "), Err: err}})
		})
		return
	}
	m.logf("modem: dialing %v", t)
	ctx, cancel := context.WithCancel(m.ctx)
	ctx = context.WithValue(ctx, promptKey{}, Prompter(dialPrompter{m: m, gen: gen}))
	m.cancelDial = cancel
	m.goFunc(func() {
		defer cancel()
		c, err := m.opts.Dialer.Dial(ctx, t)
		if err == nil && c == nil {
			err = errors.New("modem: dialer returned no call")
		}
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = &DialError{Reason: ReasonNoCarrier, Explain: "dial abandoned", Err: err}
		}
		m.send(event{kind: evDialed, gen: gen, call: c, err: err})
	})
}

func (m *modem) answer() {
	inc := m.takeIncoming()
	m.dropCall()
	m.gen++
	gen := m.gen
	if inc == nil {
		m.goFunc(func() {
			m.send(event{kind: evDialed, gen: gen, err: &DialError{Reason: ReasonNoCarrier, Explain: "the caller hung up"}})
		})
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	m.cancelDial = cancel
	m.goFunc(func() {
		defer cancel()
		c, err := inc.Answer(ctx)
		if err != nil {
			inc.Refuse()
			if de := (*DialError)(nil); !errors.As(err, &de) {
				err = &DialError{Reason: ReasonNoCarrier, Explain: "not the expected callback; call refused", Err: err}
			}
		}
		m.send(event{kind: evDialed, gen: gen, call: c, err: err})
	})
}

// noteOnline tells the forwarder whether the DTE's input goes to the line,
// and wakes it when that stops (+++, a DTR drop under &D1, a hang-up).
func (m *modem) noteOnline() {
	on := m.ip.State() == StateOnline
	if m.online.Swap(on) == on {
		return
	}
	if q := m.lineQ.Load(); q != nil {
		q.wake() // the forwarder (off) and the line's reader (on)
	}
	if on && len(m.fromLine) > 0 {
		b := m.fromLine
		m.fromLine = nil
		m.heldN.Store(0)
		out, _ := m.ip.FromLine(b)
		m.apply(out)
	}
}

// heldLimit is how much the line's reader reads on while the modem is in
// command mode (fromLine); maxHeldFromLine bounds fromLine, with room
// for the reads already on their way to the loop when the reader stops.
const (
	heldLimit       = 128 << 10
	maxHeldFromLine = 256 << 10
)

// waitOnline holds the line's reader while the call is up, the modem is
// not online (command mode after +++, or &D1's DTR drop) and heldLimit
// octets of the remote's are held for ATO: the rest waits in the line,
// as on tcpser, instead of being thrown away (modem trial: a BBS's output
// while the user was in command mode was lost). Below that the reader
// reads on, so that a remote's hang-up is heard at once (review). False
// when Run ends. A call that ended (the queue closed: a hang-up, or the
// writer's failure) is read at once, so that its end is reported.
func (m *modem) waitOnline(q *lineQueue) bool {
	for {
		closed, _, ch := q.look()
		if closed {
			return true
		}
		// online after took: noteOnline swaps it before it wakes took.
		if m.online.Load() || m.heldN.Load() < heldLimit {
			return true
		}
		select {
		case <-ch:
		case <-m.ctx.Done():
			return false
		}
	}
}

// startCall installs an established call: a reader feeding the loop and a
// writer draining lineQ.
func (m *modem) startCall(c Call) {
	m.call = c
	gen := m.gen
	q := newLineQueue()
	m.lineQ.Store(q)
	m.goFunc(func() {
		buf := make([]byte, 4096)
		for {
			if !m.waitOnline(q) {
				return
			}
			n, err := c.Read(buf)
			if n > 0 {
				if !m.send(event{kind: evLine, gen: gen, data: append([]byte(nil), buf[:n]...)}) {
					return
				}
			}
			if err != nil {
				m.send(event{kind: evLineEnd, gen: gen, err: err})
				return
			}
		}
	})
	m.goFunc(func() { m.writeLine(c, q) })
}

// dropCall abandons a dial or answer in progress and hangs up the call.
func (m *modem) dropCall() {
	m.endPrompting()
	if m.cancelDial != nil {
		m.cancelDial()
		m.cancelDial = nil
	}
	m.gen++ // late results of the old attempt are stale
	m.fromLine = nil
	m.heldN.Store(0)
	if m.call != nil {
		m.lineQ.Swap(nil).close()
		m.closeCall(m.call)
		m.call = nil
	}
}

// closeCall hangs up c without blocking the loop (a line's Close may wait
// to flush).
func (m *modem) closeCall(c Call) {
	m.goFunc(func() {
		if err := c.Close(); err != nil {
			m.logf("modem: hang up: %v", err)
		}
	})
}

// updateSignals drives what the DTE sees when the interpreter's decision
// changed: DCD (&C), DSR (&S), RI (ringing) and the flow control (&K),
// the latter in band when the DTE's device cannot do it.
func (m *modem) updateSignals() {
	now := m.now()
	m.dcd.update(m.ip.DCD(), m.logf)
	m.dsr.update(m.ip.DSR(), m.logf)
	m.ri.update(m.ip.RI(now), m.logf)
	f := m.ip.Flow()
	if m.flow.set != nil {
		m.flow.update(f, m.logf)
		return
	}
	if m.inband.Load() != f.XONXOFF {
		m.inband.Store(f.XONXOFF)
		if !f.XONXOFF {
			m.held.resume()
		}
	}
	if f.RTSCTS && !m.flowLogged {
		m.logf("modem: RTS/CTS flow control (&K%d) needs a serial port with those lines; this DTE has none (a pty or stdio: use &K4, XON/XOFF)", m.ip.Profile().Flow)
		m.flowLogged = true
	}
}

// inbandFlow takes DC1/DC3 out of p (input from the DTE) as flow
// control: DC3 holds output to the DTE, DC1 resumes it; the last one
// decides. It returns the data that remains.
func (m *modem) inbandFlow(p []byte) []byte {
	out := p[:0]
	for _, c := range p {
		switch c {
		case xoff:
			m.held.hold()
		case xon:
			m.held.resume()
		default:
			out = append(out, c)
		}
	}
	return out
}

// busyRefuser is an Incoming that can tell its caller the line is busy
// before it hangs up (lineIncoming).
type busyRefuser interface{ RefuseBusy() }

// refuse hangs up a ringing call without blocking the loop (a line's
// Close may linger until the caller has hung up too).
func (m *modem) refuse(inc Incoming) {
	m.goFunc(inc.Refuse)
}

// setIncoming makes inc the ringing call and watches for its caller
// hanging up (evIncomingGone).
func (m *modem) setIncoming(inc Incoming) {
	m.incoming = inc
	gone := inc.Gone()
	if gone == nil {
		return
	}
	done := make(chan struct{})
	m.incomingDone = done
	m.goFunc(func() {
		select {
		case <-gone:
			m.send(event{kind: evIncomingGone, inc: inc})
		case <-done:
		case <-m.ctx.Done():
		}
	})
}

// takeIncoming returns the ringing call (nil if none) and stops watching
// it; the caller answers or refuses it.
func (m *modem) takeIncoming() Incoming {
	inc := m.incoming
	m.incoming = nil
	if m.incomingDone != nil {
		close(m.incomingDone)
		m.incomingDone = nil
	}
	return inc
}

// acceptLoop hands the answerer's calls to the loop. Failed accepts other
// than a closed answerer (out of descriptors: a flood of connections
// refused while the line is busy can do that) are retried with
// internal/retry's back-off, as the gateway's listeners do. Before, one
// such failure stopped the answering for good while the port stayed
// open (review).
func (m *modem) acceptLoop() {
	var backoff retry.Backoff
	failures := 0 // since the last one logged
	var logged time.Time
	for {
		inc, err := m.opts.Answerer.Accept(m.ctx)
		if err != nil {
			if m.ctx.Err() != nil {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				m.logf("modem: answerer stopped: %v", err)
				return
			}
			now := time.Now()
			delay := backoff.Next(now)
			failures++
			if now.Sub(logged) >= time.Second {
				m.logf("modem: answering: %v (%d failed accepts; retrying in %v)", err, failures, delay)
				failures, logged = 0, now
			}
			if !m.sleep(delay) {
				return
			}
			continue
		}
		if !m.send(event{kind: evIncoming, inc: inc}) {
			return
		}
	}
}

func (m *modem) readDTE(dte io.Reader) {
	// The loop gets what is read through an inbox, so that reading goes
	// on while it is busy (see maxDTEBacklog).
	in := newDTEInbox()
	m.goFunc(func() { m.forward(in) })
	defer in.close()
	buf := make([]byte, 1024)
	dtr, _ := dte.(dtrWatcher)
	var bucket *pace.Bucket
	if m.opts.PaceDTE && m.opts.Interp.DTERate > 0 {
		// Input at the DTE rate: read at most a burst, then wait until
		// the simulated wire has carried it.
		bucket = pace.NewBucket(m.opts.Interp.DTERate, 10, 0)
		buf = buf[:min(len(buf), bucket.Burst())]
	}
	for {
		n, err := dte.Read(buf)
		if n > 0 && bucket != nil && !m.sleep(bucket.Reserve(m.now(), n)) {
			return
		}
		data := buf[:n]
		if n > 0 && m.inband.Load() {
			data = m.inbandFlow(data)
		}
		if len(data) > 0 {
			// Wait for room unless the DTE holds the output: then the
			// loop may wait for the DTE, and input that does not fit
			// is dropped (see maxDTEBacklog).
			if !m.held.isHeld() {
				res, closed := in.waitRoom(len(data), m.ctx.Done(), dtr)
				if res == roomDTRDrop && err == nil {
					// Heard now: the loop stops waiting for the
					// DTE's output, the forwarder for the line
					// (so there is room), and what was read before
					// the drop goes first, in its own session, the
					// drop after it as Read's would be; &D decides
					// what becomes of it (review: it was thrown
					// away, under &D0 too).
					m.dtrDown.fire()
					err = ErrDTRDrop
					if closed {
						err = fmt.Errorf("%w (%w)", ErrDTRDrop, ErrDTEClosed)
					}
					res, _ = in.waitRoom(len(data), m.ctx.Done(), nil)
				}
				if res == roomDone {
					clear(buf[:n])
					return
				}
			}
			ended, began := in.put(event{kind: evDTE, data: append([]byte(nil), data...), epoch: m.dteEpoch.Load()})
			// What was typed may be a password at a prompt: the loop
			// wipes its copy, and this one goes now.
			clear(buf[:n])
			if began {
				m.logf("modem: input from the DTE overflows the modem's %d KiB buffer while its output waits (held by XOFF, or not read): dropping input", maxDTEBacklog>>10)
			}
			if ended > 0 {
				m.logf("modem: %d octets of input from the DTE were dropped", ended)
			}
		}
		if errors.Is(err, ErrDTRDrop) {
			// Output for the DTE that went is discarded from now on,
			// and the loop stops waiting for it at once.
			m.dtrDown.fire()
			e := m.dteEpoch.Add(1)
			in.put(event{kind: evDTR, gone: errors.Is(err, ErrDTEClosed), epoch: e})
			continue
		}
		if errors.Is(err, ErrDTRRaise) {
			in.put(event{kind: evDTRUp})
			continue
		}
		if err != nil {
			in.put(event{kind: evDTEEnd, err: err})
			return
		}
		if m.ctx.Err() != nil {
			return
		}
	}
}

// writeDTE writes to the DTE, paced at the DTE rate when asked. Write
// errors (no DTE attached) drop the bytes, as a modem talking to an
// unplugged cable would, and so does a DTR drop the output queued before
// it.
func (m *modem) writeDTE(dte io.Writer) {
	var bucket *pace.Bucket
	if m.opts.PaceDTE && m.opts.Interp.DTERate > 0 {
		bucket = pace.NewBucket(m.opts.Interp.DTERate, 10, 0)
	}
	for c := range m.dteOut {
		b := c.b
		for len(b) > 0 && c.epoch == m.dteEpoch.Load() {
			chunk := b
			inband := m.inband.Load()
			if inband {
				// Under XON/XOFF a DC3 stops the output within a
				// few characters, as on a serial line.
				chunk = chunk[:min(len(chunk), xoffGranule)]
			}
			if bucket != nil {
				// The bucket is charged for what is written.
				chunk = chunk[:min(len(chunk), bucket.Burst())]
				m.sleep(bucket.Reserve(m.now(), len(chunk)))
			}
			if inband {
				m.held.wait(m.ctx.Done(), func() {
					m.logf("modem: XOFF from the DTE: output held (%d octets waiting)", len(b))
				})
			}
			if m.ctx.Err() != nil {
				break
			}
			_, _ = dte.Write(chunk)
			b = b[len(chunk):]
		}
	}
}

// xoffGranule is the most written to the DTE at once under XON/XOFF: the
// output stops this close to the DTE's DC3.
const xoffGranule = 64

// sleep waits for d unless Run is ending; it reports whether Run goes on.
func (m *modem) sleep(d time.Duration) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-m.ctx.Done():
		}
	}
	return m.ctx.Err() == nil
}
