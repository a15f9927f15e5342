package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// runRelay is "benchpeer relay": the least a relaying process can do, a
// baseline for the gateway's raw path. Every connection it accepts is
// joined to a new connection to -to with io.Copy each way, which on Linux
// moves the octets with splice(2) (TCPConn.ReadFrom), never through user
// space; a side that ends is half-closed on the other. No protocol, no
// limits: loopback benchmarks only.
func runRelay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	to := fs.String("to", "", "host:port to relay every connection to (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("relay: -to is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	_ = os.Stdout.Sync()
	return serveRelay(ln, *to)
}

// serveRelay relays every connection ln accepts to addr, until ln is
// closed.
func serveRelay(ln net.Listener, addr string) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and friends
			continue
		}
		go relay(c.(*net.TCPConn), addr)
	}
}

// relay joins a to a new connection to addr until both directions ended.
func relay(a *net.TCPConn, addr string) {
	defer a.Close()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	b := c.(*net.TCPConn)
	defer b.Close()
	var wg sync.WaitGroup
	half := func(dst, src *net.TCPConn) {
		_, _ = io.Copy(dst, src) // splice on Linux
		_ = dst.CloseWrite()
	}
	wg.Go(func() { half(b, a) })
	half(a, b)
	wg.Wait()
}
