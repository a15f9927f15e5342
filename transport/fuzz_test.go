package transport

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary line addresses to Parse (what `gateway dial`,
// `--answer` and a user's callback address give it). Properties: no
// panic; an accepted address has a registered scheme, a port and no user
// info; a refusal wraps ErrBadAddress or ErrUnknownScheme and starts with
// the package's name; and no piece of an address the error quotes shows
// three octets in a row of a password the address carries (user:password@
// before the host, as Parse's redaction and net/url find it), unless the
// address with its password redacted shows them too.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"testline://127.0.0.1:2323", "testline://[::1]:2323/path", "testline://:99", "127.0.0.1:2323",
		"nosuch://user:s3cret@127.0.0.1:1", "testline://user:s3cret@127.0.0.1:x", "user:s3cret@h:1",
		"testline://user:s3/cret@127.0.0.1:2323", "testline://user:s3cret@127.0.0.1:1/%zz",
		"testline://alice:se%zzcret@h:23", "testline://alice:pass[word@h:23", "testline://a:b:c@h:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, address string) {
		u, err := Parse(address)
		if err == nil {
			if _, ok := schemes[u.Scheme]; !ok || u.Port() == "" || u.User != nil {
				t.Fatalf("Parse(%q) = %v", address, u)
			}
			return
		}
		if u != nil || !errors.Is(err, ErrBadAddress) && !errors.Is(err, ErrUnknownScheme) || !strings.HasPrefix(err.Error(), "transport: ") {
			t.Fatalf("Parse(%q) = %v, %v", address, u, err)
		}
		redacted := []string{redactBare(address)}
		passwords := []string{barePassword(address)}
		if pu, perr := url.Parse(address); perr == nil && pu.User != nil {
			pw, _ := pu.User.Password()
			passwords = append(passwords, pw)
			redacted = append(redacted, pu.Redacted())
		}
		for _, q := range quotedIn(err.Error()) {
			for _, pw := range passwords {
				for i := 0; i+3 <= len(pw); i++ {
					s := pw[i : i+3]
					if strings.Contains(q, s) && !strings.Contains(redacted[0], s) && !strings.Contains(redacted[len(redacted)-1], s) {
						t.Fatalf("Parse(%q): error %q shows %q of the password %q", address, err, s, pw)
					}
				}
			}
		}
	})
}

// quotedIn returns the Go-quoted strings in s, unquoted.
func quotedIn(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '"' {
			continue
		}
		q, err := strconv.QuotedPrefix(s[i:])
		if err != nil {
			continue
		}
		if uq, err := strconv.Unquote(q); err == nil {
			out = append(out, uq)
		}
		i += len(q) - 1
	}
	return out
}
