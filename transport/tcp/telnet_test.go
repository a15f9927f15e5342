package tcp

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// pump carries each session's pending output to the other until both are
// quiet, and returns the data octets each received. It fails on more than
// maxRounds exchanges: the Q method must not loop.
func pump(t *testing.T, a, b *telnet) (toA, toB []byte) {
	t.Helper()
	for round := 0; len(a.out)+len(b.out) > 0; round++ {
		if round > 10 {
			t.Fatalf("negotiation does not settle: a.out %x b.out %x", a.out, b.out)
		}
		ao, bo := a.out, b.out
		a.out, b.out = nil, nil
		toB = b.decode(toB, ao)
		toA = a.decode(toA, bo)
	}
	return toA, toB
}

func newPair(t *testing.T, clientOpts Options) (srv, cli *telnet) {
	var logs []string
	logf := func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	srv = newTelnet(true, Options{})
	srv.logFn = logf
	cli = newTelnet(false, clientOpts)
	cli.logFn = logf
	srv.start()
	cli.start()
	t.Cleanup(func() {
		if len(logs) > 0 && !t.Failed() {
			t.Logf("protocol log: %q", logs)
		}
	})
	return srv, cli
}

func TestServerOpening(t *testing.T) {
	srv := newTelnet(true, Options{})
	srv.start()
	want := []byte{
		cmdIAC, cmdWILL, optSGA,
		cmdIAC, cmdWILL, optBinary,
		cmdIAC, cmdDO, optBinary,
		cmdIAC, cmdDO, optNAWS,
		cmdIAC, cmdDO, optTTYPE,
	}
	if !bytes.Equal(srv.out, want) {
		t.Fatalf("opening %v, want %v", srv.out, want)
	}
	cli := newTelnet(false, Options{})
	cli.start()
	if len(cli.out) != 0 {
		t.Fatalf("client opened with %v", cli.out)
	}
	cli = newTelnet(false, Options{Open: true})
	cli.start()
	want = []byte{cmdIAC, cmdDO, optBinary, cmdIAC, cmdDO, optSGA}
	if !bytes.Equal(cli.out, want) {
		t.Fatalf("client with Open opened with %v, want %v", cli.out, want)
	}
}

func TestNegotiationRoundTrip(t *testing.T) {
	srv, cli := newPair(t, Options{TermType: "xterm-256color", Window: transport.WindowSize{Cols: 132, Rows: 43}})
	pump(t, srv, cli)

	for _, opt := range []byte{optBinary, optSGA} {
		if !srv.us.enabled(opt) || !cli.him.enabled(opt) {
			t.Errorf("option %d server->client not on: srv.us %v cli.him %v", opt, *srv.us.side(opt), *cli.him.side(opt))
		}
	}
	for _, opt := range []byte{optBinary, optNAWS, optTTYPE} {
		if !srv.him.enabled(opt) || !cli.us.enabled(opt) {
			t.Errorf("option %d client->server not on: srv.him %v cli.us %v", opt, *srv.him.side(opt), *cli.us.side(opt))
		}
	}
	if srv.us.side(optEcho).state != qNo {
		t.Errorf("server echo on by default")
	}
	if !srv.dec.BinaryIn || !cli.dec.BinaryIn {
		t.Errorf("decoders not binary: srv %v cli %v", srv.dec.BinaryIn, cli.dec.BinaryIn)
	}
	if srv.peerTerm != "xterm-256color" {
		t.Errorf("TTYPE %q", srv.peerTerm)
	}
	if srv.peerWindow != (transport.WindowSize{Cols: 132, Rows: 43}) || !srv.windowChanged {
		t.Errorf("NAWS %+v changed %v", srv.peerWindow, srv.windowChanged)
	}

	// Resize: the client sends a new NAWS.
	srv.windowChanged = false
	if err := cli.setWindowSize(transport.WindowSize{Cols: 300, Rows: 255}); err != nil {
		t.Fatal(err)
	}
	// 255 rows is an IAC inside the subnegotiation: it must be doubled.
	if !bytes.Contains(cli.out, []byte{0, 255, 255, cmdIAC, cmdSE}) {
		t.Errorf("NAWS with 255 not IAC-doubled: %x", cli.out)
	}
	pump(t, srv, cli)
	if srv.peerWindow != (transport.WindowSize{Cols: 300, Rows: 255}) || !srv.windowChanged {
		t.Errorf("NAWS after resize %+v", srv.peerWindow)
	}

	// Server echo on, then off (RFC 857).
	if err := srv.setServerEcho(true); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(srv.out, []byte{cmdIAC, cmdWILL, optEcho}) {
		t.Errorf("echo on sent %v", srv.out)
	}
	pump(t, srv, cli)
	if !srv.us.enabled(optEcho) || !cli.him.enabled(optEcho) {
		t.Errorf("echo not on: %v %v", *srv.us.side(optEcho), *cli.him.side(optEcho))
	}
	if err := srv.setServerEcho(false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(srv.out, []byte{cmdIAC, cmdWONT, optEcho}) {
		t.Errorf("echo off sent %v", srv.out)
	}
	pump(t, srv, cli)
	if srv.us.side(optEcho).state != qNo || cli.him.side(optEcho).state != qNo {
		t.Errorf("echo not off: %v %v", *srv.us.side(optEcho), *cli.him.side(optEcho))
	}
	// Echo on and off again before the answer arrives (queued reversal).
	_ = srv.setServerEcho(true)
	_ = srv.setServerEcho(false)
	pump(t, srv, cli)
	if srv.us.enabled(optEcho) != cli.him.enabled(optEcho) || srv.us.enabled(optEcho) {
		t.Errorf("echo after quick on/off: srv %v cli %v", *srv.us.side(optEcho), *cli.him.side(optEcho))
	}

	// Wrong-side calls are refused.
	if err := cli.setServerEcho(true); err == nil {
		t.Error("client set server echo")
	}
	if err := srv.setWindowSize(transport.WindowSize{Cols: 1, Rows: 1}); err == nil {
		t.Error("server announced a window size")
	}
}

func TestClientWithoutWindowWaitsForSetWindowSize(t *testing.T) {
	srv, cli := newPair(t, Options{})
	pump(t, srv, cli)
	// The client answers TTYPE with "UNKNOWN" (RFC 1091), which the
	// server takes as no terminal type.
	if srv.windowChanged || srv.peerTerm != "" || cli.termType != "UNKNOWN" {
		t.Fatalf("window %+v term %q", srv.peerWindow, srv.peerTerm)
	}
	// Without a size the client refuses NAWS (WILL NAWS promises one,
	// RFC 1073; telnet trial: a backend was told WILL NAWS and never
	// got a size), and offers it once it has one.
	if cli.us.enabled(optNAWS) || srv.him.enabled(optNAWS) {
		t.Fatal("NAWS agreed without a window size")
	}
	_ = cli.setWindowSize(transport.WindowSize{Cols: 80, Rows: 24})
	pump(t, srv, cli)
	if srv.peerWindow != (transport.WindowSize{Cols: 80, Rows: 24}) {
		t.Fatalf("window %+v", srv.peerWindow)
	}
	// A server that then refuses NAWS is not offered it again at each
	// resize (review).
	cli.decode(nil, []byte{cmdIAC, cmdDONT, optNAWS})
	cli.out = nil
	_ = cli.setWindowSize(transport.WindowSize{Cols: 100, Rows: 30})
	if len(cli.out) != 0 {
		t.Errorf("after DONT NAWS a resize sent %x", cli.out)
	}
}

func TestRefusals(t *testing.T) {
	srv := newTelnet(true, Options{})
	srv.decode(nil, []byte{
		cmdIAC, cmdDO, optEcho, // server echo not wanted by the upper layer
		cmdIAC, cmdWILL, optEcho, // a client that echoes to the server: no
		cmdIAC, cmdDO, 99, // unknown option
		cmdIAC, cmdWILL, 99,
		cmdIAC, cmdDO, optTTYPE, // TTYPE is the client's job
		cmdIAC, cmdDONT, 98, // already off: no answer
		cmdIAC, cmdWONT, 97,
	})
	want := []byte{
		cmdIAC, cmdWONT, optEcho,
		cmdIAC, cmdDONT, optEcho,
		cmdIAC, cmdWONT, 99,
		cmdIAC, cmdDONT, 99,
		cmdIAC, cmdWONT, optTTYPE,
	}
	if !bytes.Equal(srv.out, want) {
		t.Fatalf("replies %v, want %v", srv.out, want)
	}

	cli := newTelnet(false, Options{})
	cli.decode(nil, []byte{cmdIAC, cmdDO, optEcho, cmdIAC, cmdWILL, optNAWS, cmdIAC, cmdWILL, optEcho})
	want = []byte{cmdIAC, cmdWONT, optEcho, cmdIAC, cmdDONT, optNAWS, cmdIAC, cmdDO, optEcho}
	if !bytes.Equal(cli.out, want) {
		t.Fatalf("client replies %v, want %v", cli.out, want)
	}
}

// TestEchoingPeer: a peer that reflects everything we send (a dumb modem
// loopback) must not start a negotiation loop.
func TestEchoingPeer(t *testing.T) {
	srv := newTelnet(true, Options{})
	srv.start()
	for round := 0; len(srv.out) > 0; round++ {
		if round > 10 {
			t.Fatalf("loop with an echoing peer: %x", srv.out)
		}
		o := srv.out
		srv.out = nil
		srv.decode(nil, o)
	}
}

func TestSubnegotiationRules(t *testing.T) {
	srv := newTelnet(true, Options{})
	// TTYPE IS before the option is agreed: ignored.
	srv.decode(nil, []byte{cmdIAC, cmdSB, optTTYPE, ttypeIS, 'X', cmdIAC, cmdSE})
	if srv.peerTerm != "" {
		t.Errorf("TTYPE accepted before WILL TTYPE: %q", srv.peerTerm)
	}
	srv.start()
	srv.out = nil
	// NAWS sent together with WILL NAWS (while we still WANTYES) is taken.
	srv.decode(nil, []byte{cmdIAC, cmdSB, optNAWS, 0, 80, 0, 25, cmdIAC, cmdSE})
	if srv.peerWindow != (transport.WindowSize{Cols: 80, Rows: 25}) {
		t.Errorf("early NAWS %+v", srv.peerWindow)
	}
	// Bad NAWS length: ignored and logged.
	var logs []string
	srv.logFn = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	srv.decode(nil, []byte{cmdIAC, cmdSB, optNAWS, 0, 99, cmdIAC, cmdSE})
	if srv.peerWindow.Cols != 80 || len(logs) != 1 {
		t.Errorf("short NAWS: %+v logs %q", srv.peerWindow, logs)
	}
	// Client: TTYPE SEND before DO TTYPE is ignored.
	cli := newTelnet(false, Options{TermType: "vt100"})
	cli.decode(nil, []byte{cmdIAC, cmdSB, optTTYPE, ttypeSEND, cmdIAC, cmdSE})
	if len(cli.out) != 0 {
		t.Errorf("TTYPE answered before DO TTYPE: %v", cli.out)
	}
	cli.decode(nil, []byte{cmdIAC, cmdDO, optTTYPE, cmdIAC, cmdSB, optTTYPE, ttypeSEND, cmdIAC, cmdSE})
	want := append([]byte{cmdIAC, cmdWILL, optTTYPE, cmdIAC, cmdSB, optTTYPE, ttypeIS}, "vt100"...)
	want = append(want, cmdIAC, cmdSE)
	if !bytes.Equal(cli.out, want) {
		t.Errorf("TTYPE answer %q, want %q", cli.out, want)
	}
}

// TestTermSpeed: a client line with a TermSpeed agrees to TSPEED and
// answers SEND with "speed,speed" (RFC 1079), which telnetd gives its
// pty (BBS trial: a telnet backend's programs saw 38400 at 2,400
// bit/s); without one it refuses the option.
func TestTermSpeed(t *testing.T) {
	cli := newTelnet(false, Options{TermSpeed: 2400})
	cli.decode(nil, []byte{cmdIAC, cmdDO, optTSPEED, cmdIAC, cmdSB, optTSPEED, ttypeSEND, cmdIAC, cmdSE})
	want := append([]byte{cmdIAC, cmdWILL, optTSPEED, cmdIAC, cmdSB, optTSPEED, ttypeIS}, "2400,2400"...)
	want = append(want, cmdIAC, cmdSE)
	if !bytes.Equal(cli.out, want) {
		t.Errorf("TSPEED answer %q, want %q", cli.out, want)
	}
	none := newTelnet(false, Options{})
	none.decode(nil, []byte{cmdIAC, cmdDO, optTSPEED, cmdIAC, cmdSB, optTSPEED, ttypeSEND, cmdIAC, cmdSE})
	if want := []byte{cmdIAC, cmdWONT, optTSPEED}; !bytes.Equal(none.out, want) {
		t.Errorf("without a speed: %q, want %q", none.out, want)
	}
}

func TestEvents(t *testing.T) {
	srv := newTelnet(true, Options{})
	data := srv.decode(nil, []byte{'a', cmdIAC, cmdBRK, cmdIAC, cmdIP, 'b', cmdIAC, cmdAYT, cmdIAC, cmdGA, cmdIAC, cmdDM, cmdIAC, cmdAO})
	if string(data) != "ab" {
		t.Errorf("data %q", data)
	}
	want := []transport.Event{transport.EventBreak, transport.EventInterrupt, transport.EventAreYouThere, transport.EventAbortOutput}
	if !reflect.DeepEqual(srv.events, want) {
		t.Errorf("events %v, want %v", srv.events, want)
	}
	if string(srv.out) != aytReply {
		t.Errorf("AYT answered with %q", srv.out)
	}
}

// TestEditingCommands: a caller's EC, EL, EOF, SUSP and ABORT (PuTTY's
// Special Commands) are the control characters they stand for, in their
// place in the data, also when decoding in place; a server line's peer
// (a telnet backend) sending them is ignored. They did nothing before
// (PuTTY trial), and EOF, SUSP and ABORT were logged as unknown.
func TestEditingCommands(t *testing.T) {
	in := []byte{'a', 'x', cmdIAC, cmdEC, 'b', cmdIAC, cmdEL, cmdIAC, cmdEOF, cmdIAC, cmdSUSP, cmdIAC, cmdABORT, 'c'}
	want := "ax\x7fb\x15\x04\x1a\x1cc"
	srv := newTelnet(true, Options{})
	var logged []string
	srv.logFn = func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }
	if got := srv.decode(nil, in); string(got) != want {
		t.Errorf("decoded %q, want %q", got, want)
	}
	buf := append([]byte(nil), in...)
	if got := newTelnet(true, Options{}).decode(buf[:0], buf); string(got) != want {
		t.Errorf("decoded in place %q, want %q", got, want)
	}
	if len(srv.events) != 0 || len(logged) != 0 {
		t.Errorf("events %v, log %q", srv.events, logged)
	}
	if got := newTelnet(false, Options{}).decode(nil, in); string(got) != "axbc" {
		t.Errorf("client side decoded %q, want %q", got, "axbc")
	}
}

func TestLogBudget(t *testing.T) {
	var n int
	srv := newTelnet(true, Options{})
	srv.logFn = func(string, ...any) { n++ }
	for i := 0; i < 1000; i++ {
		srv.decode(nil, []byte{cmdIAC, 7})
	}
	if n != maxLogs+1 {
		t.Errorf("%d log lines for 1000 errors, want %d", n, maxLogs+1)
	}
}

func TestFinishDropsTruncatedCommand(t *testing.T) {
	var logs []string
	srv := newTelnet(true, Options{})
	srv.logFn = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	if d := srv.decode(nil, []byte{'x', cmdIAC, cmdSB, optNAWS, 0}); string(d) != "x" {
		t.Fatalf("data %q", d)
	}
	srv.finish()
	if len(logs) != 1 || srv.dec.Pending() {
		t.Fatalf("logs %q pending %v", logs, srv.dec.Pending())
	}
	srv.finish()
	if len(logs) != 1 {
		t.Fatalf("second finish logged again: %q", logs)
	}
}

// TestPeerFloodBoundsReplies: a peer that floods AYT and flips options
// without reading our replies cannot grow the reply queue without bound;
// what it drops is logged once per backlog. Our own requests still go out.
func TestPeerFloodBoundsReplies(t *testing.T) {
	var logs []string
	srv := newTelnet(true, Options{})
	srv.logFn = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	srv.start()
	flood := bytes.Repeat([]byte{cmdIAC, cmdAYT, cmdIAC, cmdDO, optSGA, cmdIAC, cmdDONT, optSGA}, 10_000)
	for range 10 {
		if d := srv.decode(nil, flood); len(d) != 0 {
			t.Fatalf("data %q from commands", d)
		}
		if len(srv.out) > maxPeerOut {
			t.Fatalf("reply queue %d octets, bound %d", len(srv.out), maxPeerOut)
		}
	}
	if len(srv.events) != 100_000 {
		t.Errorf("%d AYT events, want 100000", len(srv.events))
	}
	if len(logs) != 1 || !bytes.Contains([]byte(logs[0]), []byte("does not read")) {
		t.Errorf("logs %q, want one about the dropped replies", logs)
	}
	n := len(srv.out)
	if err := srv.setServerEcho(true); err != nil {
		t.Fatal(err)
	}
	if got := srv.out[n:]; !bytes.Equal(got, []byte{cmdIAC, cmdWILL, optEcho}) {
		t.Errorf("our own request after the flood: %v", got)
	}
	// Once the queue drains, replies flow again.
	srv.out, srv.events = srv.out[:0], srv.events[:0]
	srv.decode(nil, []byte{cmdIAC, cmdAYT})
	if string(srv.out) != aytReply {
		t.Errorf("after draining: %q", srv.out)
	}
}

// TestEveryOption: each of the 256 options, asked twice each way, gets the
// answers of its own policy (the implemented ones keep their own state;
// every other one is refused each time and stays off).
func TestEveryOption(t *testing.T) {
	srv := newTelnet(true, Options{})
	for o := range 256 {
		opt := byte(o)
		srv.out = nil
		srv.decode(nil, []byte{cmdIAC, cmdWILL, opt, cmdIAC, cmdWILL, opt, cmdIAC, cmdDO, opt, cmdIAC, cmdDO, opt})
		var want []byte
		if srv.acceptHim(opt) {
			want = append(want, cmdIAC, cmdDO, opt) // the second WILL needs no answer
			if opt == optTTYPE {
				want = append(want, cmdIAC, cmdSB, optTTYPE, ttypeSEND, cmdIAC, cmdSE)
			}
		} else {
			want = append(want, cmdIAC, cmdDONT, opt, cmdIAC, cmdDONT, opt)
		}
		if srv.acceptUs(opt) {
			want = append(want, cmdIAC, cmdWILL, opt)
		} else {
			want = append(want, cmdIAC, cmdWONT, opt, cmdIAC, cmdWONT, opt)
		}
		if !bytes.Equal(srv.out, want) {
			t.Fatalf("option %d: replies %v, want %v", opt, srv.out, want)
		}
		if srv.him.enabled(opt) != srv.acceptHim(opt) || srv.us.enabled(opt) != srv.acceptUs(opt) {
			t.Fatalf("option %d: him %v us %v", opt, srv.him.enabled(opt), srv.us.enabled(opt))
		}
	}
	// The implemented options kept their state through all the others.
	for _, opt := range []byte{optBinary, optSGA, optNAWS, optTTYPE} {
		if !srv.him.enabled(opt) {
			t.Errorf("option %d lost its state", opt)
		}
	}
}

// TestPeerTermUnknown: a client that announces "UNKNOWN" (RFC 1091: it
// has no terminal type to give), in any case, announced none: the
// line's Info says "" and the backend's term applies. Regression:
// "UNKNOWN" reached a pty program as TERM=unknown.
func TestPeerTermUnknown(t *testing.T) {
	for _, name := range []string{"UNKNOWN", "unknown", "Unknown"} {
		srv := newTelnet(true, Options{})
		srv.start()
		srv.decode(nil, []byte{cmdIAC, cmdWILL, optTTYPE})
		srv.decode(nil, append(append([]byte{cmdIAC, cmdSB, optTTYPE, ttypeIS}, name...), cmdIAC, cmdSE))
		if srv.peerTerm != "" {
			t.Errorf("TTYPE IS %q: peer's terminal type %q, want none", name, srv.peerTerm)
		}
	}
}

// TestAYTName: a line given the gateway's name answers AYT with it; one
// not given a name, or given "", says "dialgate". Octets that could be
// telnet commands or controls in the name go out as '?'.
func TestAYTName(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"", aytReply},
		{"Night Owl BBS", "\r\n[Night Owl BBS: yes]\r\n"},
		{"Café", "\r\n[Café: yes]\r\n"},
		{"a\r\nb\x1b[2J\xff\x7f", "\r\n[a??b?[2J??: yes]\r\n"},
	} {
		srv := newTelnet(true, Options{})
		srv.setAYTName(c.name)
		srv.decode(nil, []byte{cmdIAC, cmdAYT})
		if string(srv.out) != c.want {
			t.Errorf("name %q: AYT answered with %q, want %q", c.name, srv.out, c.want)
		}
	}
}

// TestTimingMarkDiscards: a client's askMark sends DO TIMING-MARK and
// drops the server's data up to its answer (WILL or WONT TM, RFC 860),
// which is not answered; commands in between still count. A server that
// never answers is heard again after maxMarkWait.
func TestTimingMarkDiscards(t *testing.T) {
	clock := time.Unix(0, 0)
	tn := newTelnet(false, Options{})
	tn.now = func() time.Time { return clock }
	tn.askMark()
	if !bytes.Equal(tn.out, []byte{cmdIAC, cmdDO, optTM}) {
		t.Fatalf("askMark sent %v", tn.out)
	}
	tn.out = tn.out[:0]
	in := []byte("stale\r\n")
	in = append(in, cmdIAC, cmdWILL, optEcho)
	in = append(in, "more stale"...)
	in = append(in, cmdIAC, cmdWILL, optTM)
	in = append(in, "prompt> "...)
	if got := string(tn.decode(nil, in)); got != "prompt> " {
		t.Errorf("decoded %q, want the data after the mark only", got)
	}
	if !tn.him.enabled(optEcho) {
		t.Error("the WILL ECHO inside the dropped output was not taken")
	}
	if bytes.Contains(tn.out, []byte{cmdIAC, cmdDONT, optTM}) {
		t.Errorf("the mark's answer was answered: %v", tn.out)
	}

	// Two marks: data waits for the second answer, split across reads.
	tn.askMark()
	tn.askMark()
	for _, step := range []struct {
		in   []byte
		want string
	}{
		{[]byte("a"), ""},
		{[]byte{cmdIAC, cmdWONT}, ""},
		{[]byte{optTM, 'b'}, ""},
		{[]byte{cmdIAC, cmdWILL, optTM, 'c'}, "c"},
	} {
		if got := string(tn.decode(nil, step.in)); got != step.want {
			t.Errorf("decoding %v gave %q, want %q", step.in, got, step.want)
		}
	}

	// No answer: the server's output comes through after maxMarkWait.
	tn.askMark()
	if got := string(tn.decode(nil, []byte("x"))); got != "" {
		t.Errorf("before maxMarkWait decoded %q", got)
	}
	clock = clock.Add(maxMarkWait + time.Millisecond)
	if got := string(tn.decode(nil, []byte("y"))); got != "y" {
		t.Errorf("after maxMarkWait decoded %q, want \"y\"", got)
	}
}
