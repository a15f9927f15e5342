package tcp

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/transport"
)

// FuzzDecode feeds arbitrary octets to the telnet decoder in both modes.
// It checks that the decoder never panics, never produces more data than
// it got, gives the same data and the same negotiations, commands and
// subnegotiations (with their octets) however the input is split, keeps
// subnegotiations within bounds, and that encoding then decoding the input
// as data returns it unchanged (and that the gathered encoding of a
// vectored write is the same octets). The seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("hello\r\n"), uint16(3))
	f.Add([]byte{255, 251, 1, 255, 253, 31, 255, 250, 31, 0, 80, 0, 24, 255, 240}, uint16(7))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		for _, binary := range []bool{false, true} {
			var whole recorder
			d := decoder{BinaryIn: binary, MaxSubneg: 64}
			out := d.Decode(nil, in, &whole)
			if len(out) > len(in) {
				t.Fatalf("decoded %d octets from %d", len(out), len(in))
			}
			if len(d.sb) > 64 {
				t.Fatalf("subnegotiation buffer grew to %d", len(d.sb))
			}

			cut := 0
			if len(in) > 0 {
				cut = int(split) % (len(in) + 1)
			}
			var parts recorder
			d2 := decoder{BinaryIn: binary, MaxSubneg: 64}
			out2 := d2.Decode(nil, in[:cut], &parts)
			out2 = d2.Decode(out2, in[cut:], &parts)
			if !bytes.Equal(out, out2) || !slices.Equal(whole.items, parts.items) {
				t.Fatalf("split at %d changes the result: %x/%q vs %x/%q", cut, out, whole.items, out2, parts.items)
			}

			// In place gives the same data.
			buf := append([]byte(nil), in...)
			d3 := decoder{BinaryIn: binary, MaxSubneg: 64}
			if got := d3.Decode(buf[:0], buf, &recorder{}); !bytes.Equal(got, out) {
				t.Fatalf("in-place decode differs: %x vs %x", got, out)
			}

			// Round trip of the input as data.
			enc := appendEncoded(nil, in, binary)
			var rt recorder
			d4 := decoder{BinaryIn: binary}
			if got := d4.Decode(nil, enc, &rt); !bytes.Equal(got, in) || len(rt.items) != 0 || d4.Pending() {
				t.Fatalf("round trip: %x -> %x -> %x", in, enc, got)
			}
			// The gathered encoding is the same octets.
			if pieces, ok := appendEncodedPieces(nil, in, binary, len(enc)-len(in)); !ok || !bytes.Equal(bytes.Join(pieces, nil), enc) {
				t.Fatalf("pieces of %x: %x (ok %v), want %x", in, bytes.Join(pieces, nil), ok, enc)
			}
		}
	})
}

// FuzzSession feeds arbitrary octets to a server and a client telnet
// session (split at an arbitrary point, as two reads) and then lets each
// talk to a correct peer. It checks the RFC 1143 promises:
//
//   - every option side is in a Q-method state, with the queue bit set
//     only while a request is outstanding (WANTNO, WANTYES), and options
//     this package does not implement stay NO;
//   - no option is in effect that our policy refuses (acceptUs,
//     acceptHim), whatever the peer said;
//   - each negotiation received is answered at most once: the replies to
//     the garbage hold no more negotiations than it did, and the reply
//     octets stay proportional to it;
//   - the decoder's mode follows the peer's BINARY, and the data is no
//     longer than the input;
//   - how the input is split over reads changes nothing (data, replies,
//     events, option states, what the peer announced);
//   - then with a correct peer that did not see the garbage, the exchange
//     settles (no negotiation loop);
//   - two correct ends under any delivery schedule (negotiatePair) settle
//     with no request outstanding and agree on every option.
func FuzzSession(f *testing.F) {
	f.Add([]byte{255, 253, 1, 255, 251, 24, 255, 250, 24, 0, 'v', 't', 255, 240}, uint16(5))
	f.Add([]byte{255, 246, 255, 243, 255, 250, 31, 255, 255, 0, 1, 0}, uint16(3))
	f.Add([]byte{255, 251, 0, 'a', '\r', 0, 255, 252, 0, 'b', '\r', 0}, uint16(4))
	f.Add([]byte{255, 252, 0, 255, 254, 3, 255, 251, 24, 255, 252, 24, 255, 251, 24}, uint16(9))
	f.Add([]byte{255, 253, 31, 255, 254, 31, 255, 253, 31, 255, 251, 31, 255, 250, 31, 0, 80, 0, 24, 255, 240}, uint16(1))
	f.Add([]byte{255, 251, 1, 255, 253, 1, 255, 252, 1, 255, 254, 1, 255, 251, 200, 255, 253, 200}, uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		cut := 0
		if len(in) > 0 {
			cut = int(split) % (len(in) + 1)
		}
		var garbage recorder
		(&decoder{MaxSubneg: 64}).Decode(nil, in, &garbage)
		for _, server := range []bool{false, true} {
			a := newTelnet(server, Options{TermType: "ansi", MaxSubneg: 64})
			a.start()
			opening := len(a.out)
			data := a.decode(nil, in)
			checkTelnet(t, "after garbage", a)
			if len(data) > len(in) {
				t.Fatalf("%d data octets from %d", len(data), len(in))
			}
			var replies recorder
			(&decoder{}).Decode(nil, a.out[opening:], &replies)
			if n, m := countNegotiations(replies.items), countNegotiations(garbage.items); n > m {
				t.Fatalf("%d negotiation replies to %d negotiations: %q to %q", n, m, replies.items, garbage.items)
			}
			// Each input octet yields at most an AYT answer or a
			// negotiation reply, plus a TTYPE/NAWS subnegotiation.
			if limit := opening + 16*len(in) + 64; len(a.out) > limit {
				t.Fatalf("%d reply octets for %d input octets", len(a.out), len(in))
			}

			b := newTelnet(server, Options{TermType: "ansi", MaxSubneg: 64})
			b.start()
			data2 := b.decode(nil, in[:cut])
			data2 = b.decode(data2, in[cut:])
			if string(data) != string(data2) || string(a.out) != string(b.out) || fmt.Sprint(a.events) != fmt.Sprint(b.events) ||
				a.us != b.us || a.him != b.him || a.peerTerm != b.peerTerm || a.peerWindow != b.peerWindow || a.dec.BinaryIn != b.dec.BinaryIn {
				t.Fatalf("split at %d changes the session: data %q / %q, out %x / %x", cut, data, data2, a.out, b.out)
			}

			// A correct peer that never saw the garbage (a's replies
			// to it are dropped: forwarded, they would be requests the
			// peer never answered, and two Q-method ends that disagree
			// about history may trade requests for ever; RFC 1143's
			// promise is for ends that share it).
			a.finish()
			peer := newTelnet(!server, Options{TermType: "ansi", MaxSubneg: 64})
			peer.start()
			a.out = a.out[:0]
			for round := 0; len(a.out)+len(peer.out) > 0; round++ {
				if round > 10 {
					t.Fatalf("negotiation loops after garbage %x", in)
				}
				ao, po := a.out, peer.out
				a.out, peer.out = nil, nil
				peer.decode(nil, ao)
				a.decode(nil, po)
				checkTelnet(t, "talking to a peer", a)
				checkTelnet(t, "the peer", peer)
			}
		}
		negotiatePair(t, in)
	})
}

// negotiatePair runs a correct server and client under a schedule read
// from sched: each octet delivers part of what one end sent to the other
// (so requests cross and commands arrive split), or has the server ask
// for or give up echo, or the client announce a window size. Once all is
// delivered the ends must settle within a few rounds, with no request
// outstanding and both agreeing on every option (RFC 1143 section 7).
func negotiatePair(t *testing.T, sched []byte) {
	t.Helper()
	srv := newTelnet(true, Options{TermType: "ansi", MaxSubneg: 64})
	cli := newTelnet(false, Options{TermType: "vt100", MaxSubneg: 64, Open: len(sched)%2 == 1})
	srv.start()
	cli.start()
	var s2c, c2s []byte // sent, not yet delivered
	deliver := func(from, to *telnet, wire *[]byte, n int) {
		*wire = append(*wire, from.out...)
		from.out = from.out[:0]
		n = min(n, len(*wire))
		to.decode(nil, (*wire)[:n])
		*wire = (*wire)[n:]
		checkTelnet(t, "during the schedule", to)
	}
	for _, op := range sched {
		arg := int(op >> 3)
		switch op & 7 {
		case 0:
			deliver(srv, cli, &s2c, arg+1)
		case 1:
			deliver(cli, srv, &c2s, arg+1)
		case 2:
			if err := srv.setServerEcho(arg%2 == 1); err != nil {
				t.Fatal(err)
			}
		case 3:
			if err := cli.setWindowSize(transport.WindowSize{Cols: arg + 1, Rows: 24}); err != nil {
				t.Fatal(err)
			}
		}
		checkTelnet(t, "during the schedule", srv)
		checkTelnet(t, "during the schedule", cli)
	}
	for round := 0; len(srv.out)+len(cli.out)+len(s2c)+len(c2s) > 0; round++ {
		if round > 10 {
			t.Fatalf("correct ends loop under schedule %x", sched)
		}
		deliver(srv, cli, &s2c, len(s2c)+len(srv.out))
		deliver(cli, srv, &c2s, len(c2s)+len(cli.out))
	}
	for i := range srv.us.known {
		su, sh, cu, ch := srv.us.known[i], srv.him.known[i], cli.us.known[i], cli.him.known[i]
		for _, q := range []qSide{su, sh, cu, ch} {
			if q.state == qWantNo || q.state == qWantYes {
				t.Fatalf("option %d left waiting under schedule %x: server us %v him %v, client us %v him %v", knownOptions[i], sched, su, sh, cu, ch)
			}
		}
		if su.enabled() != ch.enabled() || sh.enabled() != cu.enabled() {
			t.Fatalf("option %d: the ends disagree under schedule %x: server us %v him %v, client us %v him %v", knownOptions[i], sched, su, sh, cu, ch)
		}
	}
	if srv.him.enabled(optTTYPE) && srv.peerTerm != "vt100" {
		t.Fatalf("TTYPE on but the server heard %q", srv.peerTerm)
	}
}

// knownOptions are the options in options.known, in order.
var knownOptions = []byte{optBinary, optEcho, optSGA, optTTYPE, optNAWS}

// checkTelnet checks a session's option tables against RFC 1143 and its
// policy.
func checkTelnet(t *testing.T, when string, tn *telnet) {
	t.Helper()
	for _, o := range []*options{&tn.us, &tn.him} {
		if o.refused != (qSide{}) {
			t.Fatalf("%s: an unimplemented option is %v", when, o.refused)
		}
		for _, q := range o.known {
			if q.state > qWantYes || q.opposite && q.state != qWantNo && q.state != qWantYes {
				t.Fatalf("%s: option side %+v is no RFC 1143 state", when, q)
			}
		}
	}
	for i, opt := range knownOptions {
		if tn.us.known[i].enabled() && !tn.acceptUs(opt) {
			t.Fatalf("%s: we perform option %d, which our policy refuses (server %v)", when, opt, tn.server)
		}
		if tn.him.known[i].enabled() && !tn.acceptHim(opt) {
			t.Fatalf("%s: the peer performs option %d, which our policy refuses (server %v)", when, opt, tn.server)
		}
	}
	if tn.dec.BinaryIn != tn.him.enabled(optBinary) {
		t.Fatalf("%s: decoder binary %v, peer BINARY %v", when, tn.dec.BinaryIn, tn.him.enabled(optBinary))
	}
}

func countNegotiations(items []string) int {
	n := 0
	for _, it := range items {
		if strings.HasPrefix(it, "WILL ") || strings.HasPrefix(it, "WONT ") || strings.HasPrefix(it, "DO ") || strings.HasPrefix(it, "DONT ") {
			n++
		}
	}
	return n
}
