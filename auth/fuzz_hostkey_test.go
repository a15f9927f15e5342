package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/curve25519"
)

// refParseHostKey is the host key file format as LoadHostKey's doc
// comment gives it, read line by line without bufio: lines are split at
// LF (a CR before it is white space), trimmed; empty lines and lines
// starting with '#' are skipped; exactly one other line holds the
// standard, padded base64 of 32 octets. It returns the private key or
// the error message parseHostKey gives.
func refParseHostKey(data []byte) ([]byte, string) {
	var priv []byte
	for i, l := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(l)
		if line == "" || line[0] == '#' {
			continue
		}
		if priv != nil {
			return nil, fmt.Sprintf("line %d: more than one key: %v", i+1, ErrBadHostKey)
		}
		k, err := base64.StdEncoding.Strict().DecodeString(line)
		if err != nil || len(k) != 32 {
			return nil, fmt.Sprintf("line %d: want the base64 of 32 octets: %v", i+1, ErrBadHostKey)
		}
		priv = k
	}
	if priv == nil {
		return nil, "no key: " + ErrBadHostKey.Error()
	}
	return priv, ""
}

// FuzzParseHostKey feeds arbitrary host key files to parseHostKey.
// Properties: no panic; a refusal wraps ErrBadHostKey; it agrees with
// refParseHostKey, the same key or the same error message (line number
// included); a key has the 32 private octets of its line and the X25519
// public key of them, does not share memory with the file's octets
// (LoadHostKey clears them), and comes back unchanged through
// marshalHostKey.
//
// Inputs longer than 512 octets are skipped (the minimizer's work grows
// with the square of an input's length, and a few long ones took the
// whole run); the agreement is checked once on files of about 4096
// octets, as long as LoadHostKey reads, with long lines. Beyond that,
// parseHostKey ignores the bufio.Scanner's error, so a line of 64 KiB or
// more would end the file silently (a second key or garbage after it is
// not refused); the reference does not model that, and no file
// LoadHostKey loads has such a line.
func FuzzParseHostKey(f *testing.F) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	k0, err := hostKeyFromPrivate(key)
	if err != nil {
		f.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(key)
	for _, s := range []string{
		string(marshalHostKey(k0)), b64, b64 + "\n", "\r\n# c\r\n  " + b64 + " \r\n", b64 + "\n" + b64 + "\n",
		"", "\n\n", "# only a comment\n", strings.TrimRight(b64, "="), b64[:40] + "\r\n" + b64[40:], b64[:40] + "\n" + b64[40:],
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", "not base64\n", "#" + b64 + "\n" + b64, "\x00" + b64, "\v" + b64 + "\u00a0",
	} {
		f.Add([]byte(s))
	}
	// Lines longer than the fuzzed inputs, in a file as long as
	// LoadHostKey reads: the scanner's buffer grows past its first 4096.
	for _, s := range []string{b64 + "\n#" + strings.Repeat("x", 4000) + "\n", strings.Repeat(" ", 4000) + b64 + "\n# c",
		b64 + "\n#" + strings.Repeat("x", 4000) + "\n" + b64, strings.Repeat("#", 4095) + "\n"} {
		k, err := parseHostKey([]byte(s))
		want, werr := refParseHostKey([]byte(s))
		if err != nil && err.Error() != werr || err == nil && (werr != "" || !bytes.Equal(k.Private, want)) {
			f.Fatalf("parseHostKey(%d octets) = %x, %v; the reference: %x, %s", len(s), k.Private, err, want, werr)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 512 {
			return // see above
		}
		orig := bytes.Clone(data)
		k, err := parseHostKey(data)
		if !bytes.Equal(data, orig) {
			t.Fatalf("parseHostKey changed its input")
		}
		if err != nil && !errors.Is(err, ErrBadHostKey) {
			t.Fatalf("parseHostKey(%q) = %v", data, err)
		}
		want, werr := refParseHostKey(data)
		if err != nil && err.Error() != werr || err == nil && (werr != "" || !bytes.Equal(k.Private, want)) {
			t.Fatalf("parseHostKey(%q) = %x, %v; the reference: %x, %s", data, k.Private, err, want, werr)
		}
		if err != nil {
			return
		}
		pub, err := curve25519.X25519(k.Private, curve25519.Basepoint)
		if len(k.Private) != 32 || err != nil || !bytes.Equal(k.Public, pub) || k.ecdhKey() == nil {
			t.Fatalf("parseHostKey(%q): private %x, public %x, want %x (%v)", data, k.Private, k.Public, pub, err)
		}
		priv := bytes.Clone(k.Private)
		clear(data)
		if !bytes.Equal(k.Private, priv) {
			t.Fatalf("the key shares memory with the file")
		}
		k2, err := parseHostKey(marshalHostKey(k))
		if err != nil || !bytes.Equal(k2.Private, k.Private) || !bytes.Equal(k2.Public, k.Public) {
			t.Fatalf("marshalHostKey round trip: %x, %v", k2.Private, err)
		}
	})
}
