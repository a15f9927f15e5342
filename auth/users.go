package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// User is one account in the users file.
type User struct {
	// ID is the user ID the caller sends in RESPONSE or types at the text
	// login: 1 to MaxUserIDLen octets of ASCII letters, digits, '.', '_' and
	// '-', starting with a letter or digit. IDs are case-sensitive.
	ID string
	// Hash is the argon2id PHC string of the password (see HashPassword).
	Hash string
	// Callback is the line URL the gateway calls back, such as
	// telnet://192.0.2.7:2323; "" means the user takes no callback.
	Callback string
	// Backend names the backend the session is bridged to; "" means the
	// gateway's default backend.
	Backend string
	// Disabled accounts are denied like a wrong password.
	Disabled bool
	// Expires is the instant from which the account is denied; the zero
	// time means never.
	Expires time.Time
}

// Expired reports whether the account has expired at now.
func (u User) Expired(now time.Time) bool {
	return !u.Expires.IsZero() && !now.Before(u.Expires)
}

// Active reports whether the account may log in at now (given the right
// password): it is neither disabled nor expired.
func (u User) Active(now time.Time) bool { return !u.Disabled && !u.Expired(now) }

// Errors of the user store.
var (
	// ErrUserExists is wrapped by Users.Add for an ID already present.
	ErrUserExists = errors.New("auth: user already exists")
	// ErrUserNotFound is wrapped by Users methods for an absent ID.
	ErrUserNotFound = errors.New("auth: no such user")
	// ErrBadUser is wrapped when a User's fields are invalid.
	ErrBadUser = errors.New("auth: invalid user entry")
	// ErrUsersFile is matched (errors.Is) by every UsersFileError.
	ErrUsersFile = errors.New("auth: bad users file")
	// ErrUsersFilePerm is wrapped by LoadUsers for a users file that
	// its group or other users may write, or that is owned by (or in a
	// directory that may be changed by) a user other than root and the
	// process's (then with an *UnsafePathError): whoever can change it
	// can add an account or replace a password hash.
	ErrUsersFilePerm = errors.New("auth: users file is writable by other users")
)

// maxBackendLen bounds a backend name.
const maxBackendLen = 64

// ValidUserID reports whether id is acceptable as a user ID in the users
// file; the error wraps ErrBadUser and says why not.
func ValidUserID(id string) error {
	if len(id) == 0 || len(id) > MaxUserIDLen {
		return fmt.Errorf("auth: user ID length %d outside 1..%d: %w", len(id), MaxUserIDLen, ErrBadUser)
	}
	if !isAlnum(id[0]) {
		return fmt.Errorf("auth: user ID %q must start with an ASCII letter or digit: %w", id, ErrBadUser)
	}
	if !isName(id) {
		return fmt.Errorf("auth: user ID %q may hold only ASCII letters, digits, '.', '_' and '-': %w", id, ErrBadUser)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validBackend checks a backend name: empty, or 1..64 name characters.
func validBackend(name string) error {
	if name == "" {
		return nil
	}
	if len(name) > maxBackendLen || !isName(name) {
		return fmt.Errorf("auth: backend name %q: want up to %d letters, digits, '.', '_' or '-': %w", name, maxBackendLen, ErrBadUser)
	}
	return nil
}

// ValidCallback checks a callback address: "" (no callback) or a line URL
// scheme://host:port without credentials, path, query or fragment. Whether
// the scheme names a registered transport is checked by the dialler.
func ValidCallback(addr string) error {
	if addr == "" {
		return nil
	}
	bad := func(why string) error {
		return &badCallbackError{fmt.Sprintf("auth: callback address %q: %s", addr, why)}
	}
	if len(addr) > 255 {
		return bad("longer than 255 octets")
	}
	for i := 0; i < len(addr); i++ {
		if addr[i] <= ' ' || addr[i] >= 0x7f {
			return bad("contains spaces, control or non-ASCII characters")
		}
	}
	if !strings.Contains(addr, "://") {
		// host:port, the commonest slip: say what was meant.
		if h, p, err := net.SplitHostPort(addr); err == nil && h != "" && isPort(p) {
			return &badCallbackError{fmt.Sprintf("auth: callback address %q is not a URL: did you mean telnet://%s?", addr, addr)}
		}
	}
	u, err := url.Parse(addr)
	if err != nil {
		return bad("not a URL")
	}
	if u.Scheme == "" || u.Opaque != "" || u.Host == "" {
		return bad("want scheme://host:port")
	}
	if u.User != nil {
		return bad("credentials do not belong in a line address")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || strings.Contains(addr, "#") || u.ForceQuery {
		return bad("want scheme://host:port with nothing after the port")
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return bad("want scheme://host:port")
	}
	if !isPort(port) {
		return bad("port must be 1..65535")
	}
	return nil
}

// isPort reports whether s is a decimal port number, 1..65535.
func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// badCallbackError is a callback address ValidCallback refuses. It
// matches ErrBadUser (errors.Is) without repeating that sentinel's words
// in its message, which says what is wrong and, for a bare host:port,
// what was meant.
type badCallbackError struct{ msg string }

func (e *badCallbackError) Error() string        { return e.msg }
func (e *badCallbackError) Is(target error) bool { return target == ErrBadUser }

// Validate checks every field of u and returns the first problem, wrapping
// ErrBadUser.
func (u User) Validate() error {
	if err := ValidUserID(u.ID); err != nil {
		return err
	}
	if _, err := parseArgon2Hash(u.Hash); err != nil {
		return fmt.Errorf("auth: user %q: %s: %w", u.ID, strings.TrimPrefix(err.Error(), "auth: "), ErrBadUser)
	}
	if err := ValidCallback(u.Callback); err != nil {
		return err
	}
	return validBackend(u.Backend)
}

// Users is the set of accounts, loaded from and saved to the users file.
// It is safe for concurrent use. A running gateway reloads the file by
// calling LoadUsers again and handing the result to Verifier.SetUsers.
//
// # The users file
//
// The users file is TOML (https://toml.io, v1.0.0). Each account is a table
// named user.<ID>; an ID holding '.' is quoted. Keys:
//
//	hash      string, required: argon2id PHC string, made by `gateway user add`
//	callback  string: line URL the gateway calls back ("" or absent: none)
//	backend   string: backend name ("" or absent: the default backend)
//	disabled  bool: deny every login
//	expires   offset date-time (2027-01-01T00:00:00Z) or local date
//	          (2027-01-01 = from 00:00 UTC that day): deny from then on
//
// Parsing is strict: an unknown key, a wrong type, a malformed value or a
// missing hash is an error naming the line. An empty file holds no users.
// Files written by Save carry a header comment; other comments are not kept.
// Example:
//
//	[user.alice]
//	hash = "$argon2id$v=19$m=65536,t=3,p=4$gJ3w1Jm3Xo2bC8y5N0cF2A$3iR0k6...Q"
//	backend = "bbs"
//
//	[user."j.doe"]
//	hash = "$argon2id$v=19$m=65536,t=3,p=4$Qk9QMm9lY2gxMjM0NTY3OA$Zm9v...g"
//	callback = "telnet://192.0.2.7:2323"
//	disabled = false
//	expires = 2027-01-01
type Users struct {
	mu       sync.RWMutex
	m        map[string]User
	warnings []string // what LoadUsers found; read-only after it
}

// NewUsers returns an empty user set.
func NewUsers() *Users { return &Users{m: map[string]User{}} }

// LoadUsers reads and strictly parses the users file at path. A missing file
// is an error wrapping fs.ErrNotExist; problems with the content are a
// *UsersFileError.
//
// The file holds password hashes, so its mode matters (as for OpenSSH's
// keys): a file its group or others may write is refused with an error
// wrapping ErrUsersFilePerm (a running gateway then keeps the users it
// has); one they may read is loaded, and Warnings says so. The group's
// read permission is left alone on a file that is not the process's own
// but shared with it through its group (root:dialgate, mode 0640), and
// the chmod each message names keeps the file readable by the gateway.
// Save writes mode 0600.
//
// Its owner and directories matter too (as for sshd's StrictModes): a
// file owned by a user other than root and the process's, or in a
// directory (or below one) that such a user, or every user, may replace
// files in, is refused with an error wrapping ErrUsersFilePerm and an
// *UnsafePathError that names the owner and the chown or chmod to run.
func LoadUsers(path string) (*Users, error) { return loadUsers(path, false) }

// LoadUsersToEdit is LoadUsers for a command that edits the file and
// writes it back with Save ("gateway user"): run as root it also loads a
// file of another owner (the service user's), or in that owner's
// directory, because Save keeps the file's owner and so what the
// gateway makes of it. Modes are judged as by LoadUsers.
func LoadUsersToEdit(path string) (*Users, error) { return loadUsers(path, true) }

func loadUsers(path string, forEdit bool) (*Users, error) {
	if err := checkDirs("users file", filepath.Dir(path), forEdit, ErrUsersFilePerm); err != nil {
		return nil, err
	}
	// A users file that is a symbolic link (into /etc, from a
	// configuration tool) is followed, and the directory of the file it
	// leads to is judged too.
	if real, err := filepath.EvalSymlinks(path); err == nil && filepath.Dir(real) != filepath.Dir(path) {
		if err := checkDirs("users file", filepath.Dir(real), forEdit, ErrUsersFilePerm); err != nil {
			return nil, err
		}
	}
	f, err := openReading(path)
	if err != nil {
		return nil, fmt.Errorf("auth: users file: %w", err)
	}
	defer f.Close()
	// The mode of the file read, not of whatever the name points at
	// later.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: users file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("auth: users file %s is not a regular file but %s", path, fileKind(fi.Mode()))
	}
	warning, err := checkUsersFile(path, fi, forEdit)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("auth: users file: %w", err)
	}
	u, err := ParseUsers(data)
	if err != nil {
		var fe *UsersFileError
		if errors.As(err, &fe) {
			fe.Path = path
		}
		return nil, err
	}
	if warning != "" {
		u.warnings = append(u.warnings, warning)
	}
	return u, nil
}

// Warnings lists what LoadUsers found that an operator should fix but
// that did not stop the load (a users file other users can read), one
// line each; none for users not loaded from a file. A gateway logs them
// on each load.
func (u *Users) Warnings() []string {
	if u == nil {
		return nil
	}
	return slices.Clone(u.warnings)
}

// Lookup returns the account with the given ID.
func (u *Users) Lookup(id string) (User, bool) {
	if u == nil {
		return User{}, false
	}
	u.mu.RLock()
	defer u.mu.RUnlock()
	usr, ok := u.m[id]
	return usr, ok
}

// Len returns the number of accounts.
func (u *Users) Len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.m)
}

// List returns every account sorted by ID.
func (u *Users) List() []User {
	u.mu.RLock()
	out := make([]User, 0, len(u.m))
	for _, usr := range u.m {
		out = append(out, usr)
	}
	u.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Add adds a new account; usr.Hash must already hold a PHC string (see
// HashPassword). It fails with ErrUserExists if the ID is taken.
func (u *Users) Add(usr User) error {
	if err := usr.Validate(); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[usr.ID]; ok {
		return fmt.Errorf("auth: add %q: %w", usr.ID, ErrUserExists)
	}
	u.m[usr.ID] = usr
	return nil
}

// Update replaces an existing account (all fields, including Hash).
func (u *Users) Update(usr User) error {
	if err := usr.Validate(); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[usr.ID]; !ok {
		return fmt.Errorf("auth: update %q: %w", usr.ID, ErrUserNotFound)
	}
	u.m[usr.ID] = usr
	return nil
}

// SetPassword hashes password with p and stores it as the account's new
// hash. The hashing runs outside the store's lock.
func (u *Users) SetPassword(id, password string, p Argon2Params) error {
	if _, ok := u.Lookup(id); !ok {
		return fmt.Errorf("auth: set password of %q: %w", id, ErrUserNotFound)
	}
	h, err := HashPassword(password, p)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	usr, ok := u.m[id]
	if !ok {
		return fmt.Errorf("auth: set password of %q: %w", id, ErrUserNotFound)
	}
	usr.Hash = h
	u.m[id] = usr
	return nil
}

// Delete removes an account.
func (u *Users) Delete(id string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[id]; !ok {
		return fmt.Errorf("auth: delete %q: %w", id, ErrUserNotFound)
	}
	delete(u.m, id)
	return nil
}

// Save writes the users file to path atomically (a temporary file in the
// same directory, fsync, rename) with mode 0600, creating a missing
// directory with mode 0700.
//
// A file that Save replaces keeps its owner and group when root saves it
// (root running "gateway user" otherwise left a root-owned 0600 file
// that the gateway, running as its own user, could not read), and its
// group's read permission when it is shared with the gateway through
// its group (root:dialgate, mode 0640; see LoadUsers). A file root
// creates gets the owner and group of its directory when that is not
// root (the state directory of a gateway that runs as its owner:
// operator trial, "gateway user add" as root made a users file the
// service could not read).
func (u *Users) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("auth: save users file: %w", err)
	}
	perm := os.FileMode(0o600)
	var keep func(*os.File) error
	if fi, err := os.Stat(path); err == nil {
		if usersFileAccessOf(fi) == accessGroup {
			perm |= fi.Mode().Perm() & 0o040
		}
		keep = keepOwner(fi)
	} else if di, err := os.Stat(filepath.Dir(path)); err == nil && !ownedByRoot(di) {
		keep = keepOwner(di)
	}
	if err := writeFileVia(path, u.Marshal(), perm, os.Rename, keep); err != nil {
		return fmt.Errorf("auth: save users file: %w", err)
	}
	return nil
}

const usersHeader = `# dialgate users file, written by "gateway user". Format: see
# "gateway user --help". Comments other than this header are not kept.
`

// Marshal returns the users file's canonical TOML text, accounts in ID
// order. ParseUsers(u.Marshal()) yields the same accounts.
func (u *Users) Marshal() []byte {
	var b strings.Builder
	b.WriteString(usersHeader)
	for _, usr := range u.List() {
		b.WriteString("\n[user.")
		b.WriteString(tomlKey(usr.ID))
		b.WriteString("]\nhash = ")
		b.WriteString(tomlString(usr.Hash))
		b.WriteByte('\n')
		if usr.Callback != "" {
			b.WriteString("callback = " + tomlString(usr.Callback) + "\n")
		}
		if usr.Backend != "" {
			b.WriteString("backend = " + tomlString(usr.Backend) + "\n")
		}
		if usr.Disabled {
			b.WriteString("disabled = true\n")
		}
		if !usr.Expires.IsZero() {
			b.WriteString("expires = " + tomlTime(usr.Expires) + "\n")
		}
	}
	return []byte(b.String())
}

func tomlKey(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' {
			return tomlString(s)
		}
	}
	return s
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlTime(t time.Time) string {
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339Nano)
}

// UsersFileError reports every problem found in a users file, each with
// its line. It matches ErrUsersFile with errors.Is.
type UsersFileError struct {
	Path     string // "" when parsed from memory
	Problems []UsersFileProblem
}

// UsersFileProblem is one problem in a users file.
type UsersFileProblem struct {
	Line int // 1-based; 0 when the parser could not tell
	Msg  string
}

func (e *UsersFileError) Error() string {
	name := e.Path
	if name == "" {
		name = "(users file)"
	}
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Line > 0 {
			fmt.Fprintf(&b, "auth: %s:%d: %s", name, p.Line, p.Msg)
		} else {
			fmt.Fprintf(&b, "auth: %s: %s", name, p.Msg)
		}
	}
	return b.String()
}

// Is makes errors.Is(err, ErrUsersFile) true.
func (e *UsersFileError) Is(target error) bool { return target == ErrUsersFile }

// maxUsersFileProblems caps how many problems one error lists.
const maxUsersFileProblems = 20

// ParseUsers strictly parses users-file text (see Users for the format).
// Content problems are returned as a *UsersFileError.
func ParseUsers(data []byte) (*Users, error) {
	if !utf8.Valid(data) {
		return nil, &UsersFileError{Problems: []UsersFileProblem{{Msg: "not UTF-8 text"}}}
	}
	p := usersParser{users: NewUsers(), data: data}
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		p.addErr(err)
		return nil, p.result()
	}
	p.md = &md
	for _, k := range sortedKeys(top) {
		if k != "user" {
			p.reject(top[k], fmt.Sprintf("unknown top-level key %q (accounts are tables [user.ID])", k))
			continue
		}
		p.parseAll(top[k])
	}
	if len(p.problems) == 0 {
		for _, k := range md.Undecoded() {
			p.problems = append(p.problems, UsersFileProblem{Msg: fmt.Sprintf("unexpected key %q", k.String())})
		}
	}
	if err := p.result(); err != nil {
		return nil, err
	}
	return p.users, nil
}

type usersParser struct {
	data     []byte // the file's text
	md       *toml.MetaData
	users    *Users
	problems []UsersFileProblem
}

func (p *usersParser) result() error {
	if len(p.problems) == 0 {
		return nil
	}
	sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
	if len(p.problems) > maxUsersFileProblems {
		n := len(p.problems) - maxUsersFileProblems
		p.problems = append(p.problems[:maxUsersFileProblems], UsersFileProblem{Msg: fmt.Sprintf("and %d more problems", n)})
	}
	return &UsersFileError{Problems: p.problems}
}

// addErr records an error from the TOML decoder, keeping its line.
func (p *usersParser) addErr(err error) {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line := pe.Position.Line
		if pe.Position.Len > 0 && pe.Position.Start >= 0 && pe.Position.Start <= len(p.data) {
			// The decoder's line is one too far when the offending
			// character is a line end (an unclosed "[user" header is
			// reported on the line after it): count from the offset.
			line = 1 + bytes.Count(p.data[:pe.Position.Start], []byte("\n"))
		}
		p.problems = append(p.problems, UsersFileProblem{Line: line, Msg: pe.Message})
		return
	}
	p.problems = append(p.problems, UsersFileProblem{Msg: strings.TrimPrefix(err.Error(), "toml: ")})
}

// decode decodes prim into v, recording any error with its line.
func (p *usersParser) decode(prim toml.Primitive, v any) bool {
	if err := p.md.PrimitiveDecode(prim, v); err != nil {
		p.addErr(err)
		return false
	}
	return true
}

// reject records msg at the line of the key prim was decoded from.
func (p *usersParser) reject(prim toml.Primitive, msg string) {
	p.decode(prim, &tomlCheck{check: func(any) error { return errors.New(msg) }})
}

func (p *usersParser) parseAll(prim toml.Primitive) {
	if !p.decode(prim, &tomlCheck{check: wantTable("user", "a table of accounts [user.ID]")}) {
		return
	}
	var accounts map[string]toml.Primitive
	if !p.decode(prim, &accounts) {
		return
	}
	for _, id := range sortedKeys(accounts) {
		p.parseUser(id, accounts[id])
	}
}

func (p *usersParser) parseUser(id string, prim toml.Primitive) {
	ok := p.decode(prim, &tomlCheck{check: func(data any) error {
		if err := wantTable("user."+tomlKey(id), "a table")(data); err != nil {
			return err
		}
		if err := ValidUserID(id); err != nil {
			return trimAuth(err)
		}
		return nil
	}})
	if !ok {
		return
	}
	var fields map[string]toml.Primitive
	if !p.decode(prim, &fields) {
		return
	}
	usr := User{ID: id}
	good := true
	str := func(dst *string, valid func(string) error) *tomlCheck {
		return &tomlCheck{check: func(data any) error {
			s, ok := data.(string)
			if !ok {
				return fmt.Errorf("want a string, found %s", tomlType(data))
			}
			if err := valid(s); err != nil {
				return err
			}
			*dst = s
			return nil
		}}
	}
	for _, k := range sortedKeys(fields) {
		var leaf *tomlCheck
		switch k {
		case "hash":
			leaf = str(&usr.Hash, func(s string) error {
				_, err := parseArgon2Hash(s)
				return trimAuth(err)
			})
		case "callback":
			leaf = str(&usr.Callback, func(s string) error { return trimAuth(ValidCallback(s)) })
		case "backend":
			leaf = str(&usr.Backend, func(s string) error { return trimAuth(validBackend(s)) })
		case "disabled":
			leaf = &tomlCheck{check: func(data any) error {
				b, ok := data.(bool)
				if !ok {
					return fmt.Errorf("want true or false, found %s", tomlType(data))
				}
				usr.Disabled = b
				return nil
			}}
		case "expires":
			leaf = &tomlCheck{check: func(data any) error {
				t, err := expiryFromTOML(data)
				usr.Expires = t
				return err
			}}
		default:
			leaf = &tomlCheck{check: func(any) error {
				return fmt.Errorf("unknown key %q in [user.%s] (known: hash, callback, backend, disabled, expires)", k, tomlKey(id))
			}}
		}
		if !p.decode(fields[k], leaf) {
			good = false
		}
	}
	if _, ok := fields["hash"]; !ok {
		p.reject(prim, fmt.Sprintf("[user.%s] has no hash", tomlKey(id)))
		return
	}
	if good {
		// Every field was checked above; Add cannot fail on validity, and
		// TOML itself rejects a table defined twice.
		if err := p.users.Add(usr); err != nil {
			p.reject(prim, trimAuth(err).Error())
		}
	}
}

// trimAuth strips the package prefix and the ErrBadUser suffix from a
// validation error so that it reads well after a file:line prefix.
func trimAuth(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(bareMsg(err, ErrBadUser))
}

// bareMsg is err's message without the leading "auth: " and without the
// trailing ": " + sentinel message.
func bareMsg(err, sentinel error) string {
	s := strings.TrimPrefix(err.Error(), "auth: ")
	return strings.TrimSuffix(s, ": "+sentinel.Error())
}

// expiryFromTOML accepts an offset date-time or a local date (taken as
// 00:00 UTC that day).
func expiryFromTOML(data any) (time.Time, error) {
	t, ok := data.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("want a date or an offset date-time, found %s", tomlType(data))
	}
	switch t.Location().String() {
	case "date-local":
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	case "datetime-local", "time-local":
		return time.Time{}, errors.New("expires needs a time-zone offset (2027-01-01T00:00:00Z) or a plain date (2027-01-01)")
	}
	return t, nil
}

// tomlCheck is a toml.Unmarshaler that runs check on the raw value; an
// error it returns comes back from the decoder with the key's line.
type tomlCheck struct{ check func(data any) error }

func (c *tomlCheck) UnmarshalTOML(data any) error { return c.check(data) }

func wantTable(key, what string) func(any) error {
	return func(data any) error {
		if _, ok := data.(map[string]any); !ok {
			return fmt.Errorf("%s must be %s, found %s", key, what, tomlType(data))
		}
		return nil
	}
}

func tomlType(data any) string {
	switch data.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case time.Time:
		return "a date-time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", data)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// writeFileAtomic replaces path with data: it writes a temporary file in the
// same directory with mode perm, syncs it, renames it over path and syncs
// the directory, so readers see the old or the new file, never a mix.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeFileVia(path, data, perm, os.Rename, nil)
}

// writeFileVia writes data with mode perm to a synced temporary file in
// path's directory, puts it in place with place(tmp, path) (os.Rename to
// replace, os.Link to create only), syncs the directory and removes the
// temporary name. prepare, if not nil, is applied to the temporary file
// before it is put in place (to give it an owner).
func writeFileVia(path string, data []byte, perm os.FileMode, place func(tmp, path string) error, prepare func(*os.File) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename: nothing left to remove
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if prepare != nil {
		if err := prepare(f); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := place(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable; failures are ignored because some
// file systems cannot sync directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
