package main

import (
	"errors"
	"io"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/linesim"
)

// noDeadlines hides a line's SetReadDeadline.
type noDeadlines struct{ transport.Line }

func TestReadAhead(t *testing.T) {
	testutil.CheckGoroutines(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := linesim.NewPair(linesim.Config{Seed: 1})
		defer a.Close()
		l := withDeadlines(noDeadlines{b})
		if _, ok := l.(*readAhead); !ok {
			t.Fatalf("withDeadlines gave %T", l)
		}
		if withDeadlines(a) != transport.Line(a) {
			t.Fatal("a line with deadlines was wrapped")
		}
		dl := l.(interface{ SetReadDeadline(time.Time) error })
		dl.SetReadDeadline(time.Now().Add(750 * time.Millisecond))
		start := time.Now()
		buf := make([]byte, 8)
		if _, err := l.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 750*time.Millisecond {
			t.Fatalf("Read = %v after %v", err, time.Since(start))
		}
		dl.SetReadDeadline(time.Time{})
		io.WriteString(a, "after the deadline")
		got := make([]byte, 18)
		if _, err := io.ReadFull(l, got); err != nil || string(got) != "after the deadline" {
			t.Fatalf("read %q, %v", got, err)
		}
		a.Close()
		if _, err := l.Read(buf); err != io.EOF {
			t.Fatalf("after the peer hung up: %v", err)
		}
		l.Close()
	})
}
