package ws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/transport"
)

// fuzzLineProtos are the subprotocols FuzzLineMessages offers ("" offers
// none: the line then treats text messages as control messages, as on
// "binary").
var fuzzLineProtos = [...]string{ProtoBinary, ProtoPlain, ProtoBase64, ""}

// FuzzLineMessages sends a script of WebSocket messages from a raw client
// (the fuzzer's peer: any text or binary payload, in any subprotocol) to
// a Line the listener accepted, then closes normally, and reads the line
// to its end. It drives the reader loop end to end (readMessages,
// readBinary, readText, readControl), which FuzzTextStream and
// FuzzParseControl reach only in pieces. Properties: no panic or hang;
// the octets read are the binary payloads and the decoded data-carrying
// text messages in order, as the codecs decode each message whole; a
// text message its subprotocol refuses ends the line with an error
// wrapping ErrBadPayload after the octets of the messages before it
// (and no more than the decoder produced from it); the line's window
// size and terminal type are those of the last resize and "term" control
// messages ParseControl accepts, and are untouched on "plain" and
// "base64", where text is data.
//
// Script: a header octet per message (bit 0: text, bits 1..7: length
// high bits with the next octet as the low bits, modulo 4 KiB), then the
// payload; past its end the script is cut short.
func FuzzLineMessages(f *testing.F) {
	f.Add(byte(0), []byte("\x00\x05hello\x01\x25{\"type\":\"resize\",\"cols\":80,\"rows\":24}\x00\x01!"))
	f.Add(byte(0), []byte("\x01\x27{\"type\":\"term\",\"name\":\"xterm-256color\"}\x01\x0f{\"type\":\"ping\"}\x01\x04junk"))
	f.Add(byte(1), []byte("\x01\x05caf\xc3\xa9\x00\x02\xff\x00\x01\x02\xc3("))
	f.Add(byte(2), []byte("\x01\x08QVREVA0=\x01\x04QQ==\x01\x03Q!=\x00\x01z"))
	f.Add(byte(3), []byte("\x01\x10{\"type\":\"break\"}\x00\x03abc"))

	ln, err := NewHandler(Options{Logger: discardLog{}, Notices: discardLog{}})
	if err != nil {
		f.Fatal(err)
	}
	hs := httptest.NewServer(http.Handler(ln))
	f.Cleanup(func() {
		ln.Close()
		hs.Close()
	})
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/line"

	f.Fuzz(func(t *testing.T, proto byte, script []byte) {
		sub := fuzzLineProtos[int(proto)%len(fuzzLineProtos)]
		type msg struct {
			text    bool
			payload []byte
		}
		var msgs []msg
		for s := script; len(s) >= 2 && len(msgs) < 64; {
			n := (int(s[0]>>1)<<8 | int(s[1])) % 4096
			text := s[0]&1 != 0
			s = s[2:]
			n = min(n, len(s))
			msgs = append(msgs, msg{text, s[:n]})
			s = s[n:]
		}

		// What the line must deliver, per message as a whole.
		control := sub == "" || sub == ProtoBinary
		var want []byte
		var wantWin transport.WindowSize
		var wantTerm string
		bad := -1
		var badMax int // the most octets the refused message may add
		for i, m := range msgs {
			switch {
			case !m.text:
				want = append(want, m.payload...)
			case control:
				c, err := ParseControl(m.payload)
				switch {
				case err != nil:
				case c.Type == ControlResize:
					wantWin = c.Window
				case c.Type == ControlTerm:
					wantTerm = c.Term
				}
			default:
				var out []byte
				var err error
				if sub == ProtoBase64 {
					out, err = appendBase64Decoded(nil, m.payload)
				} else {
					out, err = appendPlainDecoded(nil, m.payload)
				}
				if err != nil {
					bad, badMax = i, len(m.payload)
				} else {
					want = append(want, out...)
				}
			}
			if bad >= 0 {
				msgs = msgs[:i+1]
				break
			}
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		accepted := make(chan *Line, 1)
		go func() {
			l, _ := ln.AcceptWS(ctx)
			accepted <- l
		}()
		var d websocket.Dialer
		if sub != "" {
			d.Subprotocols = []string{sub}
		}
		conn, _, err := d.DialContext(ctx, url, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		l := <-accepted
		if l == nil {
			t.Fatal("not accepted")
		}
		defer l.Close()
		if l.Info().Subproto != sub {
			t.Fatalf("subprotocol %q, offered %q", l.Info().Subproto, sub)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		// The client reads (pongs, the close handshake) and then
		// writes, both in the background: the line's reader works
		// while the test reads it.
		clientDone := make(chan struct{})
		go func() {
			defer close(clientDone)
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		}()
		go func() {
			for _, m := range msgs {
				typ := websocket.BinaryMessage
				if m.text {
					typ = websocket.TextMessage
				}
				if conn.WriteMessage(typ, m.payload) != nil {
					return
				}
			}
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		}()
		_ = l.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(l)
		var timeout interface{ Timeout() bool }
		if errors.As(err, &timeout) && timeout.Timeout() {
			t.Fatalf("no end of the line within 10 s: read %d octets", len(got))
		}
		if bad < 0 {
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%q: read %q, %v; want %q", sub, got, err, want)
			}
		} else {
			if !errors.Is(err, ErrBadPayload) || !bytes.HasPrefix(got, want) || len(got) > len(want)+badMax {
				t.Fatalf("%q: message %d refused: read %q, %v; want %q and at most %d more octets, then ErrBadPayload",
					sub, bad, got, err, want, badMax)
			}
		}
		if bad < 0 {
			// The reader has ended (Read returned its end): the line's
			// information is final.
			info := l.Info()
			if info.Window != wantWin || info.TermType != wantTerm {
				t.Fatalf("%q: window %+v, term %q; want %+v, %q", sub, info.Window, info.TermType, wantWin, wantTerm)
			}
		}
		l.Close()
		conn.Close()
		select {
		case <-clientDone:
		case <-time.After(10 * time.Second):
			t.Fatal("client reader did not end")
		}
	})
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
