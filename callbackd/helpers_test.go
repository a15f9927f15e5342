package callbackd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/transport"
)

// records collects attempts.
type records struct {
	mu sync.Mutex
	a  []Attempt
}

func (r *records) RecordAttempt(a Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.a = append(r.a, a)
}

func (r *records) all() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.a...)
}

// handoffs collects handed-off sessions; each is read by the test.
type handoffs struct {
	ch chan handed
}

type handed struct {
	job Job
	s   Session
}

func newHandoffs() *handoffs { return &handoffs{ch: make(chan handed, 16)} }

func (h *handoffs) fn(ctx context.Context, job Job, s Session) { h.ch <- handed{job, s} }

// readFull reads exactly n octets from r or fails the test.
func readN(t *testing.T, r io.Reader, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("reading %d octets: %v (got %q)", n, err, b)
	}
	return string(b)
}

// readUntil reads from r until the text so far ends with suffix.
func readUntil(t *testing.T, r io.Reader, suffix string) string {
	t.Helper()
	var got []byte
	b := make([]byte, 1)
	for len(got) < 4096 {
		if _, err := r.Read(b); err != nil {
			t.Fatalf("reading until %q: %v (got %q)", suffix, err, got)
		}
		got = append(got, b[0])
		if len(got) >= len(suffix) && string(got[len(got)-len(suffix):]) == suffix {
			return string(got)
		}
	}
	t.Fatalf("no %q in %q", suffix, got)
	return ""
}

// xidLine is a test stand-in for a LAPM link: XID commands and responses
// as length-prefixed frames on a line, then raw octets. It satisfies
// V42Link.
type xidLine struct {
	line transport.Line
	r    *bufio.Reader
	wmu  sync.Mutex
}

const (
	xidCommand  = 'C'
	xidResponse = 'R'
)

var errXIDKind = errors.New("xidLine: unexpected frame kind")

func newXIDLine(l transport.Line) *xidLine { return &xidLine{line: l, r: bufio.NewReader(l)} }

func (x *xidLine) writeFrame(kind byte, p []byte) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	b := append([]byte{kind}, binary.BigEndian.AppendUint16(nil, uint16(len(p)))...)
	_, err := x.line.Write(append(b, p...))
	return err
}

func (x *xidLine) readFrame(want byte) ([]byte, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(x.r, hdr[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint16(hdr[1:]))
	if _, err := io.ReadFull(x.r, p); err != nil {
		return nil, err
	}
	if hdr[0] != want {
		return nil, fmt.Errorf("%w %q", errXIDKind, hdr[0])
	}
	return p, nil
}

func (x *xidLine) ExchangeXID(ctx context.Context, p []byte) ([]byte, error) {
	if err := x.writeFrame(xidCommand, p); err != nil {
		return nil, err
	}
	return x.readFrame(xidResponse)
}

func (x *xidLine) AcceptXID(ctx context.Context) ([]byte, error) { return x.readFrame(xidCommand) }
func (x *xidLine) RespondXID(p []byte) error                     { return x.writeFrame(xidResponse, p) }
func (x *xidLine) NegotiationTranscript() []byte                 { return []byte("test XID negotiation") }
func (x *xidLine) Read(p []byte) (int, error)                    { return x.r.Read(p) }
func (x *xidLine) Write(p []byte) (int, error)                   { return x.line.Write(p) }
func (x *xidLine) Close() error                                  { return x.line.Close() }

// ticketPair runs Access Security phases i–iv between a caller and a
// gateway over an in-memory line pair and returns both halves of the
// callback ticket for user, whose callback address is addr.
func ticketPair(t *testing.T, a, b transport.Line, user, addr string, session uint64) (*auth.Ticket, *auth.CallerTicket) {
	t.Helper()
	hk, err := auth.GenerateHostKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	caller, gw := newXIDLine(a), newXIDLine(b)
	type res struct {
		r   *auth.AnswerResult
		err error
	}
	ch := make(chan res, 1)
	go func() {
		first, err := gw.AcceptXID(ctx)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		r, err := auth.Answer(ctx, gw, first, auth.AnswererConfig{
			HostKey: hk, Name: "test-gw",
			Verify: func(ctx context.Context, id, pw string) (auth.User, error) {
				return auth.User{ID: id, Callback: addr}, nil
			},
			AllocateSession: func() (uint64, error) { return session, nil },
			CallbackTTL:     time.Hour,
		})
		ch <- res{r, err}
	}()
	cr, err := auth.Call(ctx, caller, auth.CallerConfig{
		UserID: user, Password: "pw", HostName: "gw",
		CheckHostKey: func([]byte) error { return nil }, WantCallback: true,
	})
	if err != nil {
		t.Fatalf("auth.Call: %v", err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("auth.Answer: %v", r.err)
	}
	if !cr.Callback || cr.Ticket == nil || r.r.Callback == nil {
		t.Fatalf("no callback tickets: caller %+v gateway %+v", cr, r.r)
	}
	a.Close()
	b.Close()
	return r.r.Callback, cr.Ticket
}
