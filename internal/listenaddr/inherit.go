package listenaddr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
)

// Sockets passed by the service manager (systemd socket activation,
// sd_listen_fds(3)): a socket unit holds the listening sockets, so a
// caller who dials while the gateway restarts waits in the socket's
// backlog and is answered by the next gateway instead of being refused,
// and the gateway needs no privilege for a port below 1024 (telnet's 23).
// Inherit takes them once, at the start; Listen hands each to the
// listener configured for its address.
var inherited struct {
	mu    sync.Mutex
	socks []inheritedSocket // not taken by a listener yet
}

type inheritedSocket struct {
	addr netip.AddrPort
	ln   net.Listener
}

// Inherit takes the listening sockets the service manager passed this
// process ($LISTEN_FDS descriptors from 3 on, when $LISTEN_PID is this
// process), and returns their addresses. It unsets the variables, so no
// program the gateway starts takes them as its own. Nothing passed is
// not an error; a descriptor that is not a listening TCP socket is, as
// Inherit cannot know what it was meant for.
func Inherit() ([]netip.AddrPort, error) {
	pid, fds := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		_ = os.Unsetenv(v)
	}
	if fds == "" || pid != strconv.Itoa(os.Getpid()) {
		return nil, nil // none, or meant for another process
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 1 || n > maxInherited {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q: want a number of descriptors from 1 to %d", fds, maxInherited)
	}
	fdList := make([]int, n)
	for i := range fdList {
		fdList[i] = 3 + i // SD_LISTEN_FDS_START
	}
	return inheritFDs(fdList)
}

// maxInherited bounds $LISTEN_FDS: a gateway has a few listeners.
const maxInherited = 256

// inheritFDs takes the descriptors as listening sockets (Inherit).
func inheritFDs(fds []int) ([]netip.AddrPort, error) {
	var socks []inheritedSocket
	for _, fd := range fds {
		s, err := takeFD(fd)
		if err != nil {
			for _, s := range socks {
				_ = s.ln.Close()
			}
			return nil, fmt.Errorf("socket activation: descriptor %d: %w", fd, err)
		}
		socks = append(socks, s)
	}
	addrs := make([]netip.AddrPort, len(socks))
	for i, s := range socks {
		addrs[i] = s.addr
	}
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	inherited.socks = append(inherited.socks, socks...)
	return addrs, nil
}

// errNotListening: a passed descriptor is a TCP socket that does not
// listen (a socket unit with Accept=yes passes a connection).
var errNotListening = errors.New("a TCP socket that does not listen: the socket unit needs Accept=no (the default)")

// Listen listens on addr (host:port) as Network says, or, when the
// service manager passed a listening socket bound to that address, takes
// that one. lc is used only to listen anew.
func Listen(lc net.ListenConfig, addr string) (net.Listener, error) {
	if ln := take(addr); ln != nil {
		return ln, nil
	}
	ln, err := lc.Listen(context.Background(), Network(addr), addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		if other, ok := inheritedOnPort(addr); ok {
			return nil, &PassedElsewhereError{Addr: addr, Passed: other, Err: err}
		}
	}
	return ln, err
}

// PassedElsewhereError is Listen's error for an address in use where
// the service manager passed a socket on the same port but another
// address (ListenStream=23 binds [::]:23, which a listener on
// 0.0.0.0:23 then cannot take).
type PassedElsewhereError struct {
	Addr   string         // the listener's
	Passed netip.AddrPort // the passed socket's
	Err    error          // from listening on Addr
}

func (e *PassedElsewhereError) Error() string {
	return fmt.Sprintf("%v (the service manager passed a socket on %s, not on %s)", e.Err, e.Passed, e.Addr)
}

func (e *PassedElsewhereError) Unwrap() error { return e.Err }

// Leftover closes the passed sockets no listener took and returns their
// addresses: a socket unit that listens where the configuration does
// not, whose callers wait unanswered.
func Leftover() []netip.AddrPort {
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	var addrs []netip.AddrPort
	for _, s := range inherited.socks {
		_ = s.ln.Close()
		addrs = append(addrs, s.addr)
	}
	inherited.socks = nil
	return addrs
}

// take removes and returns the passed socket bound to addr, or nil.
func take(addr string) net.Listener {
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	if len(inherited.socks) == 0 {
		return nil
	}
	want, ok := bindAddrs(addr)
	if !ok {
		return nil
	}
	for i, s := range inherited.socks {
		if slices.Contains(want, s.addr) {
			inherited.socks = slices.Delete(inherited.socks, i, i+1)
			return s.ln
		}
	}
	return nil
}

// inheritedOnPort returns a passed socket's address on addr's port.
func inheritedOnPort(addr string) (netip.AddrPort, bool) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, false
	}
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	for _, s := range inherited.socks {
		if strconv.Itoa(int(s.addr.Port())) == port {
			return s.addr, true
		}
	}
	return netip.AddrPort{}, false
}

// bindAddrs is where listening on addr binds, as the kernel reports a
// socket's address (without an IPv6 zone, as takeFD keeps it): an empty
// host is [::] (Go listens dual-stack there), "localhost" 127.0.0.1, a
// name each address it resolves to. Port 0 binds nowhere known in
// advance.
func bindAddrs(addr string) ([]netip.AddrPort, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, false
	}
	host = loopbackName(host)
	var ips []netip.Addr
	if host == "" {
		ips = []netip.Addr{netip.IPv6Unspecified()}
	} else if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(context.Background(), "ip", host); err != nil {
		return nil, false
	}
	out := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		out[i] = netip.AddrPortFrom(ip.Unmap().WithZone(""), uint16(p))
	}
	return out, true
}
