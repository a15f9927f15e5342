package auth

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// HostKeyFile is the host key's file name in the state directory.
const HostKeyFile = "host_key"

// Errors about the host key.
var (
	// ErrHostKeyExists is wrapped by CreateHostKey when a key is present
	// and overwriting was not asked for.
	ErrHostKeyExists = errors.New("auth: host key already exists")
	// ErrHostKeyPerm is wrapped when the host key file can be read or
	// written by users other than its owner, or is owned by (or in a
	// directory that may be changed by) a user other than root and the
	// process's (then with an *UnsafePathError).
	ErrHostKeyPerm = errors.New("auth: host key file is accessible by other users")
	// ErrBadHostKey is wrapped when the host key file is malformed.
	ErrBadHostKey = errors.New("auth: malformed host key file")
)

// HostKey is the gateway's static X25519 key pair (RFC 7748 §5), the Noise
// "s" key the caller pins.
type HostKey struct {
	Private, Public []byte // 32 octets each

	// key is Private in crypto/ecdh form, made once by the constructors
	// so that a handshake does not derive it (a scalar multiplication)
	// again; nil in a HostKey built from its fields. ecdhKey checks it
	// against Private before use.
	key *ecdh.PrivateKey
}

// GenerateHostKey makes a fresh key pair from r (nil means crypto/rand).
func GenerateHostKey(r io.Reader) (HostKey, error) {
	if r == nil {
		r = rand.Reader
	}
	priv := make([]byte, curve25519.ScalarSize)
	if _, err := io.ReadFull(r, priv); err != nil {
		return HostKey{}, fmt.Errorf("auth: generate host key: %w", err)
	}
	return hostKeyFromPrivate(priv)
}

func hostKeyFromPrivate(priv []byte) (HostKey, error) {
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return HostKey{}, fmt.Errorf("auth: host key: %w", err)
	}
	return HostKey{Private: priv, Public: k.PublicKey().Bytes(), key: k}, nil
}

// ecdhKey returns the private key in crypto/ecdh form when the HostKey
// holds it and it still matches Private (nil otherwise: the handshake
// then derives it).
func (k HostKey) ecdhKey() *ecdh.PrivateKey {
	if k.key == nil {
		return nil
	}
	b := k.key.Bytes()
	defer wipe(b)
	if subtle.ConstantTimeCompare(b, k.Private) != 1 {
		return nil
	}
	return k.key
}

// Fingerprint returns the key's fingerprint (see Fingerprint).
func (k HostKey) Fingerprint() string { return Fingerprint(k.Public) }

// Wipe overwrites the private key in memory and drops its crypto/ecdh
// form (which crypto/ecdh gives no way to overwrite).
func (k *HostKey) Wipe() {
	clear(k.Private)
	k.key = nil
}

// Fingerprint returns "SHA256:" followed by the unpadded base64 of the
// SHA-256 of pub, in the style of OpenSSH (which hashes its key blob; we
// hash the 32 raw octets of the X25519 public key).
func Fingerprint(pub []byte) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// DefaultStateDir is the state directory when none is configured:
// $XDG_STATE_HOME/dialgate, or ~/.local/state/dialgate.
func DefaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "dialgate"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("auth: no state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "dialgate"), nil
}

// CheckStateDir judges stateDir and every directory above it (following
// symbolic links as the kernel does) as LoadHostKey does before it reads
// the key: an error wrapping ErrHostKeyPerm and ErrUnsafeDir when a user
// other than root and the process's may replace files there. Names that
// do not exist yet are skipped, so that a caller may check a state
// directory before it creates it.
func CheckStateDir(stateDir string) error {
	return checkDirs("host key", stateDir, false, ErrHostKeyPerm)
}

// LoadHostKey reads stateDir/host_key. It refuses a file that other users
// may read or write, one owned by a user other than root and the
// process's, and one in a state directory (or below a directory) that
// such a user, or every user, may replace files in: errors wrapping
// ErrHostKeyPerm, the last two with an *UnsafePathError (like OpenSSH's
// StrictModes). The directories are judged first, so that
// LoadOrCreateHostKey does not create a key where it would refuse it.
// A host_key that is a symbolic link is not followed (an error matching
// ErrSymlink); one that is not a regular file (a FIFO, a directory) is
// refused at once (ErrBadHostKey), without waiting for a FIFO's writer.
// CreateHostKey needs no such care: it writes a new temporary file
// (O_EXCL, which never follows a link) and links or renames it into
// place, which fails on or replaces a link there.
//
// The file is text: lines starting with '#' are comments, and one line
// holds the 32-octet X25519 private key in standard base64.
func LoadHostKey(stateDir string) (HostKey, error) {
	if err := CheckStateDir(stateDir); err != nil {
		return HostKey{}, err
	}
	path := filepath.Join(stateDir, HostKeyFile)
	f, err := openNoFollow(path, os.O_RDONLY, 0)
	if errors.Is(err, ErrSymlink) {
		return HostKey{}, fmt.Errorf("auth: host key %w", err)
	}
	if err != nil {
		return HostKey{}, fmt.Errorf("auth: host key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return HostKey{}, fmt.Errorf("auth: host key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return HostKey{}, fmt.Errorf("auth: host key %s is not a regular file but %s; remove it: %w", path, fileKind(fi.Mode()), ErrBadHostKey)
	}
	if err := checkHostKeyOwner(path, fi); err != nil {
		return HostKey{}, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return HostKey{}, fmt.Errorf("auth: host key %s has mode %04o; run chmod 600 on it: %w", path, perm, ErrHostKeyPerm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxHostKeyFile+1))
	if err != nil {
		return HostKey{}, fmt.Errorf("auth: host key: %w", err)
	}
	defer clear(data)
	if len(data) > maxHostKeyFile {
		// A key past the limit would go unread, not refused.
		return HostKey{}, fmt.Errorf("auth: host key %s is longer than %d octets: %w", path, maxHostKeyFile, ErrBadHostKey)
	}
	k, err := parseHostKey(data)
	if err != nil {
		return HostKey{}, fmt.Errorf("auth: host key %s: %w", path, err)
	}
	return k, nil
}

// maxHostKeyFile bounds the host key file (keygen writes about 120 octets).
const maxHostKeyFile = 4096

func parseHostKey(data []byte) (HostKey, error) {
	var priv []byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if priv != nil {
			return HostKey{}, fmt.Errorf("line %d: more than one key: %w", n, ErrBadHostKey)
		}
		k, err := base64.StdEncoding.Strict().DecodeString(line)
		if err != nil || len(k) != curve25519.ScalarSize {
			return HostKey{}, fmt.Errorf("line %d: want the base64 of %d octets: %w", n, curve25519.ScalarSize, ErrBadHostKey)
		}
		priv = k
	}
	if err := sc.Err(); err != nil {
		return HostKey{}, fmt.Errorf("%w: %w", err, ErrBadHostKey)
	}
	if priv == nil {
		return HostKey{}, fmt.Errorf("no key: %w", ErrBadHostKey)
	}
	return hostKeyFromPrivate(priv)
}

func marshalHostKey(k HostKey) []byte {
	return []byte("# dialgate host key: X25519 private key in base64. Keep it secret (mode 0600).\n" +
		"# public key " + base64.StdEncoding.EncodeToString(k.Public) + "\n" +
		"# fingerprint " + k.Fingerprint() + "\n" +
		base64.StdEncoding.EncodeToString(k.Private) + "\n")
}

// CreateHostKey generates a host key and writes it to stateDir/host_key
// (the directory is created with mode 0700, the file with 0600), after
// CheckStateDir: never in a directory that LoadHostKey refuses. Without
// overwrite it fails with ErrHostKeyExists if a key file exists, even
// when another process creates one at the same moment.
func CreateHostKey(stateDir string, overwrite bool) (HostKey, error) {
	// Not in a directory that LoadHostKey would refuse (gateway keygen
	// wrote keys there, which serve then refused to read).
	if err := CheckStateDir(stateDir); err != nil {
		return HostKey{}, err
	}
	k, err := GenerateHostKey(nil)
	if err != nil {
		return HostKey{}, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return HostKey{}, fmt.Errorf("auth: state directory: %w", err)
	}
	path := filepath.Join(stateDir, HostKeyFile)
	data := marshalHostKey(k)
	defer clear(data)
	if overwrite {
		err = writeFileAtomic(path, data, 0o600)
	} else {
		err = writeFileNew(path, data, 0o600)
	}
	if errors.Is(err, fs.ErrExist) {
		return HostKey{}, fmt.Errorf("auth: %s: %w", path, ErrHostKeyExists)
	}
	if err != nil {
		return HostKey{}, fmt.Errorf("auth: write host key: %w", err)
	}
	return k, nil
}

// LoadOrCreateHostKey loads stateDir/host_key, creating it first if it
// does not exist; created reports that it did.
func LoadOrCreateHostKey(stateDir string) (k HostKey, created bool, err error) {
	k, err = LoadHostKey(stateDir)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = CreateHostKey(stateDir, false)
	if errors.Is(err, ErrHostKeyExists) { // another process won the race
		k, err = LoadHostKey(stateDir)
		return k, false, err
	}
	return k, err == nil, err
}

// writeFileNew writes data to path, which must not exist (fs.ErrExist
// otherwise), so that path appears complete or not at all: a temporary file
// is written and synced, then hard-linked to path.
func writeFileNew(path string, data []byte, perm os.FileMode) error {
	return writeFileVia(path, data, perm, os.Link, nil)
}

// fileKind names a file type for messages ("a FIFO").
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "another kind of file"
}
