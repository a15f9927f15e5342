package lapm

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

// TestLinkStaleXIDResponse: the answerer is slow to answer the first XID
// command, so the command sender retransmits it; a retransmission reaches
// the answerer after it answered and is answered again from its cache. That
// late duplicate response must not be taken as the answer to the sender's
// next command (Access Security would read a second CHALLENGE where it
// waits for CONFIRM).
func TestLinkStaleXIDResponse(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		a, b := linesim.NewPair(linesim.Config{Seed: 1, Impairments: linesim.Impairments{Latency: 60 * time.Millisecond}})
		cfg := Config{T401: 100 * time.Millisecond, Logger: tlog{t}}
		la, lb := openPair(t, ctx, a, b, cfg, cfg)
		defer la.Close()
		defer lb.Close()

		errc := make(chan error, 1)
		go func() {
			errc <- func() error {
				if _, err := lb.AcceptXID(ctx); err != nil {
					return err
				}
				time.Sleep(250 * time.Millisecond) // the upper layer works (argon2, say)
				if err := lb.RespondXID([]byte("challenge")); err != nil {
					return err
				}
				got, err := lb.AcceptXID(ctx)
				if err != nil {
					return err
				}
				if !bytes.Equal(got, []byte("response")) {
					t.Errorf("second command %q", got)
				}
				return lb.RespondXID([]byte("confirm"))
			}()
		}()
		if got, err := la.ExchangeXID(ctx, []byte("initiate")); err != nil || string(got) != "challenge" {
			t.Fatalf("first exchange: %q, %v", got, err)
		}
		if got, err := la.ExchangeXID(ctx, []byte("response")); err != nil || string(got) != "confirm" {
			t.Fatalf("second exchange: %q, %v (a stale duplicate of the first response?)", got, err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

// TestLinkLargestXIDPayload: a 2048-octet payload, the largest Access
// Security token, fits the default MaxXID both ways.
func TestLinkLargestXIDPayload(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		a, b := linesim.NewPair(linesim.Config{Seed: 2})
		la, lb := openPair(t, ctx, a, b, Config{Logger: tlog{t}}, Config{Logger: tlog{t}})
		defer la.Close()
		defer lb.Close()
		cmd, resp := bytes.Repeat([]byte{0xC3}, 2048), bytes.Repeat([]byte{0x7E}, 2048)
		errc := make(chan error, 1)
		go func() {
			got, err := lb.AcceptXID(ctx)
			if err == nil && !bytes.Equal(got, cmd) {
				t.Errorf("command: %d octets", len(got))
			}
			if err == nil {
				err = lb.RespondXID(resp)
			}
			errc <- err
		}()
		if got, err := la.ExchangeXID(ctx, cmd); err != nil || !bytes.Equal(got, resp) {
			t.Fatalf("exchange: %d octets, %v", len(got), err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if _, err := la.ExchangeXID(ctx, make([]byte, 2049)); err == nil {
			t.Error("a payload over the limit was sent")
		}
	})
}

// TestLinkOversizedXIDCommandAnswered: a peer's XID command over MaxXID
// after the negotiation (a token over Access Security's limit) reaches
// AcceptXID as ErrXIDTooLong and is answered under its exchange number
// (Access Security's REJECT). Before, it was dropped: the peer retried
// until N400 and gave up without an answer.
func TestLinkOversizedXIDCommandAnswered(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		a, b := linesim.NewPair(linesim.Config{Seed: 3})
		la, lb := openPair(t, ctx, a, b, Config{Logger: tlog{t}, MaxXID: 4096}, Config{Logger: tlog{t}})
		defer la.Close()
		defer lb.Close()
		errc := make(chan error, 1)
		go func() {
			_, err := lb.AcceptXID(ctx)
			if !errors.Is(err, ErrXIDTooLong) {
				t.Errorf("AcceptXID: %v, want ErrXIDTooLong", err)
			}
			errc <- lb.RespondXID([]byte("too long"))
		}()
		if got, err := la.ExchangeXID(ctx, make([]byte, 3000)); err != nil || string(got) != "too long" {
			t.Fatalf("exchange: %q, %v; want the answer", got, err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if got := lb.Stats().InvalidFrames; got != 1 {
			t.Errorf("%d invalid frames counted, want 1", got)
		}
	})
}

func TestXIDResponseMatches(t *testing.T) {
	neg := func() []byte { x := (LinkParams{N401: 256}).Offer(); return x.Append(nil) }
	for _, tc := range []struct {
		name      string
		cmd, resp []byte
		want      bool
	}{
		{"same exchange", xidInfo([]byte("a"), 7), xidInfo([]byte("b"), 7), true},
		{"earlier exchange", xidInfo([]byte("a"), 8), xidInfo([]byte("b"), 7), false},
		{"negotiation answered by our set", neg(), xidInfo([]byte("b"), 1), false},
		{"our set answered by a negotiation", xidInfo([]byte("a"), 1), neg(), false},
		{"negotiation", neg(), neg(), true},
		{"unparsable response is the upper layer's error", xidInfo(nil, 1), []byte{0x82, 0xF0}, true},
	} {
		if got := xidResponseMatches(tc.cmd, tc.resp); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
