package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/term"
)

// Environment variables gateway dial reads.
const (
	envUser     = "DIALGATE_USER"
	envPassword = "DIALGATE_PASSWORD"
)

// maxPasswordFile bounds a --password-file.
const maxPasswordFile = 4096

// credSource finds the caller's credentials, in this order:
//
//	user:     --user, $DIALGATE_USER, a prompt on the terminal
//	password: --password-file, $DIALGATE_PASSWORD, a prompt without echo
//
// Prompts need stdin to be a terminal; without one a missing credential
// is a usage error. gateway dial takes them only once a V.42 gateway has
// proved its host key (auth.CallerConfig.Credentials).
//
// The password is carried as a []byte that its user wipes (auth wipes
// the one it is given): read from the terminal or the file into one
// buffer that is wiped on failure. $DIALGATE_PASSWORD is the exception:
// the environment holds it as a string for the life of the process,
// which no wipe reaches.
type credSource struct {
	user, passwordFile string
	getenv             func(string) string
	tty                *os.File  // stdin if it is a terminal, else nil
	prompt             io.Writer // where prompts go (stderr)
	warn               io.Writer
}

// prompts reports whether get asks on the terminal: a credential is
// missing from the flags and the environment.
func (c credSource) prompts() bool {
	return c.user == "" && c.getenv(envUser) == "" || c.passwordFile == "" && c.getenv(envPassword) == ""
}

// missing is get's usage error for a credential that flags and the
// environment do not give when there is no terminal to ask on; nil when
// get can have both. It reads nothing.
func (c credSource) missing() error {
	switch {
	case c.tty != nil:
		return nil
	case c.user == "" && c.getenv(envUser) == "":
		return fmt.Errorf("%w: no user: the gateway asks for a user ID: give --user or set %s (stdin is not a terminal to ask on)", errUsage, envUser)
	case c.passwordFile == "" && c.getenv(envPassword) == "":
		return fmt.Errorf("%w: no password: give --password-file or set %s (stdin is not a terminal to ask on)", errUsage, envPassword)
	}
	return nil
}

// get returns the user ID and the password; the caller wipes the
// password (clear) when done with it.
func (c credSource) get() (user string, password []byte, err error) {
	user = c.user
	if user == "" {
		user = c.getenv(envUser)
	}
	if user == "" {
		if c.tty == nil {
			return "", nil, c.missing()
		}
		io.WriteString(c.prompt, "User: ")
		if user, err = term.ReadLine(c.tty); err != nil {
			return "", nil, fmt.Errorf("%w: reading the user name: %w", errUsage, err)
		}
	}
	if err := auth.ValidUserID(user); err != nil {
		return "", nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case c.passwordFile != "":
		password, err = readPasswordFile(c.passwordFile, c.warn)
		if err != nil {
			return "", nil, err
		}
	case c.getenv(envPassword) != "":
		password = []byte(c.getenv(envPassword))
	case c.tty != nil:
		if password, err = term.ReadPasswordBytes(c.tty, c.prompt, "Password for "+user+": "); err != nil {
			return "", nil, fmt.Errorf("%w: reading the password: %w", errUsage, err)
		}
	default:
		return "", nil, c.missing()
	}
	if len(password) > auth.MaxPasswordLen {
		clear(password)
		return "", nil, fmt.Errorf("%w: password longer than %d octets", errUsage, auth.MaxPasswordLen)
	}
	return user, password, nil
}

// readPasswordFile returns the first line of path, which the caller
// wipes. The file is read into one buffer, never grown, of which the
// line is a part; the rest of it is wiped, and all of it on failure. A
// file that others may read is used with a warning (on Unix; Windows
// files have no such mode).
func readPasswordFile(path string, warn io.Writer) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --password-file: %w", errUsage, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && unixFileModes && st.Mode().Perm()&0o077 != 0 && warn != nil {
		fmt.Fprintf(warn, "gateway dial: warning: %s is readable by other users (mode %#o)\n", path, st.Mode().Perm())
	}
	buf := make([]byte, maxPasswordFile+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		clear(buf)
		return nil, fmt.Errorf("%w: --password-file: %w", errUsage, err)
	}
	if n > maxPasswordFile {
		clear(buf)
		return nil, fmt.Errorf("%w: --password-file %s is longer than %d octets", errUsage, path, maxPasswordFile)
	}
	line, _, _ := bytes.Cut(buf[:n], []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	clear(buf[len(line):])
	if len(line) == 0 {
		return nil, fmt.Errorf("%w: --password-file %s: the first line is empty", errUsage, path)
	}
	return line, nil
}

// defaultKnownHosts is the known-hosts file when --known-hosts is not
// given: dialgate/known_hosts under the user's configuration directory,
// or "" and why when there is none ($HOME and $XDG_CONFIG_HOME unset, as
// for a system service without User=).
func defaultKnownHosts() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "dialgate", auth.KnownHostsFile), nil
}

// hostKeyCheck is the caller's decision about the gateway's static key,
// run by auth.Call before the password is asked for and sent.
type hostKeyCheck struct {
	host        string // host:port as dialled
	knownHosts  string // file
	tofu        bool
	fingerprint string // pinned for this call; "" none
	notice      io.Writer
}

func (h hostKeyCheck) check(pub []byte) error {
	kh, err := auth.LoadKnownHosts(h.knownHosts) // a missing file is an empty list
	if err != nil {
		return fmt.Errorf("%w: %w", errHostKey, err)
	}
	if h.fingerprint != "" {
		want, err := auth.ParseHostKeyID(h.fingerprint)
		if err != nil {
			return fmt.Errorf("%w: --fingerprint: %w", errHostKey, err)
		}
		if got := auth.Fingerprint(pub); got != want {
			return &pinMismatchError{got: got, want: want}
		}
		if len(kh.Lookup(h.host)) == 0 {
			if err := kh.Pin(h.host, want); err != nil {
				fmt.Fprintf(h.notice, "gateway dial: could not record the pinned key: %v\r\n", err)
			}
		}
		return nil
	}
	newly, err := kh.Check(h.host, pub, h.tofu)
	if err != nil {
		return err
	}
	if newly {
		fmt.Fprintf(h.notice, "%s\r\n", bytes.ReplaceAll([]byte(auth.NewHostNotice(h.host, pub, h.knownHosts)), []byte("\n"), []byte("\r\n")))
	}
	return nil
}

// pinMismatchError is a gateway whose key is not the one --fingerprint
// pins for the call. It is an errHostKey.
type pinMismatchError struct{ got, want string }

func (e *pinMismatchError) Error() string {
	return fmt.Sprintf("%v: the gateway offered %s, not the pinned %s", errHostKey, e.got, e.want)
}

func (e *pinMismatchError) Is(target error) bool { return target == errHostKey }
