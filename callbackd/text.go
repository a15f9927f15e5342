package callbackd

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/dialgate/dialgate/transport"
)

// maxReply bounds the answer to the confirmation prompt (user IDs are at
// most auth.MaxUserIDLen octets; a little slack for typing).
const maxReply = 80

// Errors of the confirmation reply parser.
var (
	errReplyTooLong = errors.New("callbackd: confirmation reply too long")
	errReplyRefused = errors.New("callbackd: confirmation refused (interrupt or end-of-file key)")
)

// replyParser reads one typed line: printable ASCII, with backspace/DEL
// and ^U editing, ended by CR or LF; NUL is ignored (telnet CR NUL), and
// so are escape sequences (cursor keys: ESC [ ... final, ESC O x), as the
// login prompt's line editor ignores them. It is a pure state machine
// over untrusted octets; what the person typing should see goes to echo.
type replyParser struct {
	buf []byte
	cr  bool // the line ended with CR (a LF or NUL may follow)
	esc int  // 1: after ESC; 2: in a CSI sequence (ECMA-48 5.4); 3: after ESC O
	// echo is what to echo for the octets fed so far: the characters
	// kept, BS SP BS for each one erased, CR LF at the end of the line.
	// The caller writes it and empties it.
	echo []byte
}

// feed consumes octets from p until the line ends. done reports the end
// of the line; consumed counts the octets of p used (the ending CR or LF
// included); err is set for a reply that can only be refused.
func (r *replyParser) feed(p []byte) (done bool, consumed int, err error) {
	for i, c := range p {
		switch r.esc {
		case 1:
			switch c {
			case '[':
				r.esc = 2
			case 'O':
				r.esc = 3
			default:
				r.esc = 0
			}
			continue
		case 2:
			if c >= 0x40 && c <= 0x7e {
				r.esc = 0
			}
			continue
		case 3:
			r.esc = 0
			continue
		}
		switch {
		case c == '\r' || c == '\n':
			r.cr = c == '\r'
			r.echo = append(r.echo, '\r', '\n')
			return true, i + 1, nil
		case c == 0:
		case c == 0x1b:
			r.esc = 1
		case c == 0x08 || c == 0x7f:
			if len(r.buf) > 0 {
				r.buf = r.buf[:len(r.buf)-1]
				r.echo = append(r.echo, '\b', ' ', '\b')
			}
		case c == 0x15: // ^U: kill the line
			for range r.buf {
				r.echo = append(r.echo, '\b', ' ', '\b')
			}
			r.buf = r.buf[:0]
		case c == 0x03 || c == 0x04: // ^C, ^D
			return true, i + 1, errReplyRefused
		case c < ' ' || c >= 0x7f:
			// Other control and 8-bit octets cannot be part of a user
			// ID; ignore them like a terminal would.
		default:
			if len(r.buf) >= maxReply {
				return true, i + 1, errReplyTooLong
			}
			r.buf = append(r.buf, c)
			r.echo = append(r.echo, c)
		}
	}
	return false, len(p), nil
}

// TextConfirm proves a text-mode callback (DESIGN.md, "Text login"): it
// asks whoever answered the callback to type the user name the callback is
// for. A wrong name, an interrupt, or an over-long answer is the wrong
// party: told so, hung up, not retried. A line that drops before the
// answer is an ordinary failed attempt.
//
// The name is echoed as the login prompt echoes it (it is no secret), on
// every kind of line: on a callback the gateway is the caller, the telnet
// client, and RFC 857 echo is the answering server's to offer, which
// gateway modem and gateway dial --answer do not do; their user's
// terminal shows only what comes down the line.
type TextConfirm struct {
	// Name is the gateway's name in the prompt.
	Name string
}

// Place implements Placer.
func (t TextConfirm) Place(ctx context.Context, line transport.Line, job Job) (io.ReadWriteCloser, error) {
	name := t.Name
	if name == "" {
		name = "dialgate"
	}
	prompt := fmt.Sprintf("\r\n%s: callback for session %d.\r\nType your user name to accept: ", name, job.Session)
	if _, err := io.WriteString(line, prompt); err != nil {
		return nil, fmt.Errorf("callbackd: sending the confirmation prompt: %w", err)
	}
	var r replyParser
	buf := make([]byte, 256)
	var rest []byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("callbackd: waiting for confirmation: %w", context.Cause(ctx))
		}
		n, err := line.Read(buf)
		done, used, perr := r.feed(buf[:n])
		if len(r.echo) > 0 {
			if _, werr := line.Write(r.echo); werr != nil {
				return nil, fmt.Errorf("callbackd: line dropped before confirmation: %w", werr)
			}
			r.echo = r.echo[:0]
		}
		if perr != nil {
			_, _ = io.WriteString(line, "\r\nNot accepted.\r\nNO CARRIER\r\n")
			return nil, fmt.Errorf("%w: %w", ErrWrongParty, perr)
		}
		if done {
			rest = append(rest, buf[used:n]...)
			break
		}
		if err != nil {
			return nil, fmt.Errorf("callbackd: line dropped before confirmation: %w", err)
		}
	}
	if subtle.ConstantTimeCompare(r.buf, []byte(job.User)) != 1 {
		// The echo ended the typed line.
		_, _ = io.WriteString(line, "This callback is not for you.\r\nNO CARRIER\r\n")
		return nil, fmt.Errorf("%w: answered with another user name", ErrWrongParty)
	}
	if _, err := io.WriteString(line, "Callback accepted.\r\n"); err != nil {
		return nil, fmt.Errorf("callbackd: confirming: %w", err)
	}
	return &prefixConn{Line: line, rest: rest, skipLF: r.cr}, nil
}

// prefixConn returns octets read past the confirmation first, without the
// LF or NUL of a CR LF / CR NUL line end.
type prefixConn struct {
	transport.Line
	rest   []byte
	skipLF bool
}

func (c *prefixConn) Read(p []byte) (int, error) {
	for {
		if len(c.rest) == 0 {
			n, err := c.Line.Read(p)
			if c.skipLF && n > 0 {
				c.skipLF = false
				if p[0] == '\n' || p[0] == 0 {
					copy(p, p[1:n])
					n--
					if n == 0 && err == nil {
						continue
					}
				}
			}
			return n, err
		}
		if c.skipLF {
			c.skipLF = false
			if c.rest[0] == '\n' || c.rest[0] == 0 {
				c.rest = c.rest[1:]
				continue
			}
		}
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
}
