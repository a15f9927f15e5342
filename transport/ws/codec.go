package ws

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/dialgate/dialgate/internal/termname"
	"github.com/dialgate/dialgate/transport"
)

// Subprotocol names (the Sec-WebSocket-Protocol tokens, RFC 6455 §11.3.4).
const (
	ProtoBinary = "binary" // binary messages carry octets
	ProtoPlain  = "plain"  // text messages, one code point U+0000..U+00FF per octet
	ProtoBase64 = "base64" // text messages, RFC 4648 base64 of the octets
)

// supported lists the subprotocols this package implements, in the order a
// dialer without preference would use.
var supported = []string{ProtoBinary, ProtoPlain, ProtoBase64}

func isSupported(p string) bool {
	for _, s := range supported {
		if s == p {
			return true
		}
	}
	return false
}

// MaxControlSize is the largest control message (JSON text message with the
// "binary" subprotocol) that is decoded; larger ones are ignored.
const MaxControlSize = 1024

// maxWindowDim is the largest window dimension accepted: telnet NAWS
// (RFC 1073) carries 16-bit sizes.
const maxWindowDim = 65535

// Errors wrapped by the decoders, Read and Write.
var (
	// ErrBadControl is wrapped by ParseControl for malformed control messages.
	ErrBadControl = errors.New("ws: malformed control message")
	// ErrUnknownControl is wrapped by ParseControl for a well-formed control
	// message of a type this package does not know.
	ErrUnknownControl = errors.New("ws: unknown control message type")
	// ErrBadPayload is wrapped by the text decoders (and so by Read) when a
	// text message is not valid for the negotiated subprotocol.
	ErrBadPayload = errors.New("ws: invalid message payload")
)

// Control message types (see the package comment).
const (
	ControlResize = "resize" // the terminal size: Control.Window
	ControlBreak  = "break"  // a break signal (transport.EventBreak)
	ControlPing   = "ping"   // asks the peer for a "pong"
	ControlPong   = "pong"   // answers a "ping"
	ControlTerm   = "term"   // the terminal type: Control.Term
	// ControlNotice is words for the user from the gateway (the
	// browser page shows them in its status line): Control.Text.
	ControlNotice = "notice"
)

// MaxNoticeLen bounds a notice's text: printable ASCII, one short line.
const MaxNoticeLen = 200

// Control messages without members, as this package sends them.
const (
	msgBreak = `{"type":"break"}`
	msgPong  = `{"type":"pong"}`
)

// Control is a decoded control message.
type Control struct {
	Type   string               // one of the Control* types
	Window transport.WindowSize // for ControlResize
	Term   string               // for ControlTerm: a terminfo name, "" for none (termname.Clean)
	Text   string               // for ControlNotice: printable ASCII, at most MaxNoticeLen octets
}

// ParseControl decodes a JSON control message (see the package comment). It
// returns an error wrapping ErrUnknownControl for a valid message of an
// unknown type, and one wrapping ErrBadControl for anything else it rejects.
func ParseControl(b []byte) (Control, error) {
	if len(b) > MaxControlSize {
		return Control{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBadControl, len(b), MaxControlSize)
	}
	if !utf8.Valid(b) {
		return Control{}, fmt.Errorf("%w: not UTF-8", ErrBadControl)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return Control{}, fmt.Errorf("%w: not a JSON object", ErrBadControl)
	}
	raw, ok := m["type"]
	if !ok {
		return Control{}, fmt.Errorf("%w: no \"type\" member", ErrBadControl)
	}
	var typ string
	if err := json.Unmarshal(raw, &typ); err != nil {
		return Control{}, fmt.Errorf("%w: \"type\" is not a string", ErrBadControl)
	}
	switch typ {
	case ControlBreak, ControlPing, ControlPong:
		// No members of their own; others are ignored, as for resize.
		return Control{Type: typ}, nil
	case ControlResize:
		cols, err := dimension(m, "cols")
		if err != nil {
			return Control{}, err
		}
		rows, err := dimension(m, "rows")
		if err != nil {
			return Control{}, err
		}
		return Control{Type: typ, Window: transport.WindowSize{Cols: cols, Rows: rows}}, nil
	case ControlTerm:
		var name string
		if raw, ok := m["name"]; !ok || json.Unmarshal(raw, &name) != nil {
			return Control{}, fmt.Errorf("%w: term without a string \"name\"", ErrBadControl)
		}
		t := termname.Clean([]byte(name))
		if t == "" && !termname.AnnouncesNone([]byte(name)) {
			return Control{}, fmt.Errorf("%w: term %.50q is not a terminfo name", ErrBadControl, name)
		}
		return Control{Type: typ, Term: t}, nil
	case ControlNotice:
		var text string
		if raw, ok := m["text"]; !ok || json.Unmarshal(raw, &text) != nil {
			return Control{}, fmt.Errorf("%w: notice without a string \"text\"", ErrBadControl)
		}
		if !printableNotice(text) {
			return Control{}, fmt.Errorf("%w: notice %.50q is not a line of printable ASCII of at most %d octets", ErrBadControl, text, MaxNoticeLen)
		}
		return Control{Type: typ, Text: text}, nil
	}
	return Control{Type: typ}, fmt.Errorf("%w %q", ErrUnknownControl, typ)
}

// dimension reads member name of m as an integer in 1..maxWindowDim.
func dimension(m map[string]json.RawMessage, name string) (int, error) {
	raw, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("%w: resize without %q", ErrBadControl, name)
	}
	// Integers only: reject 80.5, 8e1, "80", true.
	s := string(bytes.TrimSpace(raw))
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > maxWindowDim {
		return 0, fmt.Errorf("%w: resize %q is %.20q, want an integer in 1..%d", ErrBadControl, name, s, maxWindowDim)
	}
	return v, nil
}

// printableNotice reports whether text can be a notice: 1 to
// MaxNoticeLen octets of printable ASCII.
func printableNotice(text string) bool {
	if text == "" || len(text) > MaxNoticeLen {
		return false
	}
	for i := 0; i < len(text); i++ {
		if text[i] < 0x20 || text[i] > 0x7e {
			return false
		}
	}
	return true
}

// AppendNotice appends a notice control message with text, which must
// be printable ASCII of at most MaxNoticeLen octets.
func AppendNotice(b []byte, text string) []byte {
	b = append(b, `{"type":"notice","text":`...)
	q, _ := json.Marshal(text) // printable ASCII: a plain JSON string
	b = append(b, q...)
	return append(b, '}')
}

// AppendResize appends the control message announcing window size w.
func AppendResize(b []byte, w transport.WindowSize) []byte {
	b = append(b, `{"type":"resize","cols":`...)
	b = strconv.AppendInt(b, int64(w.Cols), 10)
	b = append(b, `,"rows":`...)
	b = strconv.AppendInt(b, int64(w.Rows), 10)
	return append(b, '}')
}

// AppendTerm appends the control message announcing terminal type name,
// which must be a terminfo name (termname.Clean).
func AppendTerm(b []byte, name string) []byte {
	b = append(b, `{"type":"term","name":`...)
	q, _ := json.Marshal(name) // a terminfo name: a plain JSON string
	b = append(b, q...)
	return append(b, '}')
}

// appendPlain appends the "plain" encoding of p: each octet as the UTF-8
// encoding of the code point with its value.
func appendPlain(b, p []byte) []byte {
	n := len(b)
	b = slices.Grow(b, 2*len(p))[:n+2*len(p)]
	for _, c := range p {
		// Branch-free (random octets would mispredict): write the two-byte
		// form's second byte always, advance by one or two.
		hi := c >> 7
		b[n] = c ^ hi*(c^(0xC0|c>>6))
		b[n+1] = 0x80 | c&0x3F
		n += 1 + int(hi)
	}
	return b[:n]
}

// appendPlainDecoded appends the octets a "plain" text message stands for.
// Code points above U+00FF become '?'; invalid UTF-8 is an error wrapping
// ErrBadPayload (nothing is appended then).
func appendPlainDecoded(b, msg []byte) ([]byte, error) {
	if !utf8.Valid(msg) {
		return b, fmt.Errorf("%w: plain text message is not UTF-8", ErrBadPayload)
	}
	n := len(b)
	b = slices.Grow(b, len(msg))[:n+len(msg)]
	for i := 0; i < len(msg); n++ {
		c := msg[i]
		if c > 0xC3 { // a code point above U+00FF (valid UTF-8 checked above)
			_, size := utf8.DecodeRune(msg[i:])
			b[n] = '?'
			i += size
			continue
		}
		// c is ASCII or 0xC2/0xC3 leading U+0080..U+00FF; branch-free
		// like appendPlain.
		var next byte
		if i+1 < len(msg) {
			next = msg[i+1]
		}
		hi := c >> 7
		b[n] = c ^ hi*(c^((c&0x1F)<<6|next&0x3F))
		i += 1 + int(hi)
	}
	return b[:n], nil
}

// appendBase64 appends the "base64" encoding of p.
func appendBase64(b, p []byte) []byte {
	return base64.StdEncoding.AppendEncode(b, p)
}

// appendBase64Decoded appends the octets a "base64" text message stands
// for; malformed base64 is an error wrapping ErrBadPayload.
func appendBase64Decoded(b, msg []byte) ([]byte, error) {
	out, err := base64.StdEncoding.AppendDecode(b, msg)
	if err != nil {
		return b, fmt.Errorf("%w: base64 text message: %v", ErrBadPayload, err)
	}
	return out, nil
}
