package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The backend protocol. A client (directly, through a relay or through the
// gateway) sends one command line ending in '\n'; the backend answers
// "BEGIN\n" (so that a client behind the gateway can skip banners) and
// then:
//
//	SRC n       n octets of the pattern, then waits for the client to hang up
//	SRCCLOSE n  n octets of the pattern, then closes at once (close-loss test)
//	SRCGO n     waits for one octet from the client, then behaves as SRC n
//	            (lets many streams start together)
//	ECHO        echoes every octet until the client hangs up
//	IDLE        reads and discards until the client hangs up
//	SINK id     reads the pattern until the client hangs up and records,
//	            under id, how many octets arrived intact
//	COUNT id    answers "<n>\n" (octets recorded under id) or "-1\n"
//	            (nothing recorded yet); no BEGIN marker
const beginMarker = "BEGIN\n"

// maxSource bounds SRC so that a stray command cannot run for ever.
const maxSource = 1 << 32

type command struct {
	op string
	n  int64
	id string
}

// validID reports whether s is a SINK/COUNT id: 1..32 letters, digits
// or '-'.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// sinks holds what SINK sessions received, by id (bounded: a run uses a
// handful).
var sinks = struct {
	sync.Mutex
	m map[string]int64
}{m: map[string]int64{}}

const maxSinks = 1024

// parseCommand parses one command line (without the '\n').
func parseCommand(line string) (command, error) {
	line = strings.TrimRight(line, "\r")
	op, arg, hasArg := strings.Cut(line, " ")
	switch op {
	case "ECHO", "IDLE":
		if hasArg {
			return command{}, fmt.Errorf("benchpeer: %s takes no argument", op)
		}
		return command{op: op}, nil
	case "SINK", "COUNT":
		if !validID(arg) {
			return command{}, fmt.Errorf("benchpeer: %s: bad id %q", op, arg)
		}
		return command{op: op, id: arg}, nil
	case "SRC", "SRCCLOSE", "SRCGO":
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || n < 0 || n > maxSource {
			return command{}, fmt.Errorf("benchpeer: %s: bad length %q", op, arg)
		}
		return command{op: op, n: n}, nil
	}
	return command{}, fmt.Errorf("benchpeer: unknown command %q", op)
}

// The payload is printable ASCII (no IAC, no CR, nothing a telnet or
// terminal layer could rewrite) with period 95, so that any misplaced,
// lost or duplicated octet shows. patternBuf holds one chunk of it at
// every phase: the octets at stream offset off, n <= chunk of them, are
// patternBuf[off%95:][:n].
const (
	patternPeriod = 95
	chunk         = 64 << 10
)

var patternBuf = func() []byte {
	b := make([]byte, chunk+patternPeriod)
	for i := range b {
		b[i] = byte(' ' + i%patternPeriod)
	}
	return b
}()

// patternAt returns the n <= chunk pattern octets at stream offset off.
func patternAt(off int64, n int) []byte {
	return patternBuf[off%patternPeriod:][:n]
}

func runBackend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	_ = os.Stdout.Sync()
	return serveListener(ln)
}

// serveListener serves the backend protocol on every connection ln
// accepts, until ln is closed.
func serveListener(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE and friends: back off rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serveBackend(c)
	}
}

func serveBackend(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 256)
	// The command must arrive soon; the rest of the session is unbounded
	// (idle sessions are the point of IDLE).
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	// Blank lines before the command (a login's line end) are skipped.
	var line string
	for line == "" {
		l, err := br.ReadString('\n')
		if err != nil || len(l) > 64 {
			return
		}
		line = strings.TrimRight(l, "\r\n")
	}
	cmd, err := parseCommand(line)
	if err != nil {
		fmt.Fprintf(c, "ERR %v\n", err)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if cmd.op == "COUNT" {
		sinks.Lock()
		n, ok := sinks.m[cmd.id]
		sinks.Unlock()
		if !ok {
			n = -1
		}
		fmt.Fprintf(c, "%d\n", n)
		return
	}
	if _, err := io.WriteString(c, beginMarker); err != nil {
		return
	}
	switch cmd.op {
	case "ECHO":
		_, _ = io.Copy(c, br)
	case "IDLE":
		_, _ = io.Copy(io.Discard, br)
	case "SINK":
		n, _ := receive(br, maxSource)
		sinks.Lock()
		if len(sinks.m) < maxSinks {
			sinks.m[cmd.id] = n
		}
		sinks.Unlock()
	case "SRC", "SRCCLOSE", "SRCGO":
		if cmd.op == "SRCGO" {
			if _, err := br.ReadByte(); err != nil {
				return
			}
		}
		for off := int64(0); off < cmd.n; {
			n := int(min(chunk, cmd.n-off))
			if _, err := c.Write(patternAt(off, n)); err != nil {
				return
			}
			off += int64(n)
		}
		if cmd.op != "SRCCLOSE" {
			_, _ = io.Copy(io.Discard, br)
		}
	}
}
