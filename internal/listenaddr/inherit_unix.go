//go:build unix

package listenaddr

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// takeFD makes the listening TCP socket fd a net.Listener (a duplicate,
// close-on-exec) and closes fd.
func takeFD(fd int) (inheritedSocket, error) {
	// Checked before net.FileListener, which takes any socket.
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return inheritedSocket{}, fmt.Errorf("not a socket: %w", err)
	}
	if typ != unix.SOCK_STREAM {
		return inheritedSocket{}, fmt.Errorf("a datagram socket: the gateway needs ListenStream=")
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("LISTEN_FDS descriptor %d", fd))
	ln, err := net.FileListener(f)
	_ = f.Close()
	if err != nil {
		return inheritedSocket{}, err
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		_ = ln.Close()
		return inheritedSocket{}, fmt.Errorf("a %s socket, not a TCP one", ln.Addr().Network())
	}
	if listening, err := acceptsConnections(tl); err != nil || !listening {
		_ = ln.Close()
		if err != nil {
			return inheritedSocket{}, err
		}
		return inheritedSocket{}, errNotListening
	}
	ap := tl.Addr().(*net.TCPAddr).AddrPort()
	return inheritedSocket{addr: netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), ln: ln}, nil
}

// acceptsConnections reports whether ln's socket listens (SO_ACCEPTCONN).
func acceptsConnections(ln *net.TCPListener) (bool, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return false, err
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN) }); err != nil {
		return false, err
	}
	return v != 0, gerr
}
