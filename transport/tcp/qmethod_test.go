package tcp

import "testing"

// TestQMethodTable checks every transition of RFC 1143 section 7 for one
// side of an option.
func TestQMethodTable(t *testing.T) {
	type st = qSide
	no, yes := st{state: qNo}, st{state: qYes}
	wantNo, wantNoOpp := st{state: qWantNo}, st{state: qWantNo, opposite: true}
	wantYes, wantYesOpp := st{state: qWantYes}, st{state: qWantYes, opposite: true}

	recvYes := []struct {
		from   st
		accept bool
		to     st
		reply  qReply
		error  bool
	}{
		{no, true, yes, replyYes, false},
		{no, false, no, replyNo, false},
		{yes, true, yes, replyNone, false},
		{yes, false, yes, replyNone, false},
		{wantNo, true, no, replyNone, true},
		{wantNoOpp, true, yes, replyNone, true},
		{wantYes, true, yes, replyNone, false},
		{wantYesOpp, true, wantNo, replyNo, false},
	}
	for _, tc := range recvYes {
		q := tc.from
		r, note := q.recvYes(tc.accept)
		if q != tc.to || r != tc.reply || (note != "") != tc.error {
			t.Errorf("recvYes(%v) from %+v: to %+v reply %v note %q; want %+v %v error=%v", tc.accept, tc.from, q, r, note, tc.to, tc.reply, tc.error)
		}
	}

	recvNo := []struct {
		from, to st
		reply    qReply
	}{
		{no, no, replyNone},
		{yes, no, replyNo},
		{wantNo, no, replyNone},
		{wantNoOpp, wantYes, replyYes},
		{wantYes, no, replyNone},
		{wantYesOpp, no, replyNone},
	}
	for _, tc := range recvNo {
		q := tc.from
		if r := q.recvNo(); q != tc.to || r != tc.reply {
			t.Errorf("recvNo from %+v: to %+v reply %v; want %+v %v", tc.from, q, r, tc.to, tc.reply)
		}
	}

	ask := []struct {
		enable   bool
		from, to st
		reply    qReply
	}{
		{true, no, wantYes, replyYes},
		{true, yes, yes, replyNone},
		{true, wantNo, wantNoOpp, replyNone},
		{true, wantNoOpp, wantNoOpp, replyNone},
		{true, wantYes, wantYes, replyNone},
		{true, wantYesOpp, wantYes, replyNone},
		{false, no, no, replyNone},
		{false, yes, wantNo, replyNo},
		{false, wantNo, wantNo, replyNone},
		{false, wantNoOpp, wantNo, replyNone},
		{false, wantYes, wantYesOpp, replyNone},
		{false, wantYesOpp, wantYesOpp, replyNone},
	}
	for _, tc := range ask {
		q := tc.from
		var r qReply
		if tc.enable {
			r = q.askEnable()
		} else {
			r = q.askDisable()
		}
		if q != tc.to || r != tc.reply {
			t.Errorf("ask(%v) from %+v: to %+v reply %v; want %+v %v", tc.enable, tc.from, q, r, tc.to, tc.reply)
		}
	}
	for s := qNo; s <= qWantYes+1; s++ {
		if s.String() == "" {
			t.Errorf("empty name for %d", s)
		}
	}
}

// TestQMethodNoLoop plays two Q-method sides against each other with every
// policy combination and every starting wish, including a wish reversed
// while the answer is in flight: the exchange must end, with both ends in
// agreement.
func TestQMethodNoLoop(t *testing.T) {
	for _, accept := range []bool{false, true} {
		for _, first := range []bool{false, true} {
			for _, flip := range []bool{false, true} {
				// a asks b; a is the "him"-style side on b's behalf.
				var asker, answerer qSide
				answerer.state = qNo
				var inflight []bool // messages asker -> answerer: true = positive
				var back []bool     // answerer -> asker
				if first {
					if r := asker.askEnable(); r == replyYes {
						inflight = append(inflight, true)
					}
				}
				if flip {
					switch asker.askDisable() {
					case replyNo:
						inflight = append(inflight, false)
					}
				}
				for round := 0; len(inflight)+len(back) > 0; round++ {
					if round > 10 {
						t.Fatalf("accept=%v first=%v flip=%v: negotiation loops", accept, first, flip)
					}
					for _, m := range inflight {
						var r qReply
						if m {
							r, _ = answerer.recvYes(accept)
						} else {
							r = answerer.recvNo()
						}
						if r != replyNone {
							back = append(back, r == replyYes)
						}
					}
					inflight = inflight[:0]
					for _, m := range back {
						var r qReply
						if m {
							r, _ = asker.recvYes(true)
						} else {
							r = asker.recvNo()
						}
						if r != replyNone {
							inflight = append(inflight, r == replyYes)
						}
					}
					back = back[:0]
				}
				if asker.enabled() != answerer.enabled() || asker.state == qWantNo || asker.state == qWantYes {
					t.Errorf("accept=%v first=%v flip=%v: asker %+v answerer %+v", accept, first, flip, asker, answerer)
				}
			}
		}
	}
}
