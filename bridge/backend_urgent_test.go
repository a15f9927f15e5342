//go:build unix

package bridge

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestBackendKeepsUrgentInline: connections to tcp and telnet backends
// keep urgent data in the stream (a telnet service's Synch), as caller
// lines do (transport/tcp TestSynchKeepsStreamClean).
func TestBackendKeepsUrgentInline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			var b [1]byte
			_, _ = c.Read(b[:])
		}
	}()
	c, err := dialTCP(context.Background(), ln.Addr().String(), 0, false, Session{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE) }); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if v == 0 {
		t.Error("SO_OOBINLINE off on a backend connection")
	}
}
