package main

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// readAhead gives a line without read deadlines (a WebSocket line) the
// SetReadDeadline that V.42 detection (lapm.Detect, T400) needs: one
// goroutine reads the line and hands over chunks; Read waits for the next
// chunk up to the deadline. Close hangs up the line and ends the goroutine.
type readAhead struct {
	transport.Line

	chunks chan readChunk
	done   chan struct{}
	once   sync.Once
	wake   chan struct{}

	mu       sync.Mutex
	deadline time.Time
	cur      []byte
	err      error
}

type readChunk struct {
	b   []byte
	err error
}

// withDeadlines returns line if it has read deadlines, else a readAhead.
func withDeadlines(line transport.Line) transport.Line {
	if _, ok := line.(interface{ SetReadDeadline(time.Time) error }); ok {
		return line
	}
	r := &readAhead{Line: line, chunks: make(chan readChunk), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go r.loop()
	return r
}

func (r *readAhead) loop() {
	for {
		buf := make([]byte, 16<<10)
		n, err := r.Line.Read(buf)
		select {
		case r.chunks <- readChunk{buf[:n], err}:
		case <-r.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read implements io.Reader with the read deadline (os.ErrDeadlineExceeded).
func (r *readAhead) Read(p []byte) (int, error) {
	for {
		r.mu.Lock()
		if len(r.cur) > 0 {
			n := copy(p, r.cur)
			r.cur = r.cur[n:]
			r.mu.Unlock()
			return n, nil
		}
		if r.err != nil {
			err := r.err
			r.mu.Unlock()
			return 0, err
		}
		dl := r.deadline
		r.mu.Unlock()
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
		case c := <-r.chunks:
			r.mu.Lock()
			r.cur, r.err = c.b, c.err
			r.mu.Unlock()
		case <-timeout:
		case <-r.wake:
		case <-r.done:
			return 0, transport.ErrHungUp
		}
	}
}

// SetReadDeadline sets the deadline for Read (net.Conn semantics).
func (r *readAhead) SetReadDeadline(t time.Time) error {
	r.mu.Lock()
	r.deadline = t
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// CloseWrite half-closes the line where it can.
func (r *readAhead) CloseWrite() error {
	if cw, ok := r.Line.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// Close hangs up the line and ends the reading goroutine.
func (r *readAhead) Close() error {
	r.once.Do(func() { close(r.done) })
	return r.Line.Close()
}
