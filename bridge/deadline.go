package bridge

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// deadlineBuffer bounds what deadlineLine reads ahead of its reader.
const deadlineBuffer = 64 << 10

// deadlineLine gives a line without read deadlines (transport.Deadliner)
// the SetReadDeadline that V.42 detection needs: one goroutine reads the
// line ahead (at most deadlineBuffer octets) and Read waits for it with a
// deadline. Close hangs up the line, which ends the goroutine. The
// optional abilities of the line are passed through.
type deadlineLine struct {
	transport.Line

	mu       sync.Mutex
	buf      []byte
	err      error // sticky end of the line's input
	deadline time.Time
	avail    chan struct{} // signalled when buf or err changes
	space    chan struct{} // signalled when Read drains buf
	closed   chan struct{}
	once     sync.Once
	done     chan struct{} // the reader goroutine has ended
}

func newDeadlineLine(l transport.Line) *deadlineLine {
	d := &deadlineLine{Line: l, avail: make(chan struct{}, 1), space: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{})}
	go d.readAhead()
	return d
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (d *deadlineLine) readAhead() {
	defer close(d.done)
	tmp := make([]byte, 4096)
	for {
		n, err := d.Line.Read(tmp)
		d.mu.Lock()
		d.buf = append(d.buf, tmp[:n]...)
		if err != nil {
			d.err = err
		}
		full := len(d.buf) >= deadlineBuffer
		d.mu.Unlock()
		signal(d.avail)
		if err != nil {
			return
		}
		for full {
			select {
			case <-d.space:
			case <-d.closed:
				return
			}
			d.mu.Lock()
			full = len(d.buf) >= deadlineBuffer
			d.mu.Unlock()
		}
	}
}

// Read implements io.Reader with the read deadline.
func (d *deadlineLine) Read(p []byte) (int, error) {
	for {
		d.mu.Lock()
		if len(d.buf) > 0 {
			n := copy(p, d.buf)
			d.buf = d.buf[n:]
			if len(d.buf) == 0 {
				d.buf = nil
			}
			d.mu.Unlock()
			signal(d.space)
			return n, nil
		}
		if d.err != nil {
			err := d.err
			d.mu.Unlock()
			return 0, err
		}
		dl := d.deadline
		d.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			wait := time.Until(dl)
			if wait <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-d.avail:
		case <-timeout:
		case <-d.closed:
			return 0, transport.ErrHungUp
		}
	}
}

// SetReadDeadline implements transport.Deadliner (net.Conn semantics).
func (d *deadlineLine) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	d.deadline = t
	d.mu.Unlock()
	signal(d.avail) // a Read waiting re-checks the new deadline
	return nil
}

// SetWriteDeadline passes through when the line supports it.
func (d *deadlineLine) SetWriteDeadline(t time.Time) error {
	if dl, ok := d.Line.(transport.Deadliner); ok {
		return dl.SetWriteDeadline(t)
	}
	return errors.ErrUnsupported
}

// WindowChanges passes through (nil channel: no notifications).
func (d *deadlineLine) WindowChanges() <-chan transport.WindowSize {
	if w, ok := d.Line.(transport.WindowNotifier); ok {
		return w.WindowChanges()
	}
	return nil
}

// Events passes through (nil channel: no events).
func (d *deadlineLine) Events() <-chan transport.Event {
	if e, ok := d.Line.(transport.EventNotifier); ok {
		return e.Events()
	}
	return nil
}

// SetLinger passes the bound on Close on to the line, when it has one
// (transport.Lingerer).
func (d *deadlineLine) SetLinger(t time.Duration) {
	if s, ok := d.Line.(transport.Lingerer); ok {
		s.SetLinger(t)
	}
}

// Close hangs up the line and waits for the read-ahead goroutine.
func (d *deadlineLine) Close() error {
	var err error
	d.once.Do(func() {
		close(d.closed)
		err = d.Line.Close()
		<-d.done
	})
	return err
}
