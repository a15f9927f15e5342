package tcp

import (
	"errors"
	"io"
	"testing"

	"github.com/dialgate/dialgate/transport/proxyproto"
)

// TestServerLineRefusesProxyHeader: a PROXY header at the start of a
// server line (raw or telnet) ends its reads with ErrUnwanted instead of
// reaching the login as typing; anywhere else, and on the client side,
// the octets are data.
func TestServerLineRefusesProxyHeader(t *testing.T) {
	v2 := append(append([]byte{}, proxyproto.SignatureV2[:]...), 0x21, 0x11, 0, 12, 127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2)
	for _, tc := range []struct {
		name   string
		telnet bool
		first  []byte
	}{
		{"raw v2", false, v2},
		{"telnet v2", true, v2},
		{"raw v1", false, []byte("PROXY TCP4 192.0.2.7 127.0.0.1 4000 2323\r\n")},
		{"telnet v1", true, []byte("PROXY TCP6 2001:db8::1 ::1 4000 2323\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := linePair(t, Options{Telnet: tc.telnet}, Options{})
			if _, err := cli.conn.Write(tc.first); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 256)
			var err error
			for err == nil {
				_, err = srv.Read(buf)
			}
			if !errors.Is(err, proxyproto.ErrUnwanted) {
				t.Fatalf("read error %v", err)
			}
			if _, err := srv.Read(buf); !errors.Is(err, proxyproto.ErrUnwanted) {
				t.Errorf("next read: %v", err)
			}
		})
	}
	t.Run("data", func(t *testing.T) {
		srv, cli := linePair(t, Options{}, Options{})
		go func() {
			cli.Write([]byte("alice\r\n"))
			cli.Write(v2) // not at the start: data
			cli.Close()
		}()
		got, err := io.ReadAll(srv)
		if err != nil || string(got) != "alice\r\n"+string(v2) {
			t.Errorf("got %q, %v", got, err)
		}
	})
	t.Run("client side", func(t *testing.T) {
		srv, cli := linePair(t, Options{}, Options{})
		go func() {
			srv.Write(v2)
			srv.Close()
		}()
		got, err := io.ReadAll(cli)
		if err != nil || string(got) != string(v2) {
			t.Errorf("got %q, %v", got, err)
		}
	})
}
