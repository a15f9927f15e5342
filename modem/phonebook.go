package modem

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// Mode selects how a target is called.
type Mode string

// Dial modes.
const (
	ModeAuto  Mode = "auto"  // V.42 detection; fall back to plain telnet-modem if the host does not answer V.42
	ModePlain Mode = "plain" // plain telnet-modem (any telnet BBS), no V.42
	ModeV42   Mode = "v42"   // V.42 LAPM and Access Security required
)

// Target is a resolved dial string.
type Target struct {
	Dial     string // what the DTE dialed (as Action.Dial has it)
	Name     string // phonebook entry, "" if none
	Address  string // line URL: telnet://host:port, ws://host:port/path, ...
	User     string // Access Security user ID, "" for plain calls
	Password string // never logged or echoed; String redacts it
	Mode     Mode
	// SniffTelnet: Address is telnet:// because it was dialed (or put in
	// the phonebook) as host:port, with no scheme. Such a call decides as
	// tcpser does: telnet if the host's first octet is IAC, raw for the
	// whole call otherwise (a BBS behind tcpser's listening port never
	// negotiates). An explicit telnet:// is telnet from the start.
	SniffTelnet bool
}

// String describes the target without its password.
func (t Target) String() string {
	s := t.Address
	if t.User != "" {
		s = t.User + " at " + s
	}
	if t.Name != "" {
		s = t.Name + " (" + s + ")"
	}
	return s + " [" + string(t.Mode) + "]"
}

// GoString keeps %#v from printing the password.
func (t Target) GoString() string { return "modem.Target{" + t.String() + "}" }

// Entry is one phonebook entry.
type Entry struct {
	Name     string `toml:"name"`     // what ATD accepts, case-insensitive
	Number   string `toml:"number"`   // optional digits ATDT accepts ("555-1212")
	Address  string `toml:"address"`  // line URL or host:port (telnet)
	User     string `toml:"user"`     // Access Security user
	Password string `toml:"password"` // Access Security password
	Mode     Mode   `toml:"mode"`     // auto (default), plain, v42

	sniff bool // Address was host:port (Target.SniffTelnet)
}

// Phonebook maps dial strings to targets and holds the credentials.
type Phonebook struct {
	Entries []Entry `toml:"entry"`
}

// Errors from LoadPhonebook and Resolve.
var (
	ErrPhonebook     = errors.New("modem: bad phonebook")
	ErrInsecureFile  = errors.New("modem: phonebook readable by others (want mode 0600)")
	ErrUnknownNumber = errors.New("modem: no such number")
)

// LoadPhonebook reads a TOML phonebook. The file holds passwords: it must
// not be readable or writable by group or others. Error messages name keys
// and positions, never values.
func LoadPhonebook(path string) (*Phonebook, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("modem: phonebook: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("modem: phonebook: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is %v; run chmod 600 %s", ErrInsecureFile, path, st.Mode().Perm(), path)
	}
	return parsePhonebook(path, f)
}

// parsePhonebook decodes and checks a phonebook's TOML; path names it in
// errors.
func parsePhonebook(path string, r io.Reader) (*Phonebook, error) {
	var pb Phonebook
	md, err := toml.NewDecoder(r).Decode(&pb)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w %s: line %d: syntax error", ErrPhonebook, path, pe.Position.Line)
		}
		return nil, fmt.Errorf("%w %s: wrong type for a key", ErrPhonebook, path)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%w %s: unknown key %s", ErrPhonebook, path, und[0])
	}
	if err := pb.check(); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrPhonebook, path, err)
	}
	return &pb, nil
}

// PhonebookFile is a phonebook file that is read again when it changes
// (its modification time or size), so entries added or edited while the
// modem runs take effect at the next dial without a restart.
type PhonebookFile struct {
	path string

	mu    sync.Mutex
	pb    *Phonebook
	mod   time.Time // of the file pb was read from
	size  int64
	stale bool // the file changed and did not load; pb is the last good one
}

// OpenPhonebookFile reads the phonebook at path (see LoadPhonebook).
func OpenPhonebookFile(path string) (*PhonebookFile, error) {
	f := &PhonebookFile{path: path}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("modem: phonebook: %w", err)
	}
	if f.pb, err = LoadPhonebook(path); err != nil {
		return nil, err
	}
	f.mod, f.size = st.ModTime(), st.Size()
	return f, nil
}

// Current returns the phonebook, read again first if the file has changed
// since it was last read. If the changed file does not load (a syntax
// error, a mode others may read, the file gone), Current returns the
// entries read before and the error, on every call until the file loads.
func (f *PhonebookFile) Current() (*Phonebook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	if err != nil {
		return f.pb, fmt.Errorf("modem: phonebook: %w", err)
	}
	if !f.stale && st.ModTime().Equal(f.mod) && st.Size() == f.size {
		return f.pb, nil
	}
	pb, err := LoadPhonebook(f.path)
	if err != nil {
		f.stale = true
		return f.pb, err
	}
	// The stamp is the one seen before reading: a change during the read
	// is read at the next call.
	f.pb, f.mod, f.size, f.stale = pb, st.ModTime(), st.Size(), false
	return pb, nil
}

func (pb *Phonebook) check() error {
	for i := range pb.Entries {
		e := &pb.Entries[i]
		if e.Name == "" {
			return fmt.Errorf("entry %d: name missing", i+1)
		}
		// Names are told apart as lookup tells them (strings.EqualFold),
		// so that no entry hides behind another's name: "σ" and "ς" are
		// one name to it, though they are not to strings.ToLower.
		if slices.ContainsFunc(pb.Entries[:i], func(p Entry) bool { return strings.EqualFold(p.Name, e.Name) }) {
			return fmt.Errorf("entry %q: duplicate name", e.Name)
		}
		if e.Mode == "" {
			e.Mode = ModeAuto
		}
		switch e.Mode {
		case ModeAuto, ModePlain, ModeV42:
		default:
			return fmt.Errorf("entry %q: mode must be auto, plain or v42", e.Name)
		}
		addr, err := normalizeAddress(e.Address)
		if err != nil {
			return fmt.Errorf("entry %q: address: %v", e.Name, err)
		}
		e.Address, e.sniff = addr, !hasScheme(e.Address)
		if e.Mode == ModeV42 && e.User == "" {
			return fmt.Errorf("entry %q: mode v42 needs a user", e.Name)
		}
	}
	return nil
}

// normalizeAddress turns host:port or host into telnet://host:port and
// checks a line URL's shape.
func normalizeAddress(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty")
	}
	if i := strings.Index(s, "://"); i >= 0 {
		scheme := strings.ToLower(s[:i])
		rest := s[i+3:]
		hostport, _, _ := strings.Cut(rest, "/")
		if strings.Contains(hostport, "@") {
			return "", errors.New("credentials do not belong in a line URL")
		}
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			return "", errors.New("a line URL needs host:port")
		}
		if _, _, err := splitHostPort(hostport); err != nil {
			return "", err
		}
		return scheme + "://" + rest, nil
	}
	host, port, err := splitHostPort(s)
	if err != nil {
		return "", err
	}
	return "telnet://" + net.JoinHostPort(host, port), nil
}

// hasScheme reports whether an address is a line URL (scheme://...), not
// host:port.
func hasScheme(s string) bool { return strings.Contains(s, "://") }

// splitHostPort accepts host, [v6], host:port and [v6]:port; the default
// port is 23.
func splitHostPort(s string) (host, port string, err error) {
	if strings.ContainsAny(s, " \t\r\n/?#@") {
		return "", "", errors.New("malformed host:port")
	}
	host, port, err = net.SplitHostPort(s)
	if err != nil {
		// No port. Brackets only around the whole host, so that the
		// address made of it splits again ("[::1]x:5" is not a host).
		host, port = s, "23"
		if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
			host = s[1 : len(s)-1]
		} else if strings.Count(s, ":") > 1 {
			return "", "", errors.New("malformed host:port: an IPv6 address goes in brackets, [2001:db8::10]:2323")
		} else if strings.Contains(s, ":") {
			return "", "", errors.New("malformed host:port")
		}
		if strings.ContainsAny(host, "[]") {
			return "", "", errors.New("malformed host:port")
		}
	}
	if host == "" {
		return "", "", errors.New("missing host")
	}
	if !validPort(port) {
		return "", "", errors.New("bad port")
	}
	return host, port, nil
}

// Resolve maps what the DTE dialed to a target: a phonebook name or number;
// user@name; user@host:port (a telnet-modem address; credentials come from
// the phonebook entry with that user and address); host:port; or a line
// URL, with or without user@ before its host (scheme://user@host:port/...,
// the user as in user@host:port). A password (user:password@...) is
// refused in every form. A nil
// Phonebook resolves only addresses.
func (pb *Phonebook) Resolve(dial string) (Target, error) {
	t := Target{Dial: dial, Mode: ModeAuto}
	if e := pb.lookup(dial); e != nil {
		return e.target(dial), nil
	}
	if d, ok := digitsOnly(dial); ok && !dottedQuad(dial) {
		return t, fmt.Errorf("%w: %s is not in the phonebook", ErrUnknownNumber, d)
	}
	if storedNumber(dial) {
		// ATDS, ATDS1, ATDS=2: Hayes's numbers stored with AT&Z, which
		// were looked up as the host names "S" and "S1" (modem trial).
		return t, dialStringError("ATDS dials a number stored with AT&Z, which this modem does not keep: put it in the phonebook and dial its name or number")
	}
	user, rest, at := splitDialUser(dial)
	if at && user == "" {
		return t, dialStringError("empty user before @")
	}
	if strings.Contains(user, ":") {
		// user:password@host, as tcpser and Zimodem users type it, or
		// in a line URL: no user ID has a ':' (the modem trial found
		// the password logged and sent as part of the user).
		return t, dialStringError("a password does not belong in the dial string (dial user@host and type it when asked, or keep it in the phonebook)")
	}
	if e := pb.lookup(rest); e != nil {
		t = e.target(dial)
		if user != "" && !strings.EqualFold(user, e.User) {
			t.User, t.Password = user, ""
		}
		return t, nil
	}
	addr, err := normalizeAddress(rest)
	if err != nil {
		return t, fmt.Errorf("%w: %q: %v", ErrUnknownNumber, rest, err)
	}
	t.Address, t.User, t.SniffTelnet = addr, user, !hasScheme(rest)
	if pb != nil && user != "" {
		for i := range pb.Entries {
			e := &pb.Entries[i]
			if e.Address == addr && strings.EqualFold(e.User, user) {
				t.Password, t.Mode, t.Name = e.Password, e.Mode, e.Name
				break
			}
		}
	}
	return t, nil
}

// ResolveDial resolves dial as Resolve does, unless dial names no
// phonebook entry and whole, the dial string before its leading T or P
// (tone, pulse) was dropped, names one: C-Kermit's usrobotics and other
// modem types dial ATD<name>, and ATDplainbbs, ATDthebbs are the entries
// "plainbbs" and "thebbs" (modem trial: "lainbbs" was looked up as a
// host name, NO DIALTONE). An entry that the shorter string names wins.
func (pb *Phonebook) ResolveDial(dial, whole string) (Target, error) {
	if whole != "" && pb.lookup(dial) == nil {
		if e := pb.lookup(whole); e != nil {
			return e.target(whole), nil
		}
	}
	return pb.Resolve(dial)
}

// storedNumber reports whether dial is Hayes's S, Sn or S=n (a stored
// number), what is left of ATDS... once the D is taken.
func storedNumber(dial string) bool {
	if len(dial) == 0 || dial[0] != 'S' && dial[0] != 's' {
		return false
	}
	rest := strings.TrimPrefix(dial[1:], "=")
	return len(rest) <= 1 && strings.Trim(rest, "0123456789") == ""
}

// dialStringError is a dial string refused for its form, not for a
// number missing from the phonebook; it is an ErrUnknownNumber all the
// same (ERROR), with its own words ("bad dial string: ...").
type dialStringError string

func (e dialStringError) Error() string        { return "modem: bad dial string: " + string(e) }
func (e dialStringError) Is(target error) bool { return target == ErrUnknownNumber }

// splitDialUser splits a dial string into the user before its '@' and
// the rest: user@name and user@host:port split at the last '@';
// scheme://user@host:port/path at the last '@' before the path, the
// rest keeping the scheme. at reports whether there was an '@' to split
// at.
func splitDialUser(dial string) (user, rest string, at bool) {
	if i := strings.Index(dial, "://"); i >= 0 {
		authority, _, _ := strings.Cut(dial[i+3:], "/")
		j := strings.LastIndex(authority, "@")
		if j < 0 {
			return "", dial, false
		}
		return authority[:j], dial[:i+3] + dial[i+3+j+1:], true
	}
	if i := strings.LastIndex(dial, "@"); i >= 0 {
		return dial[:i], dial[i+1:], true
	}
	return "", dial, false
}

// dottedQuad reports whether s is an IPv4 address (127.0.0.1): dialed
// without a port it calls port 23, as with tcpser, once no phonebook
// number matches it (modem trial: it was the number 127001, not in the
// phonebook).
func dottedQuad(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

func (pb *Phonebook) lookup(s string) *Entry {
	if pb == nil || s == "" {
		return nil
	}
	d, isNumber := digitsOnly(s)
	for i := range pb.Entries {
		if e := &pb.Entries[i]; strings.EqualFold(e.Name, s) {
			return e // an exact name first (retest: "EchoChamber" dialed "Echo Chamber")
		}
	}
	for i := range pb.Entries {
		e := &pb.Entries[i]
		// The dial string lost its spaces ("ATDT Echo Chamber" dials
		// "EchoChamber"): a name matches without its own (modem trial).
		if strings.EqualFold(strings.ReplaceAll(e.Name, " ", ""), strings.ReplaceAll(s, " ", "")) {
			return e
		}
		if isNumber && e.Number != "" {
			if ed, ok := digitsOnly(e.Number); ok && ed == d {
				return e
			}
		}
	}
	return nil
}

func (e *Entry) target(dial string) Target {
	return Target{Dial: dial, Name: e.Name, Address: e.Address, User: e.User, Password: e.Password, Mode: e.Mode, SniffTelnet: e.sniff}
}
