package v42caller

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// MaxBuffered is how many received octets a Line holds for Read before
// Feed refuses more (the embedder cannot be throttled: a WebSocket
// delivers messages whether or not Go reads them).
const MaxBuffered = 1 << 20

// ErrOverflow is returned by Feed when the reader fell MaxBuffered octets
// behind; the line is then closed.
var ErrOverflow = errors.New("v42caller: line buffer overflow")

// Line is a transport.Line whose received octets are delivered by Feed and
// whose written octets go to a send function. It supports read deadlines,
// which V.42 detection needs.
type Line struct {
	send    func([]byte) error
	onClose func()
	info    transport.LineInfo

	mu       sync.Mutex
	buf      []byte
	eof      bool // the peer hung up (after buf is drained)
	closed   bool
	deadline time.Time
	wake     chan struct{} // capacity 1: Feed, Close and deadline changes poke Read
	once     sync.Once
}

var _ transport.Line = (*Line)(nil)

// NewLine returns a Line that sends with send (called from the writing
// goroutine; it must not keep p) and calls onClose (may be nil) once when
// closed locally.
func NewLine(send func(p []byte) error, onClose func(), info transport.LineInfo) *Line {
	return &Line{send: send, onClose: onClose, info: info, wake: make(chan struct{}, 1)}
}

func (l *Line) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Feed delivers octets received from the peer. It copies p and never
// blocks.
func (l *Line) Feed(p []byte) error {
	l.mu.Lock()
	if l.closed || l.eof {
		l.mu.Unlock()
		return transport.ErrHungUp
	}
	if len(l.buf)+len(p) > MaxBuffered {
		l.mu.Unlock()
		l.Close()
		return fmt.Errorf("%w (%d octets unread)", ErrOverflow, MaxBuffered)
	}
	l.buf = append(l.buf, p...)
	l.mu.Unlock()
	l.poke()
	return nil
}

// PeerHungUp reports that the peer closed: Read returns io.EOF once the
// octets already fed are read.
func (l *Line) PeerHungUp() {
	l.mu.Lock()
	l.eof = true
	l.mu.Unlock()
	l.poke()
}

// Read reads fed octets; it returns io.EOF after PeerHungUp,
// transport.ErrHungUp after Close, and an error wrapping
// os.ErrDeadlineExceeded when the read deadline passes.
func (l *Line) Read(p []byte) (int, error) {
	for {
		l.mu.Lock()
		switch {
		case l.closed:
			l.mu.Unlock()
			return 0, transport.ErrHungUp
		case len(l.buf) > 0:
			n := copy(p, l.buf)
			l.buf = l.buf[n:]
			if len(l.buf) == 0 {
				l.buf = nil
			}
			l.mu.Unlock()
			return n, nil
		case l.eof:
			l.mu.Unlock()
			return 0, io.EOF
		}
		dl := l.deadline
		l.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, fmt.Errorf("v42caller: read: %w", os.ErrDeadlineExceeded)
			}
			t := time.NewTimer(d)
			timeout = t.C
			select {
			case <-l.wake:
			case <-timeout:
			}
			t.Stop()
			continue
		}
		<-l.wake
	}
}

// Write hands a copy of p to the send function.
func (l *Line) Write(p []byte) (int, error) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return 0, transport.ErrHungUp
	}
	if err := l.send(append([]byte(nil), p...)); err != nil {
		return 0, fmt.Errorf("v42caller: write: %w", err)
	}
	return len(p), nil
}

// SetReadDeadline sets the deadline for Read (zero: none); it also wakes
// a Read in progress to look at the new deadline.
func (l *Line) SetReadDeadline(t time.Time) error {
	l.mu.Lock()
	l.deadline = t
	l.mu.Unlock()
	l.poke()
	return nil
}

// Close hangs up: Read and Write fail with transport.ErrHungUp, and
// onClose runs once.
func (l *Line) Close() error {
	l.mu.Lock()
	l.closed = true
	l.buf = nil
	l.mu.Unlock()
	l.poke()
	l.once.Do(func() {
		if l.onClose != nil {
			l.onClose()
		}
	})
	return nil
}

// Info describes the line as given to NewLine.
func (l *Line) Info() transport.LineInfo { return l.info }
