package modem

import (
	"sync"
	"time"
)

// maxDTEBacklog bounds the DTE's input waiting for the loop, like a
// modem's input buffer. While the DTE holds the modem's output with XOFF
// the loop can be stuck queueing output for it, and the reader must go on
// reading: the DC1 that releases the output, and the DTR drop, arrive
// behind what the DTE typed or pasted meanwhile (before, the reader
// waited for the loop, and the modem froze for good). Input beyond the
// buffer while held is dropped, as a modem's buffer overflows; otherwise
// the reader waits for room, so that a paste is never lost and the pty
// holds the rest back from the terminal program.
const maxDTEBacklog = 64 << 10

// dteInbox carries readDTE's events to the loop in order (the forwarder
// goroutine hands them on), so that readDTE can read while the loop is
// busy. Events without data (DTR drop, end of input) always go in.
type dteInbox struct {
	mu      sync.Mutex
	evs     []event
	data    int  // octets of input queued
	dropped int  // octets dropped in the current overflow
	closed  bool // no more events
	ready   chan struct{}
	room    chan struct{} // the forwarder took events
}

func newDTEInbox() *dteInbox {
	return &dteInbox{ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// roomResult is how waitRoom ended.
type roomResult int

const (
	roomFits    roomResult = iota // the input fits now
	roomDone                      // done was closed
	roomDTRDrop                   // the DTE dropped DTR meanwhile
)

// dtrCheck is how often waitRoom asks a DTE that can tell without being
// read (dtrWatcher) whether it dropped DTR.
const dtrCheck = 250 * time.Millisecond

// dtrWatcher is a DTE that tells a DTR drop without being read (PTY,
// Serial with --dtr); closed says that the DTE closed its end
// (ErrDTEClosed), not only dropped DTR.
type dtrWatcher interface{ DTRDropped() (dropped, closed bool) }

// waitRoom waits until n more octets of input fit, done is closed, or
// (dtr not nil) the DTE drops DTR, and then says whether it closed its
// end too. While the line is slow the DTE's input waits here, unread,
// and Read would not see the drop (review: a user who closed the
// terminal program behind a full buffer was not heard).
func (in *dteInbox) waitRoom(n int, done <-chan struct{}, dtr dtrWatcher) (roomResult, bool) {
	var tick <-chan time.Time
	for {
		in.mu.Lock()
		fits := in.data+n <= maxDTEBacklog
		in.mu.Unlock()
		if fits {
			return roomFits, false
		}
		if dtr != nil {
			if dropped, closed := dtr.DTRDropped(); dropped {
				return roomDTRDrop, closed
			}
			if tick == nil {
				t := time.NewTicker(dtrCheck)
				defer t.Stop()
				tick = t.C
			}
		}
		select {
		case <-in.room:
		case <-tick:
		case <-done:
			return roomDone, false
		}
	}
}

// put queues ev. For input it reports how many octets the overflow that
// ended with ev had dropped (0 if none), and whether ev begins an
// overflow (it was dropped, and nothing before it).
func (in *dteInbox) put(ev event) (ended int, began bool) {
	in.mu.Lock()
	if n := len(ev.data); n > 0 {
		if in.data+n > maxDTEBacklog {
			clear(ev.data) // a password, maybe
			began = in.dropped == 0
			in.dropped += n
			in.mu.Unlock()
			return 0, began
		}
		in.data += n
		ended, in.dropped = in.dropped, 0
	}
	in.evs = append(in.evs, ev)
	in.mu.Unlock()
	select {
	case in.ready <- struct{}{}:
	default:
	}
	return ended, false
}

// close says that readDTE has ended: the forwarder ends once it has
// handed on what is queued.
func (in *dteInbox) close() {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	select {
	case in.ready <- struct{}{}:
	default:
	}
}

// forward hands the queued events to the loop until the inbox is closed
// and empty, or Run ends.
func (m *modem) forward(in *dteInbox) {
	for {
		in.mu.Lock()
		evs, closed := in.evs, in.closed
		in.evs = nil
		for _, ev := range evs {
			in.data -= len(ev.data)
		}
		in.mu.Unlock()
		if len(evs) > 0 {
			select {
			case in.room <- struct{}{}:
			default:
			}
		}
		for i, ev := range evs {
			// Input waits while the call's line has its fill (the
			// loop itself never waits for the line).
			if ev.kind == evDTE && len(ev.data) > 0 && !m.waitLineRoom() {
				for _, rest := range evs[i:] {
					clear(rest.data)
				}
				return
			}
			if !m.send(ev) {
				for _, rest := range evs[i:] {
					clear(rest.data)
				}
				return
			}
		}
		if closed && len(evs) == 0 {
			return
		}
		if len(evs) > 0 {
			continue // more may have come meanwhile
		}
		select {
		case <-in.ready:
		case <-m.ctx.Done():
			return
		}
	}
}
