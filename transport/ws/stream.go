package ws

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// textChunk is how much of a text message ("plain" or "base64") the reader
// decodes at a time: a line never holds a whole message, so a peer sending
// messages up to the read limit while nobody Reads pins only the receive
// ring and these small buffers.
const textChunk = 4 << 10

// textDecoder decodes one text message of the "plain" or "base64"
// subprotocol piece by piece. Fed a message in any split, it produces the
// octets appendPlainDecoded or appendBase64Decoded produce for the whole
// message, and fails (with an error wrapping ErrBadPayload) exactly when
// they fail; octets of pieces before the failing one have been returned
// already. The zero value decodes "plain"; set base64 for "base64".
type textDecoder struct {
	base64 bool
	carry  [4]byte // an incomplete UTF-8 sequence or base64 group
	nc     int
	padded bool   // base64: a group with '=' ended the data
	tmp    []byte // base64: a piece without line breaks
}

// reset prepares d for a new message.
func (d *textDecoder) reset(base64 bool) {
	d.base64, d.nc, d.padded = base64, 0, false
}

// feed appends the octets that p, the next piece of the message, completes.
func (d *textDecoder) feed(dst, p []byte) ([]byte, error) {
	if d.base64 {
		return d.feedBase64(dst, p)
	}
	return d.feedPlain(dst, p)
}

// end finishes the message: an incomplete UTF-8 sequence or base64 group
// left over is an error.
func (d *textDecoder) end(dst []byte) ([]byte, error) {
	if d.nc == 0 {
		return dst, nil
	}
	n := d.nc
	d.nc = 0
	if d.base64 {
		return dst, fmt.Errorf("%w: base64 text message: %d characters left over after the last group of 4", ErrBadPayload, n)
	}
	return appendPlainDecoded(dst, d.carry[:n]) // invalid: fails
}

func (d *textDecoder) feedPlain(dst, p []byte) ([]byte, error) {
	// Complete a sequence split by the previous piece.
	for d.nc > 0 && len(p) > 0 {
		d.carry[d.nc] = p[0]
		d.nc++
		p = p[1:]
		if utf8.FullRune(d.carry[:d.nc]) {
			var err error
			if dst, err = appendPlainDecoded(dst, d.carry[:d.nc]); err != nil {
				return dst, err
			}
			d.nc = 0
		}
	}
	if len(p) == 0 {
		return dst, nil
	}
	// Keep back a sequence the piece cuts short.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	dst, err := appendPlainDecoded(dst, p[:cut])
	if err != nil {
		return dst, err
	}
	d.nc = copy(d.carry[:], p[cut:])
	return dst, nil
}

func (d *textDecoder) feedBase64(dst, p []byte) ([]byte, error) {
	// The decoder of encoding/base64 ignores line breaks; so do we.
	if bytes.ContainsAny(p, "\r\n") {
		d.tmp = d.tmp[:0]
		for _, c := range p {
			if c != '\r' && c != '\n' {
				d.tmp = append(d.tmp, c)
			}
		}
		p = d.tmp
	}
	if len(p) == 0 {
		return dst, nil
	}
	if d.padded {
		return dst, fmt.Errorf("%w: base64 text message: data after the padding", ErrBadPayload)
	}
	var err error
	for d.nc > 0 && d.nc < 4 && len(p) > 0 {
		d.carry[d.nc] = p[0]
		d.nc++
		p = p[1:]
	}
	if d.nc == 4 {
		d.nc = 0
		if dst, err = d.group(dst, d.carry[:]); err != nil {
			return dst, err
		}
		if len(p) > 0 && d.padded {
			return dst, fmt.Errorf("%w: base64 text message: data after the padding", ErrBadPayload)
		}
	}
	whole := len(p) &^ 3
	if whole > 0 {
		if dst, err = d.group(dst, p[:whole]); err != nil {
			return dst, err
		}
	}
	if rest := p[whole:]; len(rest) > 0 {
		if d.padded {
			return dst, fmt.Errorf("%w: base64 text message: data after the padding", ErrBadPayload)
		}
		d.nc = copy(d.carry[:], rest)
	}
	return dst, nil
}

// group decodes whole groups of 4 base64 characters.
func (d *textDecoder) group(dst, p []byte) ([]byte, error) {
	out, err := appendBase64Decoded(dst, p)
	if err != nil {
		return dst, err
	}
	d.padded = p[len(p)-1] == '='
	return out, nil
}
