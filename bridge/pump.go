package bridge

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// backendLinger is how long, after the caller hung up and the backend was
// told (CloseWrite), the gateway waits for the backend to finish before
// closing it. It keeps a TCP backend from being reset while the last
// octets the caller sent are still on their way.
const backendLinger = 2 * time.Second

// copyBufSize is the buffer of each direction of a bridge.
const copyBufSize = 32 << 10

// endSide says which side ended a bridged session.
type endSide int

const (
	endBackend endSide = iota + 1 // backend closed (or failed)
	endCaller                     // caller hung up (or the line failed)
	endStopped                    // the gateway stopped the call (shutdown)
)

// pumpResult is how a bridged session ended.
type pumpResult struct {
	side       endSide
	backendErr error // non-nil when the backend failed rather than closed
	callerErr  error
	// upDone, when not nil, is the caller->backend copy still reading
	// from the caller: the call flow hangs up the caller, which ends it,
	// and then receives from upDone.
	upDone <-chan error
}

// counters are the octets bridged, updated as they move.
type counters struct {
	in, out atomic.Int64 // caller->backend, backend->caller
}

// pump copies caller input (r) to the backend and backend output to the
// caller (w) until either side ends or ctx is done. It does not hang up
// the caller; the call flow does, after telling the caller why. On return
// the backend is closed and every goroutine pump started has ended.
func pump(ctx context.Context, r io.Reader, w io.Writer, line transport.Line, be BackendConn, cnt *counters) pumpResult {
	upDone := make(chan error, 1)   // caller -> backend finished
	downDone := make(chan error, 1) // backend -> caller finished
	ctlDone := make(chan struct{})
	stopCtl := make(chan struct{})

	go func() {
		buf := make([]byte, copyBufSize)
		upDone <- copyCount(be, r, buf, &cnt.in)
	}()
	go func() {
		buf := make([]byte, copyBufSize)
		downDone <- copyCount(w, be, buf, &cnt.out)
	}()
	go func() {
		defer close(ctlDone)
		forwardControl(line, be, stopCtl)
	}()

	// The control forwarder uses the backend (Resize); it stops before
	// the backend is closed.
	var ctlOnce sync.Once
	stopControl := func() {
		ctlOnce.Do(func() {
			close(stopCtl)
			<-ctlDone
		})
	}
	defer stopControl()

	var res pumpResult
	select {
	case err := <-downDone:
		stopControl()
		var we writeError
		if errors.As(err, &we) {
			// The caller's line failed under our writes.
			res = pumpResult{side: endCaller, callerErr: we.err}
		} else {
			// The backend ended: everything it sent has been written
			// to the caller (copyCount returns after the last Write).
			res = pumpResult{side: endBackend, backendErr: errNotEOF(err)}
		}
		be.Close()
		res.upDone = upDone
	case err := <-upDone:
		stopControl()
		var we writeError
		if errors.As(err, &we) {
			// The backend failed under our writes; let what it still
			// has reach the caller.
			res = pumpResult{side: endBackend, backendErr: we.err}
			be.Close()
			<-downDone
			break
		}
		// The caller hung up: what it sent is with the backend. Let the
		// backend finish, then close it.
		res = pumpResult{side: endCaller, callerErr: errNotEOF(err)}
		_ = be.CloseWrite()
		t := time.NewTimer(backendLinger)
		select {
		case <-downDone:
		case <-t.C:
			be.Close()
			<-downDone
		case <-ctx.Done():
			be.Close()
			<-downDone
		}
		t.Stop()
		be.Close()
	case <-ctx.Done():
		stopControl()
		res = pumpResult{side: endStopped}
		be.Close()
		<-downDone
		res.upDone = upDone
	}
	return res
}

// writeError marks a copy that ended because its destination failed.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

// copyCount copies src to dst like io.CopyBuffer, counting octets as they
// are written. A write failure ends the copy without reading more.
func copyCount(dst io.Writer, src io.Reader, buf []byte, n *atomic.Int64) error {
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n.Add(int64(nw))
			if werr != nil {
				return writeError{werr}
			}
			if nw < nr {
				return writeError{io.ErrShortWrite}
			}
		}
		if rerr != nil {
			return rerr
		}
	}
}

func errNotEOF(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// forwardControl forwards window-size changes and interrupts from the
// line to the backend until stop is closed or the line's channels close.
func forwardControl(line transport.Line, be BackendConn, stop <-chan struct{}) {
	var win <-chan transport.WindowSize
	var ev <-chan transport.Event
	if wn, ok := line.(transport.WindowNotifier); ok {
		win = wn.WindowChanges()
	}
	if en, ok := line.(transport.EventNotifier); ok {
		ev = en.Events()
	}
	intr, _ := be.(Interrupter)
	for win != nil || ev != nil {
		select {
		case <-stop:
			return
		case w, ok := <-win:
			if !ok {
				win = nil
				continue
			}
			_ = be.Resize(w)
		case e, ok := <-ev:
			if !ok {
				ev = nil
				continue
			}
			if intr != nil && (e == transport.EventInterrupt || e == transport.EventBreak) {
				_ = intr.Interrupt()
			}
		}
	}
	<-stop
}
