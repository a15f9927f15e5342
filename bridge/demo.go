package bridge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/dialgate/dialgate/transport"
)

// demoBackend is the built-in demo board: a tiny menu with an echo room,
// the time and session information. It runs no program and reads no file,
// so it is safe to expose in the no-configuration demo.
type demoBackend struct{}

func (demoBackend) Connect(ctx context.Context, s Session) (BackendConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ours, theirs := net.Pipe()
	d := &demoConn{Conn: theirs, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		defer ours.Close()
		runDemo(ours, s, time.Now)
	}()
	return d, nil
}

type demoConn struct {
	net.Conn
	done chan struct{}
	once sync.Once
}

func (d *demoConn) CloseWrite() error                 { return d.Close() }
func (d *demoConn) Resize(transport.WindowSize) error { return nil }

// Close ends the board and waits for its goroutine.
func (d *demoConn) Close() error {
	d.once.Do(func() {
		d.Conn.Close()
		<-d.done
	})
	return nil
}

// demoMaxLine bounds what the board buffers of one input line.
const demoMaxLine = 256

// demoBufSize is the size of the board's reader and writer buffers. Its
// longest message (an echoed line of demoMaxLine octets) fits the writer
// in one piece; a longer paste only takes more Reads. bufio's default of
// 4 KiB each made 7 KiB more of every idle session to the demo board
// (docs/BENCHMARKS.md, the idle rows).
const demoBufSize = 2 * demoMaxLine

// runDemo is the board's whole program, over a byte stream to the caller.
func runDemo(rw io.ReadWriter, s Session, now func() time.Time) {
	w := bufio.NewWriterSize(rw, demoBufSize)
	r := bufio.NewReaderSize(rw, demoBufSize)
	say := func(format string, a ...any) bool {
		fmt.Fprintf(w, format, a...)
		return w.Flush() == nil
	}
	if !say("\r\nWelcome to the dialgate demo board, %s (session %d).\r\n", s.User, s.Number) {
		return
	}
	for {
		if !say("\r\n[E]cho room  [T]ime  [I]nfo  [G]oodbye\r\nChoice: ") {
			return
		}
		line, ok := demoReadLine(r, w)
		if !ok {
			return
		}
		switch strings.ToUpper(strings.TrimSpace(line)) {
		case "E":
			if !say("Echo room: lines come back to you; a single '.' leaves.\r\n") {
				return
			}
			for {
				l, ok := demoReadLine(r, w)
				if !ok {
					return
				}
				if strings.TrimSpace(l) == "." {
					break
				}
				if !say("echo: %s\r\n", l) {
					return
				}
			}
		case "T":
			if !say("It is %s.\r\n", now().UTC().Format(time.RFC1123)) {
				return
			}
		case "I":
			term := s.Term
			if term == "" {
				term = "unknown"
			}
			if !say("User %s, session %d, line %s from %s, terminal %s %dx%d.\r\n",
				s.User, s.Number, s.Listener, s.Remote, term, s.Window.Cols, s.Window.Rows) {
				return
			}
		case "G", "Q":
			say("Goodbye, %s.\r\n", s.User)
			return
		case "":
		default:
			if !say("Unknown choice %q.\r\n", line) {
				return
			}
		}
	}
}

// demoReadLine reads one line, echoing what is typed (the caller's
// terminal does not echo once the gateway controls echo) and handling
// backspace. ok is false when the caller is gone.
func demoReadLine(r *bufio.Reader, w *bufio.Writer) (string, bool) {
	var b []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			return "", false
		}
		switch {
		case c == '\r' || c == '\n':
			if c == '\r' && r.Buffered() > 0 {
				if n, _ := r.Peek(1); len(n) == 1 && (n[0] == '\n' || n[0] == 0) {
					_, _ = r.ReadByte()
				}
			}
			w.WriteString("\r\n")
			return string(b), w.Flush() == nil
		case c == 0x08 || c == 0x7F:
			if len(b) > 0 {
				b = b[:len(b)-1]
				w.WriteString("\b \b")
			}
		case c == 0 || c == '\n':
		case c < 0x20:
		default:
			if len(b) < demoMaxLine {
				b = append(b, c)
				w.WriteByte(c)
			}
		}
		if r.Buffered() == 0 && w.Flush() != nil {
			return "", false
		}
	}
}
