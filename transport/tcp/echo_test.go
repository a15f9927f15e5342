package tcp

import (
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestPeerEchoes: a client-side line reports whether the server echoes
// (RFC 857), following its WILL and WONT ECHO, so a bridge can tell its
// own caller who echoes; a raw line never does.
func TestPeerEchoes(t *testing.T) {
	testutil.CheckGoroutines(t)
	srv, cli := linePair(t, Options{Telnet: true}, Options{Telnet: true})
	srd, crd := startReader(srv), startReader(cli)
	if cli.PeerEchoes() {
		t.Error("server echo before the server offered it")
	}
	for _, on := range []bool{true, false, true} {
		if err := srv.SetServerEcho(on); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the client to follow the server's echo", func() bool { return cli.PeerEchoes() == on })
	}
	closeBoth(srv, cli)
	<-srd.done
	<-crd.done

	raw, rcli := linePair(t, Options{}, Options{})
	if rcli.PeerEchoes() || raw.PeerEchoes() {
		t.Error("a raw line reports server echo")
	}
}
