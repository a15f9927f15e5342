package callbackd

import (
	"io"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// TestLAPMCallback places a V.42 callback over a real LAPM link on a
// simulated line: detection, XID negotiation, CALLBACK/ACCEPT, SABME/UA,
// then sealed data both ways.
func TestLAPMCallback(t *testing.T) {
	t.Run("answered at once", func(t *testing.T) { testLAPMCallback(t, 0) })
	// The called party rings for 5 s (several T400s) before it answers, as
	// gateway modem does until ATA: detection must not give up meanwhile.
	t.Run("answered after ringing", func(t *testing.T) { testLAPMCallback(t, 5*time.Second) })
}

func testLAPMCallback(t *testing.T, ring time.Duration) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		var logged atomic.Uint64 // the session whose link logger was asked for
		logFor := func(job Job) lapm.Logger { logged.Store(job.Session); return nil }
		f := newFixture(t, testPolicy, Modes{V42: LAPM(LAPMConfig{Params: lapm.LinkParams{N401: 256, FCS32: true}, Logger: logFor})})
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		gwTicket, callerTicket := ticketPair(t, a, b, "alice", "sim://alice", 42)
		home, _ := f.net.Listen("alice")
		defer home.Close()
		f.svc.Schedule(Job{Session: 42, User: "alice", Address: "sim://alice", Mode: ModeV42, Ticket: gwTicket})

		line, err := home.Accept(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(ring)
		link := acceptLAPM(t, line, callerTicket)
		h := <-f.hand.ch
		gw := h.s.Conn.(*lapm.Link)
		go func() {
			io.WriteString(gw, "from the gateway")
			io.Copy(gw, gw) // echo until the caller releases the link
			gw.Close()
		}()
		if got := readN(t, link, 16); got != "from the gateway" {
			t.Errorf("caller read %q", got)
		}
		io.WriteString(link, "sealed echo")
		if got := readN(t, link, 11); got != "sealed echo" {
			t.Errorf("echo %q", got)
		}
		link.Close()
		synctest.Wait()
		checkAttempts(t, f.rec.all(), Connected)
		if n := logged.Load(); n != 42 {
			t.Errorf("link logger asked for session %d, want the job's 42", n)
		}
	})
}

// acceptLAPM answers a V.42 callback on line as the original caller
// holding tickets does (gateway dial --answer): detection as answerer,
// LAPM, phases v/vi, the data phase. It returns the sealed link.
func acceptLAPM(t *testing.T, line transport.Line, tickets ...*auth.CallerTicket) *lapm.Link {
	t.Helper()
	res, left, err := lapm.Detect(t.Context(), line, lapm.Answerer)
	if err != nil || res != lapm.DetectLAPM {
		t.Fatalf("answerer detection: %v %v", res, err)
	}
	link, err := lapm.Open(t.Context(), line, left, lapm.Config{Role: lapm.Answerer})
	if err != nil {
		t.Fatal(err)
	}
	first, err := link.AcceptXID(t.Context())
	if err != nil {
		link.Close()
		t.Fatal(err)
	}
	tr, err := auth.AcceptCallback(t.Context(), link, first, tickets...)
	if err != nil {
		link.Close()
		t.Fatal(err)
	}
	link.SetTransform(tr)
	if err := link.Establish(t.Context()); err != nil {
		link.Close()
		t.Fatal(err)
	}
	return link
}
