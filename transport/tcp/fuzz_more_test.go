package tcp

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/termname"
	"github.com/dialgate/dialgate/transport"
)

// FuzzTelnetPolicy feeds arbitrary octets, in two pieces, to a server
// and a client telnet session (the server with and without server echo
// asked for by the upper layer) and checks what a peer cannot talk the
// session into: enabling an option its policy refuses (a server echoing
// unasked, a client sending its terminal type to a client, any option
// beyond the five implemented), a terminal type that is not a terminfo
// name (it becomes a backend's TERM), or control output beyond the
// bound on replies a non-reading peer may leave queued.
func FuzzTelnetPolicy(f *testing.F) {
	f.Add([]byte{255, 253, 1, 255, 251, 24, 255, 250, 24, 0, 'v', 't', '1', '0', '0', 255, 240}, 5)
	f.Add([]byte{255, 251, 24, 255, 250, 24, 0, '.', '.', '/', 'x', 255, 240, 255, 253, 34, 255, 251, 39}, 3)
	f.Add([]byte{255, 251, 31, 255, 250, 31, 255, 255, 0, 1, 0, 255, 240, 255, 252, 31, 255, 251, 31}, 0)
	f.Add([]byte{255, 253, 24, 255, 250, 24, 1, 255, 240, 255, 253, 31, 255, 251, 1, 255, 254, 1}, 9)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		if cut < 0 || cut > len(in) {
			cut = len(in) / 2
		}
		for _, c := range []struct{ server, echo bool }{{true, false}, {true, true}, {false, false}} {
			tn := newTelnet(c.server, Options{TermType: "xterm"})
			tn.start()
			if c.echo {
				if err := tn.setServerEcho(true); err != nil {
					t.Fatal(err)
				}
			}
			opening := len(tn.out)
			tn.decode(nil, in[:cut])
			tn.decode(nil, in[cut:])
			if len(tn.out) > opening+maxPeerOut {
				t.Fatalf("server %v: %d octets of control output queued", c.server, len(tn.out))
			}
			for o := 0; o < 256; o++ {
				opt := byte(o)
				for _, s := range []struct {
					name   string
					side   *qSide
					accept bool
				}{{"us", tn.us.side(opt), tn.acceptUs(opt)}, {"him", tn.him.side(opt), tn.acceptHim(opt)}} {
					if s.side.state > qWantYes {
						t.Fatalf("server %v: option %d %s in state %v", c.server, opt, s.name, s.side.state)
					}
					// Enabled against the policy: only an option
					// we asked for ourselves may be, and those are
					// all accepted ones.
					if s.side.enabled() && !s.accept {
						t.Fatalf("server %v echo %v: option %d enabled on %s side against the policy after %x", c.server, c.echo, opt, s.name, in)
					}
				}
			}
			if tn.peerTerm != "" && (!c.server || termname.Clean([]byte(tn.peerTerm)) != tn.peerTerm) {
				t.Fatalf("server %v: terminal type %q", c.server, tn.peerTerm)
			}
			if !c.server && (tn.windowChanged || tn.peerWindow.Cols != 0 || tn.peerWindow.Rows != 0) {
				t.Fatalf("client took a window size %+v from the server", tn.peerWindow)
			}
		}
	})
}

// FuzzLineRead sends arbitrary octets, in two writes, to a server telnet
// Line over an in-memory connection, with and without SetControlFuncs,
// and reads it to the end. Properties: no panic or hang (the read is
// bounded by a deadline); the data read is the data octets a bare
// telnet session finds in the same input (Read's chunking, control
// deliveries and the replies it writes change nothing); no more events
// or window sizes are delivered than the input holds. With sniff, the
// line is instead a client dialled with Options.Sniff (gateway modem's
// host:port calls, as tcpser): what it reads is a client telnet
// session's data if the peer's first octet is IAC, else the input as it
// is, every octet (a raw peer, for the whole call).
func FuzzLineRead(f *testing.F) {
	f.Add([]byte{255, 253, 1, 'a', 255, 251, 31, 255, 250, 31, 0, 80, 0, 24, 255, 240, 'b', '\r', 0}, 5, true, false)
	f.Add([]byte{255, 244, 255, 246, 255, 243, 'x', 255, 251, 0, '\r', '\n', 255, 255}, 3, false, false)
	f.Add([]byte("plain\r\ndata\r"), 100, true, false)
	f.Add([]byte{255, 253, 24, 255, 250, 24, 1, 255, 240, 255, 251, 1, 'a', '\r', 0, 255, 255}, 4, true, true)
	f.Add([]byte{'C', 255, 253, 24, '\r', 0, 255, 255, 255, 244}, 1, false, true)
	f.Add([]byte{}, 0, false, true)
	f.Fuzz(func(t *testing.T, in []byte, cut int, funcs, sniff bool) {
		if cut < 0 || cut > len(in) {
			cut = len(in) / 2
		}
		raw := sniff && (len(in) == 0 || in[0] != cmdIAC)
		ref := newTelnet(!sniff, Options{})
		ref.start()
		want := ref.decode(nil, in)
		if raw {
			want, ref.events, ref.windowChanged = in, nil, false
		}
		refWins := 0
		if ref.windowChanged {
			refWins = 1
		}

		s, c := net.Pipe()
		l := NewLine(s, !sniff, Options{Telnet: true, Sniff: sniff, Linger: 100 * time.Millisecond})
		var wins, evs int
		if funcs {
			l.SetControlFuncs(func(transport.WindowSize) { wins++ }, func(transport.Event) { evs++ })
		}
		drained := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, c)
			close(drained)
		}()
		go func() {
			_, _ = c.Write(in[:cut])
			_, _ = c.Write(in[cut:])
			c.Close()
		}()
		if err := l.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(l)
		l.Close()
		select {
		case <-drained:
		case <-time.After(10 * time.Second):
			t.Fatalf("the line's output was not closed 10 s after Close, input %x", in)
		}
		if err != nil {
			t.Fatalf("read %q: %v", got, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("line read %q, session decodes %q from %x", got, want, in)
		}
		if !funcs {
			for range len(l.Events()) {
				<-l.Events()
				evs++
			}
			if len(l.WindowChanges()) > 0 {
				wins++
			}
		}
		if evs > len(ref.events) || wins > 0 && refWins == 0 || wins > 1 && !funcs {
			t.Fatalf("%d events, %d window sizes delivered; input holds %d events, window %v", evs, wins, len(ref.events), ref.windowChanged)
		}
	})
}
