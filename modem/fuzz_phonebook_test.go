package modem

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzParsePhonebook feeds arbitrary octets to the phonebook's decoder
// (what LoadPhonebook does once the file's mode has passed). Properties:
// no panic; a refusal wraps ErrPhonebook and shows no password the file
// holds (errors name keys and positions, never values); an accepted
// phonebook has entries with a name, a known mode, an address that
// normalizeAddress accepts unchanged and a user when the mode is v42, and
// every entry is the one its own name dials (no entry is hidden behind
// another's name).
func FuzzParsePhonebook(f *testing.F) {
	f.Add([]byte(bookTOML))
	for _, s := range []string{
		"",
		"[[entry]]\nname = \"x\"\naddress = \"h:1\"\npassword = \"topsecret\"\n",
		"[[entry]]\nname = \"x\"\naddress = \"h:1\"\n[[entry]]\nname = \"X\"\naddress = \"h:2\"\n",
		"[[entry]]\nname = \"x\"\naddress = \"telnet://u:topsecret@h:1\"\n",
		"[[entry]]\nname = \"x\"\naddress = \"[::1]:23\"\nmode = \"v42\"\nuser = \"u\"\npassword = 'p'\n",
		"entry = [{name = \"a b\", address = \"ws://h:80/line\", number = \"(0)1#\"}, {name = \"ab\", address = \"h\"}]\n",
		"[[entry]]\nname = \"x\"\naddress = \"h:1\"\npassword = 12345\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := parsePhonebook("book", bytes.NewReader(data))
		if err != nil {
			if pb != nil || !errors.Is(err, ErrPhonebook) {
				t.Fatalf("refused with %v and %v", pb, err)
			}
			for _, pw := range phonebookPasswords(data) {
				if len(pw) >= 6 && strings.Contains(err.Error(), pw) && !strings.Contains(string(data), "name = \""+pw) {
					t.Fatalf("error %q shows the password %q", err, pw)
				}
			}
			return
		}
		for i := range pb.Entries {
			e := &pb.Entries[i]
			switch {
			case e.Name == "":
				t.Fatalf("entry %d has no name", i+1)
			case e.Mode != ModeAuto && e.Mode != ModePlain && e.Mode != ModeV42:
				t.Fatalf("entry %q: mode %q", e.Name, e.Mode)
			case e.Mode == ModeV42 && e.User == "":
				t.Fatalf("entry %q: v42 without a user", e.Name)
			}
			if a, err := normalizeAddress(e.Address); err != nil || a != e.Address {
				t.Fatalf("entry %q: address %q normalizes to %q, %v", e.Name, e.Address, a, err)
			}
			if got := pb.lookup(e.Name); got != e {
				t.Fatalf("entry %q is hidden: its name dials entry %q", e.Name, got.Name)
			}
		}
	})
}

// phonebookPasswords returns the password values of the entries in data,
// as far as it decodes as TOML at all.
func phonebookPasswords(data []byte) []string {
	var raw struct {
		Entry []map[string]any `toml:"entry"`
	}
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil
	}
	var pws []string
	for _, e := range raw.Entry {
		if s, ok := e["password"].(string); ok {
			pws = append(pws, s)
		}
	}
	return pws
}
