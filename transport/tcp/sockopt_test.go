//go:build unix

package tcp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/sockstate"
	"github.com/dialgate/dialgate/internal/testutil"
)

func sockopt(t *testing.T, l *Line, level, opt int) int {
	t.Helper()
	raw, err := sockstate.TCPUnder(l.conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// TestSocketOptions: both ends of a line have TCP_NODELAY and keepalive
// on; a negative KeepAlive turns keepalive off.
func TestSocketOptions(t *testing.T) {
	testutil.CheckGoroutines(t)
	srv, cli := linePair(t, Options{Telnet: true}, Options{KeepAlive: 10 * time.Second})
	for name, l := range map[string]*Line{"server": srv, "client": cli} {
		if sockopt(t, l, syscall.IPPROTO_TCP, syscall.TCP_NODELAY) == 0 {
			t.Errorf("%s: TCP_NODELAY off", name)
		}
		if sockopt(t, l, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
			t.Errorf("%s: keepalive off", name)
		}
	}
	srv2, cli2 := linePair(t, Options{KeepAlive: -1}, Options{KeepAlive: -1})
	for name, l := range map[string]*Line{"server": srv2, "client": cli2} {
		if sockopt(t, l, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 0 {
			t.Errorf("%s: keepalive on although disabled", name)
		}
	}
}

// TestDialTLS: DialTLS's line is Secure, named telnets (or tls), and has
// TCP_NODELAY and keepalive set as Options say on the connection under
// the TLS, on both ends (the server line made by NewLine over
// tls.Server); a server whose certificate is not trusted is refused.
func TestDialTLS(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testutil.WriteCert(t, certFile, keyFile, "gw", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvCh := make(chan *Line, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvCh <- nil
			return
		}
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		if tc.Handshake() != nil {
			c.Close()
			srvCh <- nil
			return
		}
		srvCh <- NewLine(tc, true, Options{Telnet: true})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := DialTLS(ctx, ln.Addr().String(), Options{Telnet: true}, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := <-srvCh
	if srv == nil {
		cli.Close()
		t.Fatal("server handshake failed")
	}
	defer func() {
		// Both at once: each waits for the other's FIN.
		go srv.Close()
		cli.Close()
		srv.Close()
	}()
	if i := cli.Info(); !i.Secure || i.Transport != "telnets" {
		t.Errorf("client line info %+v", i)
	}
	for name, l := range map[string]*Line{"server": srv, "client": cli} {
		if sockopt(t, l, syscall.IPPROTO_TCP, syscall.TCP_NODELAY) == 0 {
			t.Errorf("%s: TCP_NODELAY off", name)
		}
		if sockopt(t, l, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
			t.Errorf("%s: keepalive off", name)
		}
		if got := sockopt(t, l, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL); got != int(DefaultKeepAlive/time.Second) {
			t.Errorf("%s: keepalive interval %d s, want %v", name, got, DefaultKeepAlive)
		}
	}
	if _, err := cli.Write([]byte("over TLS")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(srv, buf); err != nil || string(buf) != "over TLS" {
		t.Fatalf("read %q, %v", buf, err)
	}

	// The system's roots do not know this certificate.
	go func() {
		c, err := ln.Accept()
		if err == nil {
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
			_ = tc.Handshake()
			c.Close()
		}
	}()
	if l, err := DialTLS(ctx, ln.Addr().String(), Options{}, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "127.0.0.1"}); err == nil {
		l.Close()
		t.Error("an untrusted certificate was taken")
	} else if _, ok := errors.AsType[*tls.CertificateVerificationError](err); !ok {
		t.Errorf("untrusted: %v", err)
	}
}

// TestSynchKeepsStreamClean: a telnet Synch (RFC 854) sends IAC with the
// urgent pointer and DM after it, as telnetd and `send synch` do. Without
// SO_OOBINLINE the kernel took the IAC out of the stream and the line
// read the DM's 0xF2 as data; with it the line reads IAC DM as the
// command it is. Raw lines keep the urgent octet as data.
func TestSynchKeepsStreamClean(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, tc := range []struct {
		name   string
		telnet bool
		want   string
	}{{"telnet", true, "ab"}, {"raw", false, "a\xff\xf2b"}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := linePair(t, Options{Telnet: tc.telnet}, Options{})
			for name, l := range map[string]*Line{"server": srv, "client": cli} {
				if sockopt(t, l, syscall.SOL_SOCKET, syscall.SO_OOBINLINE) == 0 {
					t.Errorf("%s: SO_OOBINLINE off", name)
				}
			}
			raw, err := sockstate.TCPUnder(cli.conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			send := func(p []byte, flags int) {
				t.Helper()
				var serr error
				if err := raw.Write(func(fd uintptr) bool {
					serr = syscall.Sendto(int(fd), p, flags, nil)
					return serr != syscall.EAGAIN
				}); err != nil || serr != nil {
					t.Fatal(err, serr)
				}
			}
			send([]byte("a"), 0)
			send([]byte{0xFF}, syscall.MSG_OOB) // IAC, urgent
			send([]byte{0xF2, 'b'}, 0)          // DM, then data
			srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got []byte
			buf := make([]byte, 16)
			for len(got) < len(tc.want) {
				n, err := srv.Read(buf)
				if err != nil {
					t.Fatalf("read after %q: %v", got, err)
				}
				got = append(got, buf[:n]...)
			}
			if string(got) != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
		})
	}
}
