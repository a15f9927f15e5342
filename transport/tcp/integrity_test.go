package tcp

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// integritySize is how much random data each direction carries (issue 2:
// 64 MiB each way at the same time).
const integritySize = 64 << 20

type transfer struct {
	sum [32]byte
	n   int64
	err error
}

// sendRandom writes n seeded random octets in writes of random sizes and
// returns their SHA-256.
func sendRandom(w io.Writer, seed uint64, n int64) transfer {
	data := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	sizes := rand.New(rand.NewPCG(seed, 7))
	h := sha256.New()
	buf := make([]byte, 64<<10)
	var sent int64
	for sent < n {
		k := int(min(n-sent, int64(1+sizes.IntN(len(buf)))))
		_, _ = data.Read(buf[:k])
		h.Write(buf[:k])
		m, err := w.Write(buf[:k])
		sent += int64(m)
		if err != nil {
			return transfer{n: sent, err: err}
		}
	}
	var tr transfer
	copy(tr.sum[:], h.Sum(nil))
	tr.n = sent
	return tr
}

// recvAll reads to the end and returns the SHA-256 of what arrived; err is
// nil only when the stream ended with io.EOF.
func recvAll(r io.Reader) transfer {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 32<<10))
	var tr transfer
	copy(tr.sum[:], h.Sum(nil))
	tr.n, tr.err = n, err
	return tr
}

func waitBinary(t *testing.T, lines ...*Line) {
	t.Helper()
	for _, l := range lines {
		if l.tn == nil {
			continue
		}
		waitFor(t, "BINARY both ways", func() bool { in, out := l.Binary(); return in && out })
	}
}

// TestIntegrity moves 64 MiB of random data each way at the same time
// through a raw line and a telnet line and compares SHA-256 sums, in two
// endings: both sides half-close (both-ways), and the writer hangs up with
// Close right after its last Write while the peer is still sending
// (close-flush): the reader must get every octet and then io.EOF.
func TestIntegrity(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MiB each way")
	}
	for _, telnet := range []bool{false, true} {
		name := "tcp"
		if telnet {
			name = "telnet"
		}
		t.Run(name+"/both-ways", func(t *testing.T) { integrityBothWays(t, telnet) })
		t.Run(name+"/close-flush-server", func(t *testing.T) { integrityCloseFlush(t, telnet, true) })
		t.Run(name+"/close-flush-client", func(t *testing.T) { integrityCloseFlush(t, telnet, false) })
	}
}

func integrityBothWays(t *testing.T, telnet bool) {
	testutil.CheckGoroutines(t)
	o := Options{Telnet: telnet, Linger: 30 * time.Second}
	srv, cli := linePair(t, o, o)

	var wg sync.WaitGroup
	var srvGot, cliGot, srvSent, cliSent transfer
	wg.Add(2)
	go func() { defer wg.Done(); srvGot = recvAll(srv) }()
	go func() { defer wg.Done(); cliGot = recvAll(cli) }()
	waitBinary(t, srv, cli)
	wg.Add(2)
	go func() {
		defer wg.Done()
		srvSent = sendRandom(srv, 1, integritySize)
		if err := srv.CloseWrite(); err != nil && srvSent.err == nil {
			srvSent.err = err
		}
	}()
	go func() {
		defer wg.Done()
		cliSent = sendRandom(cli, 2, integritySize)
		if err := cli.CloseWrite(); err != nil && cliSent.err == nil {
			cliSent.err = err
		}
	}()
	wg.Wait()
	check(t, "server->client", srvSent, cliGot)
	check(t, "client->server", cliSent, srvGot)
	closeBoth(srv, cli)
}

func integrityCloseFlush(t *testing.T, telnet, serverHangsUp bool) {
	testutil.CheckGoroutines(t)
	o := Options{Telnet: telnet, Linger: 30 * time.Second}
	srv, cli := linePair(t, o, o)
	a, b := cli, srv // a writes and hangs up at once; b keeps sending
	if serverHangsUp {
		a, b = srv, cli
	}

	var wg sync.WaitGroup
	var bGot, aSent, bSent transfer
	var aClose, aRead error
	wg.Add(2)
	// The hang-up side reads a little, then stops reading, so that unread
	// data waits in its socket when it closes: the case in which a plain
	// close() resets the connection and throws away unsent data.
	go func() { defer wg.Done(); _, aRead = io.CopyN(io.Discard, a, 1<<20) }()
	bRead := make(chan struct{})
	// The reader dawdles over the last MiB so that the hang-up side still
	// has data queued in its socket when it closes.
	go func() { defer wg.Done(); bGot = recvAll(&slowTail{r: b, after: integritySize - 1<<20}); close(bRead) }()
	waitBinary(t, srv, cli)
	wg.Add(2)
	go func() {
		defer wg.Done()
		aSent = sendRandom(a, 3, integritySize)
		aClose = a.Close() // no pause: everything written must still arrive
	}()
	go func() {
		defer wg.Done()
		bSent = sendRandom(b, 4, integritySize)
		<-bRead
		b.Close()
	}()
	wg.Wait()
	if aClose != nil {
		t.Errorf("Close: %v", aClose)
	}
	check(t, "hang-up side -> peer", aSent, bGot)
	if bSent.err != nil {
		t.Errorf("peer's writes while the other side hung up: %v", bSent.err)
	}
	if aRead != nil && !errors.Is(aRead, transport.ErrHungUp) {
		t.Errorf("hang-up side's Read: %v", aRead)
	}
}

// slowTail passes reads through, pausing before each read once more than
// after octets have been read. The pause only shapes the test; nothing
// asserts on time.
type slowTail struct {
	r     io.Reader
	after int64
	n     int64
}

func (s *slowTail) Read(p []byte) (int, error) {
	if s.n > s.after {
		time.Sleep(time.Millisecond)
		p = p[:min(len(p), 16<<10)]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

func check(t *testing.T, dir string, sent, got transfer) {
	t.Helper()
	if sent.err != nil {
		t.Errorf("%s: send: %v after %d octets", dir, sent.err, sent.n)
	}
	if got.err != nil {
		t.Errorf("%s: receive: %v after %d octets", dir, got.err, got.n)
	}
	if sent.n != integritySize || got.n != sent.n || got.sum != sent.sum {
		t.Errorf("%s: sent %d octets sha256 %x, received %d sha256 %x", dir, sent.n, sent.sum, got.n, got.sum)
	} else {
		t.Logf("%s: %d octets, sha256 %s", dir, got.n, fmt.Sprintf("%x", got.sum[:8]))
	}
}
