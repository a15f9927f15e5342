package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// newV42Server is a server whose listener "test" runs V.42 detection with
// the given security mode.
func newV42Server(t *testing.T, mode config.SecurityMode, v Verifier, backends ...config.Backend) (*Server, *store.File, auth.HostKey) {
	t.Helper()
	c := testConfig(t, backends...)
	c.Listeners[0].V42 = config.V42Detect
	c.Listeners[0].Security = mode
	key, err := auth.GenerateHostKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Options{Config: c, Store: st, Verifier: v, V42: &LAPMAnswerer{HostKey: key, Name: "testgw"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, st, key
}

// v42Dial runs the caller's side: detection, LAPM, and Access Security
// unless user is "".
func v42Dial(t *testing.T, s *Server, user, pw string, hostKey []byte) (*lapm.Link, <-chan struct{}, error) {
	t.Helper()
	return v42DialOffer(t, s, user, pw, hostKey, lapm.LinkParams{})
}

// v42DialOffer is v42Dial with the caller's LAPM offer.
func v42DialOffer(t *testing.T, s *Server, user, pw string, hostKey []byte, offer lapm.LinkParams) (*lapm.Link, <-chan struct{}, error) {
	t.Helper()
	a, b := linesim.NewPair(linesim.Config{Seed: 2, Name: "v42"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.HandleLine("test", b)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, left, err := lapm.Detect(ctx, a, lapm.Originator)
	if err != nil || res != lapm.DetectLAPM {
		t.Fatalf("detection: %v %v", res, err)
	}
	link, err := lapm.Open(ctx, a, left, lapm.Config{Role: lapm.Originator, Params: offer})
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		cr, err := auth.Call(ctx, link, auth.CallerConfig{UserID: user, Password: pw, CheckHostKey: func(pub []byte) error {
			if !bytes.Equal(pub, hostKey) {
				return errors.New("wrong host key")
			}
			return nil
		}})
		if err != nil {
			link.Close()
			return nil, done, err
		}
		link.SetTransform(cr.Transform)
	}
	if err := link.Establish(ctx); err != nil {
		link.Close()
		return nil, done, err
	}
	return link, done, nil
}

func TestV42AccessSecurityToBackend(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := tcpBackendServer(t, echoHandler)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}},
		config.Backend{Name: "echo", Type: config.BackendTCP, Address: config.HostPort(addr)})
	link, done, err := v42Dial(t, s, "vic", "pw", key.Public)
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("sealed and error-corrected ", 100)
	go io.WriteString(link, msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(link, got); err != nil || string(got) != msg {
		t.Fatalf("echo over V.42: %v", err)
	}
	link.Close()
	<-done
	recs := records(t, st)
	if len(recs) != 1 {
		t.Fatalf("records: %+v", recs)
	}
	r := recs[0]
	if r.Mode != "v42" || r.User != "vic" || r.Result != store.ResultCompleted || r.LAPM == nil || !r.LAPM.Sealed || r.BytesIn != int64(len(msg)) {
		t.Errorf("record: %+v lapm %+v", r, r.LAPM)
	}
}

// TestV42ListenerLAPMOffer: the answerer offers the listener's LAPM
// parameters (by default 4096/63, FCS-32, SREJ without a line_rate;
// 256/15 on a paced line), so a caller offering big values gets them
// rather than the V.42 defaults 128/15, FCS-16, REJ only.
func TestV42ListenerLAPMOffer(t *testing.T) {
	big := lapm.LinkParams{N401: 4096, K: 63, FCS32: true, SREJ: true}
	for _, tc := range []struct {
		name     string
		lineRate int
		want     lapm.Negotiated
	}{
		{"unpaced", 0, lapm.Negotiated{FCS: lapm.FCS32, SREJ: true, N401Tx: 4096, N401Rx: 4096, KTx: 63, KRx: 63}},
		{"paced", 1_000_000, lapm.Negotiated{FCS: lapm.FCS32, SREJ: true, N401Tx: 256, N401Rx: 256, KTx: 15, KRx: 15}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}})
			s.Config().Listeners[0].LineRate = tc.lineRate // before any call
			link, done, err := v42DialOffer(t, s, "vic", "pw", key.Public, big)
			if err != nil {
				t.Fatal(err)
			}
			if got := link.Stats().Negotiated; got != tc.want {
				t.Errorf("negotiated %+v, want %+v", got, tc.want)
			}
			link.Close()
			<-done
			if r := records(t, st); len(r) != 1 || r[0].LAPM == nil || r[0].LAPM.N401 != tc.want.N401Rx || r[0].LAPM.K != tc.want.KRx || !r[0].LAPM.FCS32 {
				t.Fatalf("records: %+v", r)
			}
		})
	}
}

func TestV42AccessSecurityDenied(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{users: map[string]string{"vic": "pw"}})
	_, done, err := v42Dial(t, s, "vic", "nope", key.Public)
	if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonDenied {
		t.Fatalf("call: %v, want REJECT denied", err)
	}
	<-done
	// The record names the user the caller claimed (known once RESPONSE
	// decrypts), as a denied text login does.
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultDenied || r[0].Mode != "v42" || r[0].User != "vic" {
		t.Fatalf("records: %+v", r)
	}
}

// TestV42AccessSecurityThrottled: a caller told "busy" (back-off) is
// recorded as throttled with the user it claimed.
func TestV42AccessSecurityThrottled(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, key := newV42Server(t, config.SecurityRequired, &fakeVerifier{busy: true})
	_, done, err := v42Dial(t, s, "vic", "pw", key.Public)
	if r, ok := auth.RejectReason(err); !ok || r != auth.ReasonBusy {
		t.Fatalf("call: %v, want REJECT busy", err)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultThrottled || r[0].User != "vic" {
		t.Fatalf("records: %+v", r)
	}
}

// TestV42RequiredRefusesPlainModem: an ordinary V.42 modem (SABME without
// Access Security) gets a clean disconnect under security = "required".
func TestV42RequiredRefusesPlainModem(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, _ := newV42Server(t, config.SecurityRequired, &fakeVerifier{})
	_, done, err := v42Dial(t, s, "", "", nil)
	if !errors.Is(err, lapm.ErrRefused) {
		t.Fatalf("establish: %v, want lapm.ErrRefused", err)
	}
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Result != store.ResultRefused || r[0].Reason != "V.42 caller without Access Security" {
		t.Fatalf("records: %+v", r)
	}
}

// TestV42OptionalTextOverLAPM: under security = "optional" the same modem
// gets the text login over the error-corrected link.
func TestV42OptionalTextOverLAPM(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, _ := newV42Server(t, config.SecurityOptional, &fakeVerifier{users: map[string]string{"wes": "pw"}})
	link, done, err := v42Dial(t, s, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	login(t, link, "wes", "pw")
	expect(t, link, "Choice: ")
	io.WriteString(link, "g\r")
	expect(t, link, "Goodbye, wes.")
	link.Close()
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Mode != "v42-text" || r[0].User != "wes" || r[0].LAPM == nil || r[0].LAPM.Sealed {
		t.Fatalf("records: %+v", r)
	}
}

// noDeadlineLine hides the read deadlines of a line (like a WebSocket
// line without them).
type noDeadlineLine struct{ transport.Line }

// TestDetectOnLineWithoutDeadlines: a text caller on a line without read
// deadlines still gets the text login after T400.
func TestDetectOnLineWithoutDeadlines(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, st, _ := newV42Server(t, config.SecurityOptional, &fakeVerifier{users: map[string]string{"x": "y"}})
	a, b := linesim.NewPair(linesim.Config{Seed: 3})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.HandleLine("test", noDeadlineLine{b})
	}()
	login(t, a, "x", "y")
	expect(t, a, "Choice: ")
	a.Close()
	<-done
	if r := records(t, st); len(r) != 1 || r[0].Mode != "text" || r[0].Answer.IsZero() {
		t.Fatalf("records: %+v", r)
	}
}

func TestDeadlineLineRead(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := linesim.NewPair(linesim.Config{Seed: 4})
	d := newDeadlineLine(noDeadlineLine{b})
	d.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := d.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	d.SetReadDeadline(time.Time{})
	io.WriteString(a, "abc")
	buf := make([]byte, 10)
	if n, err := d.Read(buf); err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("read: %q %v", buf[:n], err)
	}
	a.Close()
	if _, err := d.Read(buf); err != io.EOF {
		t.Fatalf("after peer hang-up: %v", err)
	}
	d.Close()
}
