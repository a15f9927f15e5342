package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dialgate/dialgate/transport/pace"
)

// ErrDTRDrop is returned (wrapped) by a DTE's Read when the DTE dropped DTR
// (for a pty: the last process holding the terminal closed it). The DTE must
// then block in later Reads until the DTE is back. Any other Read error ends
// Run.
var ErrDTRDrop = errors.New("modem: DTE dropped DTR")

// CarrierSetter is implemented by DTEs that can show the carrier to the
// DTE (a serial port wired so that one of our outputs reaches the DTE's
// DCD input). Run calls SetCarrier with Interp.DCD whenever it changes,
// and once at the start.
type CarrierSetter interface {
	SetCarrier(on bool) error
}

// Options configure Run.
type Options struct {
	Interp    Config     // command interpreter settings (stored profile, identity, DTE rate)
	Phonebook *Phonebook // resolves dial strings; nil resolves only addresses
	Dialer    Dialer     // places calls; required
	Answerer  Answerer   // incoming calls; nil means the modem never rings
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
	evDTEEnd
	evLine
	evLineEnd
	evDialed
	evIncoming
	evIncomingGone
)

type event struct {
	kind evKind
	gen  uint64 // call generation for line and dial events
	data []byte
	call Call
	inc  Incoming
	err  error
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

	dteOut chan []byte

	gen        uint64 // generation of the current call attempt
	call       Call
	callOut    chan []byte
	cancelDial context.CancelFunc
	incoming   Incoming
	// incomingDone ends the goroutine watching incoming's Gone channel.
	incomingDone chan struct{}

	carrier    CarrierSetter // nil: the DTE has no DCD to drive
	dcd, dcdOK bool          // the DCD last set, and whether it was
	dcdFailed  bool          // SetCarrier failed once (logged once)
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
		dteOut: make(chan []byte, 64),
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

	if cs, ok := dte.(CarrierSetter); ok {
		m.carrier = cs
		m.updateDCD()
	}
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
		if d, ok := m.ip.Deadline(); ok {
			timer.Reset(max(d.Sub(m.now()), 0))
			tick = timer.C
		}
		select {
		case <-m.ctx.Done():
			return nil
		case <-tick:
			m.apply(m.ip.Tick(m.now()))
		case ev := <-m.events:
			if err := m.handle(ev); err != nil {
				return err
			}
		}
		m.updateDCD()
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
	switch ev.kind {
	case evDTE:
		m.apply(m.ip.FromDTE(now, ev.data))
	case evDTR:
		m.logf("modem: DTE dropped DTR")
		m.apply(m.ip.DTRDrop(now))
	case evDTEEnd:
		if errors.Is(ev.err, io.EOF) {
			return fmt.Errorf("modem: DTE closed: %w", ev.err)
		}
		return fmt.Errorf("modem: DTE: %w", ev.err)
	case evLine:
		if ev.gen != m.gen || m.call == nil {
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
		if ev.err != nil {
			r, explain := Classify(ev.err)
			m.logf("modem: call failed (%v): %v", r, ev.err)
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
			m.refuse(ev.inc)
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
		b := append([]byte(nil), out.DTE...)
		select {
		case m.dteOut <- b:
		case <-m.ctx.Done():
		}
	}
	if len(out.Line) > 0 && m.callOut != nil {
		b := append([]byte(nil), out.Line...)
		select {
		case m.callOut <- b:
		case <-m.ctx.Done():
		}
	}
	for _, a := range out.Actions {
		switch a.Kind {
		case ActDial:
			m.dial(a.Dial)
		case ActHangup:
			m.logf("modem: hang up")
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

// dial starts placing a call in its own goroutine; the result comes back
// as evDialed with the attempt's generation.
func (m *modem) dial(s string) {
	m.dropCall()
	m.gen++
	gen := m.gen
	t, err := m.opts.Phonebook.Resolve(s)
	if err != nil {
		m.goFunc(func() {
			m.send(event{kind: evDialed, gen: gen, err: &DialError{Reason: ReasonError, Explain: "no such number", Err: err}})
		})
		return
	}
	m.logf("modem: dialing %v", t)
	ctx, cancel := context.WithCancel(m.ctx)
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

// startCall installs an established call: a reader feeding the loop and a
// writer draining callOut.
func (m *modem) startCall(c Call) {
	m.call = c
	gen := m.gen
	out := make(chan []byte, 64)
	m.callOut = out
	m.goFunc(func() {
		buf := make([]byte, 4096)
		for {
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
	m.goFunc(func() {
		for b := range out {
			if _, err := c.Write(b); err != nil {
				// The reader reports the end of the call; drain the rest.
				for range out {
				}
				return
			}
		}
	})
}

// dropCall abandons a dial or answer in progress and hangs up the call.
func (m *modem) dropCall() {
	if m.cancelDial != nil {
		m.cancelDial()
		m.cancelDial = nil
	}
	m.gen++ // late results of the old attempt are stale
	if m.call != nil {
		close(m.callOut)
		m.closeCall(m.call)
		m.call, m.callOut = nil, nil
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

// updateDCD drives the DTE's DCD per &C when it changed.
func (m *modem) updateDCD() {
	if m.carrier == nil {
		return
	}
	on := m.ip.DCD()
	if m.dcdOK && on == m.dcd {
		return
	}
	if err := m.carrier.SetCarrier(on); err != nil {
		if !m.dcdFailed {
			m.logf("modem: cannot drive DCD: %v", err)
			m.dcdFailed = true
		}
		m.dcdOK = false
		return
	}
	m.dcd, m.dcdOK = on, true
}

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

func (m *modem) acceptLoop() {
	for {
		inc, err := m.opts.Answerer.Accept(m.ctx)
		if err != nil {
			if m.ctx.Err() == nil {
				m.logf("modem: answerer stopped: %v", err)
			}
			return
		}
		if !m.send(event{kind: evIncoming, inc: inc}) {
			return
		}
	}
}

func (m *modem) readDTE(dte io.Reader) {
	buf := make([]byte, 1024)
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
		if n > 0 {
			if !m.send(event{kind: evDTE, data: append([]byte(nil), buf[:n]...)}) {
				return
			}
		}
		if errors.Is(err, ErrDTRDrop) {
			if !m.send(event{kind: evDTR}) {
				return
			}
			continue
		}
		if err != nil {
			m.send(event{kind: evDTEEnd, err: err})
			return
		}
	}
}

// writeDTE writes to the DTE, paced at the DTE rate when asked. Write
// errors (no DTE attached) drop the bytes, as a modem talking to an
// unplugged cable would.
func (m *modem) writeDTE(dte io.Writer) {
	var bucket *pace.Bucket
	if m.opts.PaceDTE && m.opts.Interp.DTERate > 0 {
		bucket = pace.NewBucket(m.opts.Interp.DTERate, 10, 0)
	}
	for b := range m.dteOut {
		for len(b) > 0 {
			chunk := b
			if bucket != nil {
				chunk = b[:min(len(b), bucket.Burst())]
				m.sleep(bucket.Reserve(m.now(), len(chunk)))
			}
			if m.ctx.Err() != nil {
				break
			}
			_, _ = dte.Write(chunk)
			b = b[len(chunk):]
		}
	}
}

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
