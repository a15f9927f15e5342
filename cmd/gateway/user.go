package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/bridge"
	"github.com/dialgate/dialgate/internal/config"
	dterm "github.com/dialgate/dialgate/internal/term"
)

func init() {
	register(command{name: "user", summary: "manage the users file", run: runUser})
}

const userHelp = `Manage the users file that the gateway's logins are checked against.

actions:
  add USER      create an account; asks for the password
  passwd USER   set a new password
  set USER      change --callback, --backend, --disabled, --expires
                (with --config, --backend must name one of its backends)
  del USER      delete the account
  list          list accounts (never hashes or passwords)

Passwords are read from the terminal without echo and asked twice; with
--password-stdin one line is read from standard input instead (for scripts:
printf '%s\n' "$PW" | gateway user add --password-stdin alice). A password is
never printed. One holding a control character (tab, escape) or DEL is
refused: the text login drops them, so it could not be typed there.

The users file is the configuration's users_file (with --config), else
<state dir>/users.toml, where the state dir is $XDG_STATE_HOME/dialgate or
~/.local/state/dialgate (the same file "gateway serve" reads). It is written
atomically with mode 0600; send SIGHUP to a running gateway to reload it.
Commands that change it (add, passwd, set, del) take an exclusive lock on
<users file>.lock first, so several run at once (scripts) never lose each
other's changes; one that cannot get the lock within --lock-timeout
(default 10s) fails and changes nothing. A running gateway never waits for
the lock: it reads whole files only.

Users file format (TOML, parsed strictly: unknown keys, wrong types and bad
values are errors naming the line). One table per account, named
user.<ID>; IDs are 1-64 letters, digits, '.', '_' or '-', starting with a
letter or digit, case-sensitive; quote IDs that hold '.':

  [user.alice]
  hash = "$argon2id$v=19$m=65536,t=3,p=1$<salt>$<hash>"   # required
  backend = "bbs"                       # backend name; absent: the default
  callback = "telnet://192.0.2.7:2323"  # line URL to call back; absent: none
  disabled = true                       # deny every login
  expires = 2027-01-01                  # date (00:00 UTC) or 2027-01-01T12:00:00Z

  [user."j.doe"]
  hash = "..."

Comments other than the header are not kept when the command rewrites the
file.`

// userEnv is what the user command talks to; tests substitute it.
type userEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// readSecret reads one line without echo after printing prompt; nil
	// when standard input is not a terminal.
	readSecret func(prompt string) ([]byte, error)
	now        func() time.Time
}

func runUser(args []string) int {
	return userMain(args, userEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		readSecret: ttySecret(os.Stdin, os.Stderr), now: time.Now})
}

// ttySecret returns a reader of passwords from the terminal in (echo off
// while reading), prompting on w; nil when in is not a terminal. Ctrl-C
// (or SIGTERM, SIGHUP) at the prompt gives the terminal its echo back and
// fails the read, so the command ends having changed nothing.
func ttySecret(in *os.File, w io.Writer) func(prompt string) ([]byte, error) {
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	return func(prompt string) ([]byte, error) {
		saved, err := term.GetState(fd)
		if err != nil {
			return nil, err
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(sig)
		// The echo goes off here, before the prompt and the reader
		// start, so that a signal at any moment finds it off and the
		// restore below turns it back on. A reader that turned it off
		// itself could do so after that restore, and Ctrl-C typed the
		// instant the prompt appeared left the terminal without echo.
		restore, eerr := dterm.EchoOff(fd)
		fmt.Fprint(w, prompt)
		type result struct {
			b   []byte
			err error
		}
		got := make(chan result, 1)
		// A read of the terminal cannot be interrupted: after a signal
		// this goroutine stays in it until the process exits.
		go func() {
			if eerr == nil {
				// The echo is off already, and the modes are left
				// alone: ReadPasswordBytes turned the echo off again
				// here, which a goroutine scheduled late did after
				// the signal's restore below (CI, under -race).
				b, err := dterm.ReadSecretLine(in)
				got <- result{b, err}
				return
			}
			b, err := term.ReadPassword(fd) // systems without EchoOff
			got <- result{b, err}
		}()
		select {
		case r := <-got:
			if restore != nil {
				restore()
			}
			fmt.Fprintln(w)
			return r.b, r.err
		case s := <-sig:
			_ = term.Restore(fd, saved)
			fmt.Fprintln(w)
			return nil, fmt.Errorf("interrupted (%v)", s)
		}
	}
}

// userOpts holds the user command's flags.
type userOpts struct {
	configPath, usersPath string
	callback, backend     string
	disabled              bool
	expires               string
	passwordStdin         bool
	lockWait              time.Duration // how long to wait for another writer's lock
	argon2                auth.Argon2Params
	set                   map[string]bool // flags given on the command line
}

func userMain(args []string, env userEnv) int {
	fs := newFlagSet("user", "add|passwd|set|del|list [flags] [USER]", userHelp)
	var o userOpts
	fs.StringVar(&o.configPath, "config", "", "configuration file: take users_file and the argon2id costs from it")
	fs.StringVar(&o.usersPath, "users", "", "users file (default: the configuration's users_file, else <state dir>/users.toml)")
	fs.StringVar(&o.callback, "callback", "", "callback line URL, such as telnet://host:port (\"none\" or \"\" with set: no callback)")
	fs.StringVar(&o.backend, "backend", "", "backend name (\"\" with set: the default backend)")
	fs.BoolVar(&o.disabled, "disabled", false, "disable the account (set --disabled=false to enable)")
	fs.StringVar(&o.expires, "expires", "", "expiry: YYYY-MM-DD (00:00 UTC) or RFC 3339 time; \"never\" with set clears it")
	fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password as one line from standard input")
	fs.DurationVar(&o.lockWait, "lock-timeout", defaultUsersLockWait, "wait this long for another command changing the users file")
	t := fs.Uint("argon2-time", 0, "argon2id passes for the new hash (default: from the configuration, 3)")
	m := fs.Uint("argon2-memory", 0, "argon2id memory in KiB for the new hash (default: from the configuration, 65536)")
	p := fs.Uint("argon2-threads", 0, "argon2id lanes for the new hash (default: from the configuration, 1)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	// Flags may come before or after the action and USER.
	var pos []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		pos = append(pos, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return exitUsage
		}
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if o.callback == "none" {
		// As --expires never clears the expiry (new-user trial).
		o.callback = ""
	}

	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(env.stderr, "gateway user: "+format+"\n", a...)
		return code
	}
	if len(pos) == 0 {
		return fail(exitUsage, "missing action: add, passwd, set, del or list (see gateway user --help)")
	}
	action, pos := pos[0], pos[1:]
	if action == "list" {
		if len(pos) != 0 {
			return fail(exitUsage, "list takes no arguments")
		}
	} else if len(pos) != 1 {
		return fail(exitUsage, "%s needs exactly one USER", action)
	}
	switch action {
	case "add", "passwd", "set", "del", "list":
	default:
		return fail(exitUsage, "unknown action %q: want add, passwd, set, del or list", action)
	}

	for name := range o.set {
		attr := name == "callback" || name == "backend" || name == "disabled" || name == "expires"
		secret := name == "password-stdin" || strings.HasPrefix(name, "argon2-")
		if attr && action != "add" && action != "set" || secret && action != "add" && action != "passwd" {
			return fail(exitUsage, "--%s does not apply to %s", name, action)
		}
	}

	// Defaults follow the configuration "gateway serve" would use.
	cfg := config.Demo()
	if o.configPath != "" {
		var err error
		if cfg, err = config.LoadSettings(o.configPath); err != nil {
			return fail(exitFailure, "%v", err)
		}
	}
	if o.usersPath == "" {
		o.usersPath = cfg.UsersFile
	}
	o.usersPath = config.CleanPath(o.usersPath)
	if o.configPath != "" && o.backend != "" && !backendDefined(cfg, o.backend) {
		// A typo here would let the user log in and then hang up on
		// them with "service not available".
		return fail(exitUsage, "--backend %q: %s defines no such backend (it has %s)", o.backend, o.configPath, backendNames(cfg))
	}
	if o.configPath != "" && o.callback != "" {
		if l, ok := callbackToSelf(cfg, o.callback); ok {
			// gateway check warned only afterwards (callback trial).
			return fail(exitUsage, "--callback %q is %s's listener %q: the callback would call the gateway itself, and fail; give the caller's own line address", o.callback, o.configPath, l)
		}
	}
	o.argon2 = auth.Argon2Params{Time: cfg.Security.Argon2Time, MemoryKiB: cfg.Security.Argon2MemoryKiB, Threads: cfg.Security.Argon2Threads}
	if *t != 0 {
		o.argon2.Time = uint32(min(*t, 1<<31))
	}
	if *m != 0 {
		o.argon2.MemoryKiB = uint32(min(*m, 1<<31))
	}
	if *p != 0 {
		o.argon2.Threads = uint8(min(*p, 255))
	}

	var err error
	var code int
	switch action {
	case "list":
		code, err = userList(o, env)
	case "add":
		code, err = userAdd(pos[0], o, env)
	case "passwd":
		code, err = userPasswd(pos[0], o, env)
	case "set":
		code, err = userSet(pos[0], o, env)
	case "del":
		code, err = userDel(pos[0], o, env)
	}
	if err != nil {
		// auth's messages (a users file's problems, one a line) without
		// its prefix: after "gateway user: " it says nothing.
		return fail(code, "%v", authMessage{err})
	}
	if t, err := parseExpiry(o.expires); o.set["expires"] && err == nil && !t.IsZero() && !t.After(env.now()) {
		// New-user trial: --expires 2020-01-01 said only "updated".
		fmt.Fprintf(env.stderr, "gateway user: warning: %s expired at %s, which has passed: its logins are refused until --expires is set later (or to never)\n", pos[0], t.UTC().Format(time.RFC3339))
	}
	if stateDir := config.CleanPath(cfg.StateDir); action != "list" && o.usersPath == config.CleanPath(cfg.UsersFile) && gatewayRunning(stateDir) {
		// New-user trial: an account added while the gateway ran was
		// denied as an unknown user, and nothing said it needed a
		// reload first.
		fmt.Fprintf(env.stderr, "gateway user: the gateway running with state_dir %s has the users it loaded before: reload it to apply this (systemctl reload gateway, or kill -HUP PID)\n", stateDir)
	}
	return exitOK
}

// loadUsersFile loads the users file to edit it (auth.LoadUsersToEdit:
// root may edit the service user's file); a missing one is empty when
// mayCreate.
func loadUsersFile(path string, mayCreate bool) (*auth.Users, error) {
	u, err := auth.LoadUsersToEdit(path)
	if mayCreate && errors.Is(err, fs.ErrNotExist) {
		return auth.NewUsers(), nil
	}
	return u, err
}

// authMessage is an error of package auth as gateway user says it: the
// message without the package's "auth: " prefix, on each of its lines
// (a users file's problems), nor ErrBadUser's words after a validation
// error, the error itself for errors.Is and errors.As. Other errors read
// as they are.
type authMessage struct{ err error }

func (e authMessage) Error() string {
	s := strings.TrimPrefix(e.err.Error(), "auth: ")
	s = strings.TrimSuffix(s, ": "+auth.ErrBadUser.Error()) // "user ID ...: auth: invalid user entry"
	return strings.ReplaceAll(s, "\nauth: ", "\n")
}
func (e authMessage) Unwrap() error { return e.err }

// applyAttrs sets the account attributes given as flags on usr.
func applyAttrs(usr *auth.User, o userOpts) error {
	if o.set["callback"] {
		if err := auth.ValidCallback(o.callback); err != nil {
			return authMessage{err}
		}
		if why := callbackProblem(o.callback); o.callback != "" && why != "" {
			return fmt.Errorf("callback address %q: %s", o.callback, why)
		}
		usr.Callback = o.callback
	}
	if o.set["backend"] {
		usr.Backend = o.backend
	}
	if o.set["disabled"] {
		usr.Disabled = o.disabled
	}
	if o.set["expires"] {
		t, err := parseExpiry(o.expires)
		if err != nil {
			return err
		}
		usr.Expires = t
	}
	return nil
}

// parseExpiry accepts YYYY-MM-DD (00:00 UTC), an RFC 3339 time, or
// "never"/"" (no expiry).
func parseExpiry(s string) (time.Time, error) {
	switch s {
	case "", "never":
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires %q: want YYYY-MM-DD, an RFC 3339 time such as 2027-01-01T12:00:00Z, or never", s)
	}
	return t, nil
}

func userAdd(id string, o userOpts, env userEnv) (int, error) {
	usr := auth.User{ID: id}
	if err := applyAttrs(&usr, o); err != nil {
		return exitUsage, err
	}
	if err := auth.ValidUserID(id); err != nil {
		return exitUsage, err
	}
	// Checked before asking for the password, and again under the lock.
	users, err := loadUsersFile(o.usersPath, true)
	if err != nil {
		return exitFailure, err
	}
	if _, ok := users.Lookup(id); ok {
		return exitFailure, errUserExists(id, o)
	}
	pw, err := readNewPassword(id, o, env)
	if err != nil {
		return exitFailure, err
	}
	// Hashing takes a while: done before the lock is taken.
	if usr.Hash, err = auth.HashPassword(pw, o.argon2); err != nil {
		return exitFailure, err
	}
	code, err := editUsersFile(o.usersPath, o.lockWait, true, func(users *auth.Users) (int, error) {
		if _, ok := users.Lookup(id); ok {
			return exitFailure, errUserExists(id, o)
		}
		return exitFailure, users.Add(usr)
	})
	if err != nil {
		return code, err
	}
	fmt.Fprintf(env.stdout, "added user %s to %s\n", id, o.usersPath)
	return exitOK, nil
}

func errUserExists(id string, o userOpts) error {
	return fmt.Errorf("user %q already exists in %s (use passwd or set)", id, o.usersPath)
}

func errNoUser(id string, o userOpts) error {
	return fmt.Errorf("no user %q in %s", id, o.usersPath)
}

func userPasswd(id string, o userOpts, env userEnv) (int, error) {
	users, err := loadUsersFile(o.usersPath, false)
	if err != nil {
		return exitFailure, err
	}
	if _, ok := users.Lookup(id); !ok {
		return exitFailure, errNoUser(id, o)
	}
	pw, err := readNewPassword(id, o, env)
	if err != nil {
		return exitFailure, err
	}
	hash, err := auth.HashPassword(pw, o.argon2)
	if err != nil {
		return exitFailure, err
	}
	code, err := editUsersFile(o.usersPath, o.lockWait, false, func(users *auth.Users) (int, error) {
		usr, ok := users.Lookup(id)
		if !ok {
			return exitFailure, errNoUser(id, o)
		}
		usr.Hash = hash
		return exitFailure, users.Update(usr)
	})
	if err != nil {
		return code, err
	}
	fmt.Fprintf(env.stdout, "changed the password of %s in %s\n", id, o.usersPath)
	return exitOK, nil
}

func userSet(id string, o userOpts, env userEnv) (int, error) {
	if !o.set["callback"] && !o.set["backend"] && !o.set["disabled"] && !o.set["expires"] {
		return exitUsage, errors.New("set needs at least one of --callback, --backend, --disabled, --expires")
	}
	code, err := editUsersFile(o.usersPath, o.lockWait, false, func(users *auth.Users) (int, error) {
		usr, ok := users.Lookup(id)
		if !ok {
			return exitFailure, errNoUser(id, o)
		}
		if err := applyAttrs(&usr, o); err != nil {
			return exitUsage, err
		}
		return exitFailure, users.Update(usr)
	})
	if err != nil {
		return code, err
	}
	fmt.Fprintf(env.stdout, "updated user %s in %s\n", id, o.usersPath)
	return exitOK, nil
}

func userDel(id string, o userOpts, env userEnv) (int, error) {
	code, err := editUsersFile(o.usersPath, o.lockWait, false, func(users *auth.Users) (int, error) {
		if err := users.Delete(id); err != nil {
			return exitFailure, errNoUser(id, o)
		}
		return exitOK, nil
	})
	if err != nil {
		return code, err
	}
	fmt.Fprintf(env.stdout, "deleted user %s from %s\n", id, o.usersPath)
	return exitOK, nil
}

func userList(o userOpts, env userEnv) (int, error) {
	users, err := loadUsersFile(o.usersPath, false)
	if err != nil {
		return exitFailure, err
	}
	now := env.now()
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tSTATUS\tEXPIRES\tBACKEND\tCALLBACK")
	for _, u := range users.List() {
		status := "active"
		switch {
		case u.Disabled:
			status = "disabled"
		case u.Expired(now):
			status = "expired"
		}
		exp := "never"
		if !u.Expires.IsZero() {
			exp = u.Expires.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, status, exp, dash(u.Backend), dash(u.Callback))
	}
	if err := tw.Flush(); err != nil {
		return exitFailure, err
	}
	return exitOK, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readNewPassword reads the new password: one line from standard input
// with --password-stdin, else twice from the terminal without echo.
func readNewPassword(id string, o userOpts, env userEnv) (string, error) {
	var pw string
	if o.passwordStdin {
		line, err := bufio.NewReaderSize(io.LimitReader(env.stdin, auth.MaxPasswordLen+3), auth.MaxPasswordLen+3).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", errors.New("--password-stdin: no password line on standard input")
		}
		if !strings.HasSuffix(line, "\n") && len(line) > auth.MaxPasswordLen {
			return "", fmt.Errorf("password longer than %d octets", auth.MaxPasswordLen)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	} else {
		if env.readSecret == nil {
			return "", errors.New("standard input is not a terminal: use --password-stdin to read the password from it")
		}
		first, err := env.readSecret(fmt.Sprintf("New password for %s: ", id))
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		again, err := env.readSecret("Retype the password: ")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if string(first) != string(again) {
			return "", errors.New("the passwords do not match; nothing changed")
		}
		pw = string(first)
		clear(first)
		clear(again)
	}
	switch {
	case pw == "":
		return "", errors.New("empty password refused")
	case len(pw) > auth.MaxPasswordLen:
		return "", fmt.Errorf("password longer than %d octets", auth.MaxPasswordLen)
	}
	if i := bridge.TextLoginDrops(pw); i >= 0 {
		// Access Security would carry it, but a caller could never
		// type it at the text login, whose line editor drops it
		// (security review: "pass\tword123" went in, and neither it
		// nor "password123" then logged in at the login: prompt).
		return "", fmt.Errorf("the password holds octet 0x%02x (at octet %d), which the text login drops (control characters such as tab or escape, DEL, and 0x80-0x9f as the first octet): it could never be typed at the login: prompt; choose another", pw[i], i+1)
	}
	if utf8.RuneCountInString(pw) < weakPasswordLen {
		// Taken (the operator decides), but said: a text login can be
		// guessed at, throttled or not (operator trial: a one-letter
		// password went in without a word).
		fmt.Fprintf(env.stderr, "gateway user: warning: a password of %d characters is easy to guess at a text login; use %d or more\n", utf8.RuneCountInString(pw), weakPasswordLen)
	}
	return pw, nil
}

// weakPasswordLen is the length below which gateway user warns about a
// new password.
const weakPasswordLen = 8
