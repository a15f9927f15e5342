package v42caller

import (
	"time"

	"github.com/dialgate/dialgate/lapm"
)

// StallPolls is how many acknowledgement timer (T401) expiries in a row,
// with no frame heard from the gateway since, make a session stalled:
// the link has asked the gateway twice and heard nothing, as the text
// page's keepalive calls a call stalled after two unanswered pings. On a
// line that merely pauses the gateway answers the link's first poll.
const StallPolls = 2

// StallEvery is how often WatchStall looks at the link.
const StallEvery = 250 * time.Millisecond

// Stall says whether a session's link is stalled: the gateway has
// stopped answering it (the network is down, or the gateway stopped).
// The link ends the call itself when N400 polls in a row go unanswered
// (lapm: T403 10 s of silence, then T401 × N400, about 20 s on an idle
// link, 11 s after input was sent); a stall is reported before that.
type Stall struct {
	Stalled bool
	// Silent is how long the link has waited for an answer, about:
	// from the first frame the gateway left unanswered.
	Silent time.Duration
	// Left is about how long the link waits more before it gives up
	// and ends the call (the polls still to go, T401 apart).
	Left time.Duration
}

// StallWatch tells a stall from a link's counters (lapm.Stats), sampled
// now and then: a stall is StallPolls T401 expiries since the last frame
// received; any frame received ends it. Its zero value is ready.
type StallWatch struct {
	started   bool
	frames    uint64    // FramesReceived when last seen changing
	expiries  uint64    // T401Expiries then
	heardAt   time.Time // when FramesReceived was last seen changing
	waitSince time.Time // when the link began waiting for an answer, zero while it is not
	stalled   bool
}

// Sample takes the link's counters at now and returns the state, and
// whether it changed since the last sample (a stall began or ended).
func (w *StallWatch) Sample(now time.Time, st lapm.Stats) (Stall, bool) {
	if !w.started || st.FramesReceived != w.frames {
		w.started = true
		w.frames, w.expiries, w.heardAt, w.waitSince = st.FramesReceived, st.T401Expiries, now, time.Time{}
		if w.stalled {
			w.stalled = false
			return Stall{}, true
		}
		return Stall{}, false
	}
	unanswered := st.T401Expiries - w.expiries
	if unanswered == 0 {
		return Stall{}, false
	}
	if w.waitSince.IsZero() {
		// The frame left unanswered went out about one T401 before
		// its timer expired.
		w.waitSince = now.Add(-st.T401)
		if w.waitSince.Before(w.heardAt) {
			w.waitSince = w.heardAt
		}
	}
	if unanswered < StallPolls {
		return Stall{}, false
	}
	// The link fails at the expiry after its N400th poll (lapm's
	// t401Expired), counted from the first frame left unanswered.
	left := time.Duration(lapm.DefaultN400+1-int64(min(unanswered, lapm.DefaultN400+1))) * st.T401
	s := Stall{Stalled: true, Silent: now.Sub(w.waitSince), Left: left}
	if w.stalled {
		return s, false
	}
	w.stalled = true
	return s, true
}

// WatchStall samples link every StallEvery until done is closed and
// calls report with each change (a stall beginning, with how long the
// gateway has been silent, or ending).
func WatchStall(link *lapm.Link, done <-chan struct{}, report func(Stall)) {
	var w StallWatch
	tick := time.NewTicker(StallEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			if s, changed := w.Sample(now, link.Stats()); changed {
				report(s)
			}
		}
	}
}
