package tcp

import (
	"testing"
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
			if tn.peerTerm != "" {
				if !c.server || len(tn.peerTerm) > maxTermType || !isTermAlnum(tn.peerTerm[0]) {
					t.Fatalf("server %v: terminal type %q", c.server, tn.peerTerm)
				}
				for _, b := range []byte(tn.peerTerm) {
					if !isTermAlnum(b) && b != '.' && b != '_' && b != '+' && b != '-' {
						t.Fatalf("terminal type %q", tn.peerTerm)
					}
				}
			}
			if !c.server && (tn.windowChanged || tn.peerWindow.Cols != 0 || tn.peerWindow.Rows != 0) {
				t.Fatalf("client took a window size %+v from the server", tn.peerWindow)
			}
		}
	})
}
