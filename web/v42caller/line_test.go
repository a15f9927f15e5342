package v42caller

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

func TestLineFeedReadEOF(t *testing.T) {
	testutil.CheckGoroutines(t)
	c, g := pair()
	if _, err := g.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Write([]byte("def")); err != nil {
		t.Fatal(err)
	}
	g.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "abcdef" {
		t.Fatalf("ReadAll = %q, %v; want every octet, then EOF", got, err)
	}
	if err := c.Feed([]byte("late")); !errors.Is(err, transport.ErrHungUp) {
		t.Fatalf("Feed after hang-up = %v", err)
	}
}

func TestLineDeadline(t *testing.T) {
	testutil.CheckGoroutines(t)
	c, g := pair()
	defer g.Close()
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline = %v", err)
	}
	// A deadline change wakes a blocked Read.
	_ = c.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	_ = c.SetReadDeadline(time.Unix(1, 0))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read woken by a past deadline = %v", err)
	}
	// Data wins over a deadline set later.
	_ = c.SetReadDeadline(time.Time{})
	_, _ = g.Write([]byte("x"))
	if n, err := c.Read(make([]byte, 4)); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
}

func TestLineCloseWakesRead(t *testing.T) {
	testutil.CheckGoroutines(t)
	c, g := pair()
	defer g.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	c.Close()
	if err := <-errc; !errors.Is(err, transport.ErrHungUp) {
		t.Fatalf("Read after Close = %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, transport.ErrHungUp) {
		t.Fatalf("Write after Close = %v", err)
	}
	c.Close() // idempotent
}

func TestLineOverflow(t *testing.T) {
	c, g := pair()
	defer g.Close()
	if err := c.Feed(make([]byte, MaxBuffered)); err != nil {
		t.Fatal(err)
	}
	if err := c.Feed([]byte{1}); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Feed beyond MaxBuffered = %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, transport.ErrHungUp) {
		t.Fatalf("Read after overflow = %v, want the line closed", err)
	}
}
