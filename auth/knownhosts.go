package auth

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// KnownHostsFile is the caller's known-hosts file name in its state
// directory.
const KnownHostsFile = "known_hosts"

// Errors of the known-hosts check.
var (
	// ErrHostKeyChanged is matched by a *HostKeyChangedError: the gateway
	// offered a key other than the one pinned or trusted before.
	ErrHostKeyChanged = errors.New("auth: gateway host key has changed")
	// ErrHostUnknown is wrapped by KnownHosts.Check for a host with no
	// entry when trust on first use is off.
	ErrHostUnknown = errors.New("auth: gateway host key is not known")
	// ErrKnownHostsFile is wrapped for a malformed known-hosts file or
	// entry.
	ErrKnownHostsFile = errors.New("auth: bad known hosts file")
)

// maxKnownHostsSize bounds the file LoadKnownHosts reads.
const maxKnownHostsSize = 1 << 20

// KnownHosts is the caller's list of trusted gateway host keys. It is safe
// for concurrent use.
//
// # The known-hosts file
//
// Text, one entry per line: the host as the caller dials it (host:port or
// a name, compared case-insensitively), white space, and the key, either as
// a fingerprint "SHA256:<unpadded base64>" (what the operator publishes
// next to the number; see Fingerprint) or as the standard base64 of the
// 32-octet X25519 public key. Blank lines and lines starting with '#' are
// ignored; so is anything after a '#' that starts a field. A host may have
// several entries (key rotation): any of them matches.
//
//	# pinned by hand from the BBS list
//	bbs.example.net:2323 SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
//	# added on first use
//	192.0.2.10:2323 SHA256:Cw3K8y2PZ3mY0f1Q2hN0c3y0o0eYwz2bQ3QbX1x0t9M
type KnownHosts struct {
	path    string
	mu      sync.Mutex
	entries []knownHost
}

type knownHost struct {
	host string // normalized
	fp   string // SHA256:...
	line int    // 0 when added at run time
}

// LoadKnownHosts reads the known-hosts file at path; a missing file is an
// empty list (the file is created by the first trust on first use or Pin).
func LoadKnownHosts(path string) (*KnownHosts, error) {
	k := &KnownHosts{path: path}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: known hosts: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKnownHostsSize+1))
	if err != nil {
		return nil, fmt.Errorf("auth: known hosts: %w", err)
	}
	if len(data) > maxKnownHostsSize {
		return nil, fmt.Errorf("auth: known hosts %s is larger than %d octets: %w", path, maxKnownHostsSize, ErrKnownHostsFile)
	}
	if k.entries, err = parseKnownHosts(data, path); err != nil {
		return nil, err
	}
	return k, nil
}

// parseKnownHosts parses the text of the file called name.
func parseKnownHosts(data []byte, name string) ([]knownHost, error) {
	var out []knownHost
	bad := func(n int, why string) error {
		return fmt.Errorf("auth: known hosts %s:%d: %s: %w", name, n, why, ErrKnownHostsFile)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxKnownHostsSize)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f[0] == '#' {
				fields = fields[:i]
				break
			}
		}
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, bad(n, fmt.Sprintf("want \"host key\", found %d fields", len(fields)))
		}
		host, err := normalizeHost(fields[0])
		if err != nil {
			return nil, bad(n, bareMsg(err, ErrKnownHostsFile))
		}
		fp, err := ParseHostKeyID(fields[1])
		if err != nil {
			return nil, bad(n, bareMsg(err, ErrKnownHostsFile))
		}
		out = append(out, knownHost{host: host, fp: fp, line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: known hosts %s: %v: %w", name, err, ErrKnownHostsFile)
	}
	return out, nil
}

// ParseHostKeyID accepts a fingerprint ("SHA256:" and the unpadded base64
// of 32 octets) or a base64 X25519 public key and returns the fingerprint.
func ParseHostKeyID(s string) (string, error) {
	if b64, ok := strings.CutPrefix(s, "SHA256:"); ok {
		sum, err := base64.RawStdEncoding.Strict().DecodeString(b64)
		if err != nil || len(sum) != 32 {
			return "", fmt.Errorf("auth: fingerprint %q: want SHA256: and 43 base64 characters: %w", s, ErrKnownHostsFile)
		}
		// The decoder skips CR and LF (a fingerprint pasted with its
		// line end): the canonical form has none.
		return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum), nil
	}
	pub, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(pub) != 32 {
		return "", fmt.Errorf("auth: host key %q: want a SHA256: fingerprint or the base64 of a 32-octet X25519 key: %w", s, ErrKnownHostsFile)
	}
	return Fingerprint(pub), nil
}

func normalizeHost(h string) (string, error) {
	if h == "" || len(h) > 255 || strings.ContainsAny(h, "#\x00") {
		return "", fmt.Errorf("auth: host %q: want host:port or a name: %w", h, ErrKnownHostsFile)
	}
	for i := 0; i < len(h); i++ {
		if h[i] <= ' ' || h[i] >= 0x7f {
			return "", fmt.Errorf("auth: host %q: white space, control or non-ASCII characters: %w", h, ErrKnownHostsFile)
		}
	}
	h = strings.ToLower(h)
	// One host and port however they are written, as the dialler takes
	// them (security trial: telnet://127.0.0.1:02423 missed the key
	// pinned for 127.0.0.1:2423, and with it the refusal of a clear-text
	// fallback): an IP address in its short form ([0:0::1]:23 is
	// [::1]:23, [::ffff:192.0.2.1]:23 is 192.0.2.1:23), a name without
	// the root's trailing dot, a port without leading zeros.
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		return canonicalHost(h), nil
	}
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(n, 10)
	}
	return net.JoinHostPort(canonicalHost(host), port), nil
}

// canonicalHost is host (lower case) as an IP address in its short form,
// or as a name without a trailing dot.
func canonicalHost(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().String()
	}
	if t := strings.TrimSuffix(host, "."); t != "" {
		return t
	}
	return host
}

// Path returns the file the list was loaded from.
func (k *KnownHosts) Path() string { return k.path }

// Lookup returns the fingerprints trusted for host.
func (k *KnownHosts) Lookup(host string) []string {
	h, err := normalizeHost(host)
	if err != nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var fps []string
	for _, e := range k.entries {
		if e.host == h {
			fps = append(fps, e.fp)
		}
	}
	return fps
}

// Check decides whether pub may be trusted as host's key. The caller runs
// it before it sends anything secret:
//   - an entry for host matches pub: (false, nil);
//   - host has entries but none matches: a *HostKeyChangedError (matches
//     ErrHostKeyChanged) whose message is an OpenSSH-style warning with
//     both fingerprints; the call must be aborted;
//   - host has no entry and tofu is false: an error wrapping ErrHostUnknown
//     that names the offered fingerprint;
//   - host has no entry and tofu is true: the key is appended to the file
//     and (true, nil) returned; show the user NewHostNotice.
func (k *KnownHosts) Check(host string, pub []byte, tofu bool) (newlyTrusted bool, err error) {
	h, err := normalizeHost(host)
	if err != nil {
		return false, err
	}
	if len(pub) != 32 {
		return false, fmt.Errorf("auth: host key of %d octets offered by %s, want 32: %w", len(pub), host, ErrHostKeyChanged)
	}
	got := Fingerprint(pub)
	k.mu.Lock()
	defer k.mu.Unlock()
	var want []knownHost
	for _, e := range k.entries {
		if e.host == h {
			if e.fp == got {
				return false, nil
			}
			want = append(want, e)
		}
	}
	if len(want) > 0 {
		ce := &HostKeyChangedError{Host: host, Path: k.path, Got: got}
		for _, e := range want {
			ce.Want = append(ce.Want, e.fp)
			ce.Lines = append(ce.Lines, e.line)
		}
		return false, ce
	}
	if !tofu {
		return false, fmt.Errorf("auth: no known host key for %s, which offered %s; pin that fingerprint after checking it with the gateway's operator, or allow trust on first use: %w", host, got, ErrHostUnknown)
	}
	if err := k.appendLocked(h, got); err != nil {
		return false, err
	}
	return true, nil
}

// Pin adds a trusted key for host, given as a fingerprint or a base64
// public key (see ParseHostKeyID), and appends it to the file. Pinning a
// key already trusted for host does nothing.
func (k *KnownHosts) Pin(host, key string) error {
	h, err := normalizeHost(host)
	if err != nil {
		return err
	}
	fp, err := ParseHostKeyID(key)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, e := range k.entries {
		if e.host == h && e.fp == fp {
			return nil
		}
	}
	return k.appendLocked(h, fp)
}

// appendLocked appends "host fp" to the file (creating it and its
// directory, modes 0600 and 0700) and to the list.
func (k *KnownHosts) appendLocked(host, fp string) error {
	line, err := appendLine(k.path, host+" "+fp)
	if err != nil {
		return fmt.Errorf("auth: known hosts: %w", err)
	}
	k.entries = append(k.entries, knownHost{host: host, fp: fp, line: line})
	return nil
}

// appendLine appends one line to path with O_APPEND (so concurrent
// appenders do not overwrite each other), adding a newline first if the
// file does not end with one, and returns the line's number.
func appendLine(path, line string) (int, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return 0, err
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	old, err := io.ReadAll(io.LimitReader(f, maxKnownHostsSize+1))
	if err != nil {
		return 0, err
	}
	buf := []byte(line + "\n")
	if len(old) > 0 && old[len(old)-1] != '\n' {
		buf = append([]byte{'\n'}, buf...)
	}
	if _, err := f.Write(buf); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return bytes.Count(old, []byte{'\n'}) + bytes.Count(buf, []byte{'\n'}), nil
}

// ForgetKnownHost removes from the known-hosts file at path the entries
// for host, as ssh-keygen -R does: host:port removes that port's entries,
// a host without a port (a name, an IP address) its entries for every
// port and those without one. Other lines, comments and blank lines
// included, stay as they are. It returns the entries removed, "host key"
// with their line numbers ("line 3: host key"), none for a host without
// entries (the file is then left untouched). The file is replaced
// whole (a new file renamed over it), so that a reader sees it before or
// after, never half written.
func ForgetKnownHost(path, host string) ([]string, error) {
	h, err := normalizeHost(host)
	if err != nil {
		return nil, err
	}
	bare := ""
	if _, _, err := net.SplitHostPort(h); err != nil {
		bare = h
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: known hosts: %w", err)
	}
	if len(data) > maxKnownHostsSize {
		return nil, fmt.Errorf("auth: known hosts %s is larger than %d octets: %w", path, maxKnownHostsSize, ErrKnownHostsFile)
	}
	entries, err := parseKnownHosts(data, path)
	if err != nil {
		return nil, err
	}
	drop := map[int]bool{}
	var removed []string
	for _, e := range entries {
		eh, _, err := net.SplitHostPort(e.host)
		if e.host == h || bare != "" && err == nil && eh == bare {
			drop[e.line] = true
			removed = append(removed, fmt.Sprintf("line %d: %s %s", e.line, e.host, e.fp))
		}
	}
	if len(removed) == 0 {
		return nil, nil
	}
	var out []byte
	for n, line := range bytes.SplitAfter(data, []byte{'\n'}) {
		if !drop[n+1] {
			out = append(out, line...)
		}
	}
	if err := writeFileAtomic(path, out, 0o600); err != nil {
		return nil, fmt.Errorf("auth: known hosts: %w", err)
	}
	return removed, nil
}

// NewHostNotice is the loud notice to show when Check trusted a key on
// first use.
func NewHostNotice(host string, pub []byte, path string) string {
	return fmt.Sprintf(`Warning: the gateway %s was not known. Its X25519 host key has the fingerprint
    %s
and has been added permanently to %s.
Check this fingerprint with the gateway's operator (it is often published next
to the number). If it differs, someone may be intercepting this call: remove
the line from the file and do not log in.`, host, Fingerprint(pub), path)
}

// HostKeyChangedError reports a gateway whose key matches none of the keys
// trusted for it. Its message is the warning to show the user.
type HostKeyChangedError struct {
	Host  string
	Path  string   // known-hosts file
	Got   string   // fingerprint offered
	Want  []string // fingerprints trusted
	Lines []int    // their lines in Path (0: added at run time, or unknown)
}

// Is makes errors.Is(err, ErrHostKeyChanged) true.
func (e *HostKeyChangedError) Is(target error) bool { return target == ErrHostKeyChanged }

func (e *HostKeyChangedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "auth: the host key of %s has changed\n", e.Host)
	b.WriteString(`@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that the gateway's host key has just been changed.
`)
	fmt.Fprintf(&b, "The fingerprint of the X25519 key sent by the gateway is\n%s.\n", e.Got)
	b.WriteString("The known hosts file trusts instead:\n")
	for i, fp := range e.Want {
		if i < len(e.Lines) && e.Lines[i] > 0 {
			fmt.Fprintf(&b, "  %s (%s:%d)\n", fp, e.Path, e.Lines[i])
		} else {
			fmt.Fprintf(&b, "  %s (%s)\n", fp, e.Path)
		}
	}
	b.WriteString("Please contact the gateway's operator. If the new key is genuine, remove the\n")
	fmt.Fprintf(&b, "lines above from %s (gateway dial --known-hosts %s --forget %s does)\nand call again.\n", e.Path, e.Path, e.Host)
	fmt.Fprintf(&b, "The host key for %s has changed, and a changed key is never accepted.\n", e.Host)
	b.WriteString("Host key verification failed; the call was aborted before the password was sent.")
	return b.String()
}
