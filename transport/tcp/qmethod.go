package tcp

import "fmt"

// This file is the option negotiation state machine of RFC 1143 ("The Q
// Method of Implementing TELNET Option Negotiation", section 7). Each option
// has two independent sides: "us" (we WILL/WONT perform it, the peer says
// DO/DONT) and "him" (the peer WILL/WONT, we say DO/DONT). The Q method
// answers every request at most once and never answers an answer, so two
// ends cannot loop however confused the peer is.

// qState is the state of one side of one option (RFC 1143 section 7).
type qState uint8

const (
	qNo      qState = iota // disabled
	qYes                   // enabled
	qWantNo                // we asked to disable, waiting for the answer
	qWantYes               // we asked to enable, waiting for the answer
)

func (s qState) String() string {
	switch s {
	case qNo:
		return "NO"
	case qYes:
		return "YES"
	case qWantNo:
		return "WANTNO"
	case qWantYes:
		return "WANTYES"
	}
	return fmt.Sprintf("qState(%d)", uint8(s))
}

// qReply is what a side must send after an event: nothing, the positive
// verb (WILL for us, DO for him) or the negative one (WONT / DONT).
type qReply uint8

const (
	replyNone qReply = iota
	replyYes
	replyNo
)

// qSide is one side of one option: its state and the one-bit queue
// (RFC 1143 "usq"/"himq": EMPTY or OPPOSITE).
type qSide struct {
	state    qState
	opposite bool
}

// enabled reports whether the option is in effect on this side.
func (q *qSide) enabled() bool { return q.state == qYes }

// recvYes handles the peer's positive message (WILL for him, DO for us).
// accept says whether our policy allows the option when the peer offers it
// unasked. The returned note, if not empty, describes a protocol error worth
// a log line.
func (q *qSide) recvYes(accept bool) (reply qReply, note string) {
	switch q.state {
	case qNo:
		if accept {
			q.state = qYes
			return replyYes, ""
		}
		return replyNo, ""
	case qYes:
		return replyNone, ""
	case qWantNo:
		if q.opposite {
			q.state, q.opposite = qYes, false
		} else {
			q.state = qNo
		}
		return replyNone, "disable request answered by enable"
	default: // qWantYes
		if q.opposite {
			q.state, q.opposite = qWantNo, false
			return replyNo, ""
		}
		q.state = qYes
		return replyNone, ""
	}
}

// recvNo handles the peer's negative message (WONT for him, DONT for us).
func (q *qSide) recvNo() qReply {
	switch q.state {
	case qYes:
		q.state = qNo
		return replyNo
	case qWantNo:
		if q.opposite {
			q.state, q.opposite = qWantYes, false
			return replyYes
		}
		q.state = qNo
	case qWantYes:
		q.state, q.opposite = qNo, false
	}
	return replyNone
}

// askEnable is our wish to turn the option on. It returns replyYes when the
// request must be sent now; otherwise it queues or ignores the wish.
func (q *qSide) askEnable() qReply {
	switch q.state {
	case qNo:
		q.state = qWantYes
		return replyYes
	case qWantNo:
		q.opposite = true
	case qWantYes:
		q.opposite = false
	}
	return replyNone
}

// askDisable is our wish to turn the option off.
func (q *qSide) askDisable() qReply {
	switch q.state {
	case qYes:
		q.state = qWantNo
		return replyNo
	case qWantNo:
		q.opposite = false
	case qWantYes:
		q.opposite = true
	}
	return replyNone
}
