package ws

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport"
)

// allOctets is 0x00..0xFF twice, including the octets that need care in
// each encoding (NUL, 0x7F, 0x80, 0xFF).
func allOctets() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestRoundTripEverySubprotocol(t *testing.T) {
	for _, proto := range []string{"", ProtoBinary, ProtoPlain, ProtoBase64} {
		t.Run("proto="+proto, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s := startServer(t, Options{})
			c, l := pair(t, s, DialOptions{Subprotocol: proto})
			watchdog(t, 20*time.Second, func() { c.Close(); l.Close() })

			for _, line := range []*Line{c, l} {
				info := line.Info()
				if info.Subproto != proto || info.Transport != "ws" || info.Secure {
					t.Errorf("Info() = %+v, want Subproto %q, Transport ws, not secure", info, proto)
				}
				if info.RemoteAddr == "" || info.LocalAddr == "" {
					t.Errorf("Info() = %+v: addresses missing", info)
				}
			}
			want := allOctets()
			if _, err := c.Write(want); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if _, err := io.ReadFull(l, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("client->server: got %x", got)
			}
			if _, err := l.Write(want); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("server->client: got %x", got)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if n, err := l.Read(got); n != 0 || err != io.EOF {
				t.Errorf("server Read after peer hang-up = %d, %v; want 0, io.EOF", n, err)
			}
			if _, err := l.Write(want); !errors.Is(err, ErrPeerHungUp) {
				t.Errorf("server Write after peer hang-up: %v, want ErrPeerHungUp", err)
			}
			if err := l.Close(); err != nil {
				t.Errorf("Close after peer hang-up: %v", err)
			}
		})
	}
}

func TestCloseContract(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	c, l := pair(t, s, DialOptions{Subprotocol: ProtoBinary})
	watchdog(t, 20*time.Second, func() { c.Close(); l.Close() })

	// A Read blocked in another goroutine returns ErrHungUp at Close.
	readErr := make(chan error, 1)
	go func() {
		_, err := l.Read(make([]byte, 10))
		readErr <- err
	}()
	time.Sleep(10 * time.Millisecond) // let it block (not required for correctness)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-readErr; !errors.Is(err, transport.ErrHungUp) {
		t.Errorf("blocked Read: %v, want ErrHungUp", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Read(make([]byte, 1)); !errors.Is(err, transport.ErrHungUp) {
		t.Errorf("Read after Close: %v, want ErrHungUp", err)
	}
	if _, err := l.Write([]byte("x")); !errors.Is(err, transport.ErrHungUp) {
		t.Errorf("Write after Close: %v, want ErrHungUp", err)
	}
	if _, ok := <-l.WindowChanges(); ok {
		t.Error("WindowChanges not closed after Close")
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer Read: %v, want io.EOF", err)
	}
	// Concurrent Close calls are safe.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); c.Close() }()
	}
	wg.Wait()
}

// TestConcurrentWriters checks that writes from many goroutines are
// serialized: every Write's octets arrive contiguous.
func TestConcurrentWriters(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	c, l := pair(t, s, DialOptions{Subprotocol: ProtoBase64})
	watchdog(t, 30*time.Second, func() { c.Close(); l.Close() })
	const writers, writes, size = 8, 16, 40000 // > maxMessage: several messages per Write
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := bytes.Repeat([]byte{byte('A' + w)}, size)
			for range writes {
				if _, err := c.Write(buf); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); c.Close() }()
	got, err := io.ReadAll(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*writes*size {
		t.Fatalf("got %d octets, want %d", len(got), writers*writes*size)
	}
	for i := 0; i < len(got); i += size {
		chunk := got[i : i+size]
		if bytes.Count(chunk, chunk[:1]) != size {
			t.Fatalf("Write at offset %d interleaved with another", i)
		}
	}
}

// TestWriteMessageSizes: one Write goes out in messages of at most
// WriteSize octets: 64 KiB in binary (as websockify sends), 32 KiB of
// octets in the text subprotocols (at most 64 KiB encoded).
func TestWriteMessageSizes(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	for _, c := range []struct {
		proto string
		size  int
	}{{ProtoBinary, 64 << 10}, {ProtoPlain, 32 << 10}, {ProtoBase64, 32 << 10}} {
		conn, l := rawPairProto(t, s, c.proto)
		if got := l.WriteSize(); got != c.size {
			t.Errorf("%s: WriteSize %d, want %d", c.proto, got, c.size)
		}
		payload := bytes.Repeat([]byte("0123456789"), 15000) // 150,000 octets
		go func() {
			if _, err := l.Write(payload); err != nil {
				t.Error(err)
			}
		}()
		var sizes []int
		var got []byte
		for len(got) < len(payload) {
			_, m, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("%s: %v", c.proto, err)
			}
			if c.proto == ProtoBase64 {
				if m, err = base64.StdEncoding.DecodeString(string(m)); err != nil {
					t.Fatalf("%s: %v", c.proto, err)
				}
			}
			sizes = append(sizes, len(m))
			got = append(got, m...)
		}
		var want []int
		for rest := len(payload); rest > 0; rest -= c.size {
			want = append(want, min(rest, c.size))
		}
		if !bytes.Equal(got, payload) || fmt.Sprint(sizes) != fmt.Sprint(want) {
			t.Errorf("%s: messages of %v octets, want %v (intact %v)", c.proto, sizes, want, bytes.Equal(got, payload))
		}
		conn.Close()
		l.Close()
	}
}

// TestPeerRefusesBigMessage: a peer whose client takes smaller messages
// than the line sends closes it with status 1009; Read then says so
// (ErrPeerRefusedMessage, not io.EOF: the call's record should not read
// as an ordinary hang-up), and so does a later Write.
func TestPeerRefusesBigMessage(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	conn, l := rawPairProto(t, s, ProtoBinary)
	conn.SetReadLimit(32 << 10)
	if _, err := l.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.ReadMessage(); !errors.Is(err, websocket.ErrReadLimit) {
		t.Fatalf("the client read %v, want its read limit", err)
	}
	if _, err := io.ReadAll(l); !errors.Is(err, ErrPeerRefusedMessage) {
		t.Errorf("Read after the peer's 1009: %v", err)
	}
	if _, err := l.Write([]byte("more")); !errors.Is(err, ErrPeerRefusedMessage) || !errors.Is(err, transport.ErrHungUp) {
		t.Errorf("Write after the peer's 1009: %v", err)
	}
}

// TestIntegrity64MiB sends 64 MiB of random octets each way at the same
// time and compares SHA-256 digests. The side that hangs up first writes its
// last chunk only after it received everything, then closes at once: the
// peer must get every octet, then io.EOF (the close-flush case).
func TestIntegrity64MiB(t *testing.T) {
	for _, tc := range []struct {
		closer string
		size   int
	}{{"dialer", 64 << 20}, {"listener", 16 << 20}} {
		closer, size := tc.closer, tc.size
		t.Run("closer="+closer, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s := startServer(t, Options{})
			c, l := pair(t, s, DialOptions{Subprotocol: ProtoBinary})
			watchdog(t, 120*time.Second, func() { c.Close(); l.Close() })
			first, second := c, l
			if closer == "listener" {
				first, second = l, c
			}
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)

			var wg sync.WaitGroup
			var firstSent, secondSent, firstGot, secondGot [32]byte
			// second: write everything, read until EOF, then Close.
			wg.Add(2)
			go func() {
				defer wg.Done()
				secondSent = writeRandom(t, second, size, seed+1, nil)
			}()
			go func() {
				defer wg.Done()
				h := sha256.New()
				n, err := io.Copy(h, second)
				if err != nil || n != int64(size) {
					t.Errorf("second side read %d octets, err %v; want %d then EOF", n, err, size)
				}
				h.Sum(secondGot[:0])
			}()
			// first: read exactly size octets; write all but the last
			// chunk, then the last chunk once everything arrived, then
			// Close at once.
			received := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := sha256.New()
				if n, err := io.CopyN(h, first, int64(size)); err != nil {
					t.Errorf("first side read %d octets: %v", n, err)
				}
				h.Sum(firstGot[:0])
				close(received)
			}()
			firstSent = writeRandom(t, first, size, seed, received)
			if err := first.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			wg.Wait()
			if err := second.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if firstSent != secondGot {
				t.Errorf("%s->peer: SHA-256 sent %x, received %x", closer, firstSent, secondGot)
			}
			if secondSent != firstGot {
				t.Errorf("peer->%s: SHA-256 sent %x, received %x", closer, secondSent, firstGot)
			}
		})
	}
}

// writeRandom writes size seeded random octets in writes of random length
// and returns their SHA-256. If before is not nil, the last write waits
// for it.
func writeRandom(t testing.TB, w io.Writer, size int, seed uint64, before <-chan struct{}) (sum [32]byte) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := rand.NewChaCha8(key)
	rng := rand.New(src)
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for left := size; left > 0; {
		n := min(left, 1+rng.IntN(len(buf)))
		if left-n == 0 && before != nil {
			<-before
		}
		chunk := buf[:n]
		src.Read(chunk)
		h.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			t.Errorf("write: %v", err)
			break
		}
		left -= n
	}
	h.Sum(sum[:0])
	return sum
}

// TestCloseFlushEveryEncoding writes then closes at once in each
// subprotocol: the peer gets every octet, then io.EOF.
func TestCloseFlushEveryEncoding(t *testing.T) {
	const size = 1 << 20
	for _, proto := range []string{"", ProtoPlain, ProtoBase64} {
		t.Run("proto="+proto, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s := startServer(t, Options{})
			c, l := pair(t, s, DialOptions{Subprotocol: proto})
			watchdog(t, 60*time.Second, func() { c.Close(); l.Close() })
			var sent [32]byte
			done := make(chan struct{})
			go func() {
				defer close(done)
				sent = writeRandom(t, l, size, 7, nil)
				if err := l.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			h := sha256.New()
			n, err := io.Copy(h, c)
			<-done
			if err != nil || n != size {
				t.Fatalf("read %d octets, err %v; want %d then EOF", n, err, size)
			}
			if got := h.Sum(nil); !bytes.Equal(got, sent[:]) {
				t.Fatalf("SHA-256 %x, sent %x", got, sent)
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{ReadLimit: 1024})
	clientLog := newLogSink(t)
	c, l := pair(t, s, DialOptions{Subprotocol: ProtoBinary, Logger: clientLog})
	watchdog(t, 20*time.Second, func() { c.Close(); l.Close() })
	callLog := newLogSink(t)
	l.SetLogger(callLog)

	if _, err := c.Write([]byte("fits")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(l)
	if string(got) != "fits" || !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("server read %q, %v; want \"fits\" then ErrMessageTooBig", got, err)
	}
	callLog.wait(t, "read limit", "1009") // the call's logger, not the listener's
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrPeerRefusedMessage) {
		t.Errorf("client Read: %v, want ErrPeerRefusedMessage", err)
	}
	clientLog.wait(t, "status 1009")
}

func TestControlMessages(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	conn, l := rawPair(t, s) // a raw gorilla client, to send what our Line never would

	send := func(typ int, msg string) {
		t.Helper()
		if err := conn.WriteMessage(typ, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	send(websocket.TextMessage, `{"type":"bell"}`)
	send(websocket.TextMessage, `{"type":"resize","cols":0,"rows":24}`)
	send(websocket.TextMessage, `not json`)
	send(websocket.TextMessage, `{"type":"resize","cols":80,"rows":24,"pad":"`+strings.Repeat("x", 2*MaxControlSize)+`"}`)
	send(websocket.TextMessage, `{"type":"resize","cols":132,"rows":50,"future":true}`)
	send(websocket.TextMessage, `{"type":"term","name":"xterm-256color"}`)
	send(websocket.TextMessage, `{"type":"term","name":"../../tmp/x"}`)
	send(websocket.BinaryMessage, "data")

	got := make([]byte, 4)
	if _, err := io.ReadFull(l, got); err != nil || string(got) != "data" {
		t.Fatalf("Read %q, %v; want data", got, err)
	}
	want := transport.WindowSize{Cols: 132, Rows: 50}
	if w := l.Info().Window; w != want {
		t.Errorf("Info().Window = %+v, want %+v", w, want)
	}
	if tt := l.Info().TermType; tt != "xterm-256color" {
		t.Errorf("Info().TermType = %q, want the announced xterm-256color (the bad one ignored)", tt)
	}
	select {
	case w := <-l.WindowChanges():
		if w != want {
			t.Errorf("WindowChanges gave %+v, want %+v", w, want)
		}
	case <-time.After(5 * time.Second):
		t.Error("no window change")
	}
	s.log.wait(t, "unknown type", "bell")
	s.log.wait(t, "cols", "1..65535")
	s.log.wait(t, "not a JSON object")
	s.log.wait(t, "control message over")
	s.log.wait(t, "not a terminfo name")

	// Our own line sends resize messages the listener understands.
	s2 := startServer(t, Options{})
	c2, l2 := pair(t, s2, DialOptions{})
	if err := c2.SendWindowSize(transport.WindowSize{Cols: 100, Rows: 40}); err != nil {
		t.Fatal(err)
	}
	if w := <-l2.WindowChanges(); w != (transport.WindowSize{Cols: 100, Rows: 40}) {
		t.Errorf("window %+v", w)
	}
	c3, _ := pair(t, s2, DialOptions{Subprotocol: ProtoPlain})
	if err := c3.SendWindowSize(want); !errors.Is(err, ErrNotBinary) {
		t.Errorf("SendWindowSize on plain: %v, want ErrNotBinary", err)
	}
}

func TestBadTextPayload(t *testing.T) {
	for _, tc := range []struct{ proto, msg string }{
		{ProtoBase64, "not base64!"},
		{ProtoPlain, "\xff\xfe"},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			s := startServer(t, Options{})
			conn, l := rawPairProto(t, s, tc.proto)
			if err := conn.WriteMessage(websocket.TextMessage, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Read(make([]byte, 10)); !errors.Is(err, ErrBadPayload) {
				t.Errorf("Read: %v, want ErrBadPayload", err)
			}
			_, _, err := conn.ReadMessage()
			if !websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData) {
				t.Errorf("client got %v, want close 1007", err)
			}
			s.log.wait(t, "1007")
		})
	}
}

func TestIdleTimeoutAndKeepalive(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{PingInterval: -1, IdleTimeout: 300 * time.Millisecond})

	// A client that pings keeps the line up past the idle timeout.
	c, l := pair(t, s, DialOptions{PingInterval: 50 * time.Millisecond, IdleTimeout: time.Second})
	watchdog(t, 20*time.Second, func() { c.Close(); l.Close() })
	time.Sleep(time.Second)
	if _, err := c.Write([]byte("alive")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(l, got); err != nil {
		t.Fatalf("line with pings died: %v", err)
	}

	// A silent client is hung up on.
	c2, l2 := pair(t, s, DialOptions{PingInterval: -1})
	if _, err := l2.Read(got); !errors.Is(err, ErrIdleTimeout) {
		t.Errorf("Read: %v, want ErrIdleTimeout", err)
	}
	s.log.wait(t, "nothing received")
	if _, err := c2.Read(got); err != io.EOF {
		t.Errorf("client Read: %v, want io.EOF", err)
	}
}

// TestCloseBounded: a peer that stops reading cannot hold Close (or a
// Write blocked on it) beyond the close timeout.
func TestCloseBounded(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{CloseTimeout: 300 * time.Millisecond})
	ctx := testCtx(t, 10*time.Second)
	accepted := make(chan *Line, 1)
	go func() {
		l, _ := s.l.AcceptWS(ctx)
		accepted <- l
	}()
	conn, _, err := (&websocket.Dialer{}).DialContext(ctx, s.url, nil) // never reads
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	l := <-accepted
	if l == nil {
		t.FailNow()
	}
	watchdog(t, 20*time.Second, func() { conn.Close() })
	writeErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := l.Write(buf); err != nil {
				writeErr <- err
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // let the socket buffers fill
	if err := l.Close(); err == nil || !strings.HasPrefix(err.Error(), "ws: close: ") {
		t.Errorf("Close with a stuck peer: %v, want a ws: close: error", err)
	}
	if err := <-writeErr; err == nil {
		t.Error("blocked Write did not fail")
	}
}

// TestNotAccepted: a call nobody accepts is turned away with 1013.
func TestNotAccepted(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	s.l.acceptWait = 100 * time.Millisecond
	clientLog := newLogSink(t)
	c, err := Dial(testCtx(t, 10*time.Second), s.url, DialOptions{Logger: clientLog})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read: %v, want io.EOF", err)
	}
	clientLog.wait(t, "status 1013")
	s.log.wait(t, "not accepted")
}

// TestTextWriteKeepsNoBuffer: after a large Write on a text subprotocol the
// line keeps no encode buffer (it used to keep up to 64 KiB per line for
// good).
func TestTextWriteKeepsNoBuffer(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	for _, proto := range []string{ProtoPlain, ProtoBase64} {
		c, l := pair(t, s, DialOptions{Subprotocol: proto})
		done := make(chan error, 1)
		go func() {
			_, err := io.ReadFull(c, make([]byte, 64<<10))
			done <- err
		}()
		if _, err := l.Write(bytes.Repeat([]byte{0xE9}, 64<<10)); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := cap(l.wbuf); n > 1024 {
			t.Errorf("%s: line keeps a %d-byte encode buffer after Write", proto, n)
		}
	}
}

// TestReadDeadline: ws lines have read deadlines (transport.Deadliner),
// which V.42 detection's T400 needs: a waiting Read times out, data that
// arrives later is still read, and a cleared or future deadline lets Read
// wait again.
func TestReadDeadline(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	c, l := pair(t, s, DialOptions{Subprotocol: ProtoBinary})
	watchdog(t, 20*time.Second, func() { c.Close(); l.Close() })
	defer c.Close()
	defer l.Close()

	buf := make([]byte, 16)
	start := time.Now()
	l.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := l.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Error("Read returned before the deadline")
	}
	// Still expired: an immediate error, not a wait.
	if _, err := l.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second Read: %v", err)
	}
	// Data that arrives is read once the deadline is cleared.
	l.SetReadDeadline(time.Time{})
	if _, err := c.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if n, err := io.ReadFull(l, buf[:4]); err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read after clearing: %q, %v", buf[:n], err)
	}
	// A deadline in the past fails at once; buffered octets still come first.
	c.Write([]byte("x"))
	time.Sleep(20 * time.Millisecond)
	l.SetReadDeadline(time.Now().Add(-time.Second))
	if n, err := l.Read(buf); n != 1 || err != nil {
		t.Errorf("buffered octet with an expired deadline: %d, %v", n, err)
	}
	if _, err := l.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read with a past deadline: %v", err)
	}
	// A later deadline replaces an earlier one: the Read waits for data.
	l.SetReadDeadline(time.Now().Add(10 * time.Second))
	go func() { time.Sleep(30 * time.Millisecond); c.Write([]byte("y")) }()
	if n, err := l.Read(buf); n != 1 || err != nil {
		t.Errorf("Read with a future deadline: %d, %v", n, err)
	}
	if err := l.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		t.Errorf("SetWriteDeadline: %v", err)
	}
}

// TestControlMessageFloodLogsBounded: a peer that sends a stream of
// control messages the line ignores gets maxIgnoredLogged log lines and
// one saying the rest are not logged, not a line each; its data still
// flows.
func TestControlMessageFloodLogsBounded(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	conn, l := rawPair(t, s)
	for range 500 {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`not json`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte("data")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(l, got); err != nil || string(got) != "data" {
		t.Fatalf("Read %q, %v; want data", got, err)
	}
	s.log.wait(t, "not logged further")
	n := 0
	for _, line := range s.log.snapshot() {
		if strings.Contains(line, "ignored") {
			n++
		}
	}
	if n != maxIgnoredLogged+1 {
		t.Errorf("%d log lines for 500 ignored control messages, want %d", n, maxIgnoredLogged+1)
	}
}

// TestSetLingerBoundsClose: a line whose peer never answers the close
// frame is closed within SetLinger's bound, not CloseTimeout, and says
// which bound it waited.
func TestSetLingerBoundsClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	_, l := rawPair(t, s) // the raw client never reads: no close frame comes back
	l.SetLinger(100 * time.Millisecond)
	err := l.Close()
	if err == nil || !strings.Contains(err.Error(), "within 100ms") {
		t.Errorf("Close with SetLinger(100ms) and a silent peer: %v", err)
	}
}

// TestSetWriteDeadlineDuringWrite: a hang-up sets the write deadline
// while a Write is stalled on a caller that does not read. The stalled
// Write ends with a timeout, and the race detector sees no write of
// gorilla's deadline under a message being written (the bridge's last
// words did that before).
func TestSetWriteDeadlineDuringWrite(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, Options{})
	conn, l := rawPair(t, s) // conn never reads
	defer conn.Close()
	done := make(chan error, 1)
	go func() {
		big := make([]byte, 1<<20)
		for {
			if _, err := l.Write(big); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		t.Fatalf("Write to a peer that does not read ended early: %v", err)
	case <-time.After(200 * time.Millisecond): // the socket buffers are full
	}
	for range 20 { // again and again, as racing hang-ups would
		if err := l.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		// gorilla hides the os.ErrDeadlineExceeded in a net.Error of
		// its own that says it is a timeout.
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("stalled Write ended with %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stalled Write did not end at its deadline")
	}
}

// TestDialSendsWholeMessages: a dialed line sends each message as one
// frame (masked, as a client must), not as frames of gorilla/websocket's
// default 4 KiB write buffer, each its own write. The peer here is a bare
// RFC 6455 server that counts the frames.
func TestDialSendsWholeMessages(t *testing.T) {
	testutil.CheckGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := bytes.Repeat([]byte("0123456789"), 15000) // 150,000 octets
	type result struct {
		frames []int
		got    []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() { done <- res }()
		c, err := ln.Accept()
		if err != nil {
			res.err = err
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			res.err = err
			return
		}
		h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(h[:]))
		for len(res.got) < len(payload) {
			var hdr [2]byte
			if _, res.err = io.ReadFull(br, hdr[:]); res.err != nil {
				return
			}
			n := uint64(hdr[1] & 0x7F)
			switch n {
			case 126:
				var ext [2]byte
				_, res.err = io.ReadFull(br, ext[:])
				n = uint64(binary.BigEndian.Uint16(ext[:]))
			case 127:
				var ext [8]byte
				_, res.err = io.ReadFull(br, ext[:])
				n = binary.BigEndian.Uint64(ext[:])
			}
			var key [4]byte
			if res.err == nil {
				_, res.err = io.ReadFull(br, key[:])
			}
			if res.err != nil || hdr[1]&0x80 == 0 || n > 1<<20 {
				res.err = fmt.Errorf("frame %x length %d: %v", hdr, n, res.err)
				return
			}
			p := make([]byte, n)
			if _, res.err = io.ReadFull(br, p); res.err != nil {
				return
			}
			if op := hdr[0] & 0x0F; op == websocket.BinaryMessage || op == 0 {
				for i := range p {
					p[i] ^= key[i%4]
				}
				res.frames = append(res.frames, len(p))
				res.got = append(res.got, p...)
			}
		}
	}()
	ctx := testCtx(t, 10*time.Second)
	l, err := Dial(ctx, "ws://"+ln.Addr().String()+"/line", DialOptions{CloseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Write(payload); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := []int{64 << 10, 64 << 10, len(payload) - 128<<10}
	if !bytes.Equal(res.got, payload) || fmt.Sprint(res.frames) != fmt.Sprint(want) {
		t.Errorf("frames of %v octets, want %v (intact %v)", res.frames, want, bytes.Equal(res.got, payload))
	}
}

// TestReadBudget: with a read budget a WebSocket line returns the peer's
// octets up to it, then ErrReadBudget; lifted, it reads on.
func TestReadBudget(t *testing.T) {
	s := startServer(t, Options{})
	cli, srv := pair(t, s, DialOptions{})
	srv.SetReadBudget(100)
	if _, err := cli.Write(bytes.Repeat([]byte("a"), 150)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 200)
	var total int
	var err error
	for err == nil {
		var n int
		n, err = srv.Read(got)
		total += n
	}
	if !errors.Is(err, transport.ErrReadBudget) || total > 100 {
		t.Fatalf("150 octets against a budget of 100: read %d, %v; want ErrReadBudget", total, err)
	}
	// Close does not wait for the close frame of a peer that goes on
	// flooding.
	srv.SetLinger(10 * time.Minute)
	testutil.CloseWhileFlooded(t, cli, srv)

	cli, srv = pair(t, s, DialOptions{})
	srv.SetReadBudget(10)
	srv.SetReadBudget(-1)
	go cli.Write(bytes.Repeat([]byte("c"), 1000))
	if _, err := io.ReadFull(srv, make([]byte, 1000)); err != nil {
		t.Fatalf("lifted budget: %v", err)
	}
}
