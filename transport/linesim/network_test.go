package linesim

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

func TestNetworkCall(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := NewNetwork()
	ln, err := n.Listen("gateway")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := n.Listen("gateway"); !errors.Is(err, ErrNameInUse) {
		t.Errorf("second Listen: %v", err)
	}
	if ln.Addr() != "sim://gateway" {
		t.Errorf("Addr %q", ln.Addr())
	}
	go func() {
		l, err := ln.Accept(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		io.Copy(l, l) // echo until the caller hangs up
	}()
	c, err := n.Dial(ctx, "sim://gateway")
	if err != nil {
		t.Fatal(err)
	}
	if c.Info().Transport != "sim" || c.Info().RemoteAddr != "gateway" || c.Info().LocalAddr != "caller-1" {
		t.Errorf("info %+v", c.Info())
	}
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Errorf("echo: %q, %v", buf, err)
	}
	c.Close()
}

func TestNetworkErrors(t *testing.T) {
	testutil.CheckGoroutines(t)
	n := NewNetwork()
	ctx := context.Background()
	if _, err := n.Dial(ctx, "nobody"); !errors.Is(err, ErrNoListener) {
		t.Errorf("dial nobody: %v", err)
	}
	ln, _ := n.Listen("x")
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := n.Dial(short, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dial without Accept: %v", err)
	}
	done := make(chan error)
	go func() {
		_, err := ln.Accept(ctx)
		done <- err
	}()
	ln.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	if _, err := n.Dial(ctx, "x"); !errors.Is(err, ErrNoListener) {
		t.Errorf("dial closed listener: %v", err)
	}
	if _, err := n.Listen("x"); err != nil {
		t.Errorf("name not freed: %v", err)
	}
}

func TestNetworkConfiguredCalls(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx := context.Background()
	n := NewNetwork()
	n.SetConfig(Config{Seed: 5, Impairments: Impairments{BitErrorRate: 0.01}})
	ln, _ := n.Listen("g")
	defer ln.Close()
	data := make([]byte, 4096)
	var outs [][]byte
	for range 2 {
		go func() {
			c, err := n.Dial(ctx, "g")
			if err != nil {
				t.Error(err)
				return
			}
			c.Write(data)
			c.Close()
		}()
		l, err := ln.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(l)
		l.Close()
		outs = append(outs, got)
		if l.(*Line).Seed() != int64(4+len(outs)) {
			t.Errorf("call %d seed %d", len(outs), l.(*Line).Seed())
		}
	}
	if string(outs[0]) == string(outs[1]) || string(outs[0]) == string(data) {
		t.Error("calls not impaired, or impaired identically")
	}
}
