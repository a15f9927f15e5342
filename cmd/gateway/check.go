package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"net/netip"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
)

func init() {
	register(command{name: "check", summary: "validate a configuration file without starting", run: runCheck})
}

func runCheck(args []string) int {
	fs := newFlagSet("check", "[FILE]", `Validate a configuration file (default: config.toml) and report every
problem with file:line:column, then read the users file it names and
the host key in its state_dir (if there is one yet) as gateway serve
does. Exit 0 when all are valid; warnings (a pty backend's
program missing, text login in clear beyond loopback, a users file other
users can read, an account whose backend the configuration does not
define) are printed but do not fail the check. A users file other
users can write fails it, as does a users file or host key owned by a
user other than root and the checking user, or in a directory such a
user (or every user) may replace files in: gateway serve would refuse
them. Run as root with a state_dir that exists and is not root's (the
service user's), the check reports what depends on the gateway's user
(another user's file or directory) as a warning, and its last line says
that it judged for a gateway running as the state_dir's owner and what
gateway serve run as root would refuse: run it as the gateway's user
to judge those (runuser -u USER -- gateway check FILE). A state_dir not made yet is taken to be root's (the
gateway run as root would make it).`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "gateway check: at most one FILE")
		return exitUsage
	}
	path := "config.toml"
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	c, err := config.Load(path)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				fmt.Fprintln(os.Stderr, p.Error())
			}
			fmt.Fprintf(os.Stderr, "gateway check: %s: %d problem(s)\n", path, len(ps))
		} else if fs.NArg() == 0 && errors.Is(err, iofs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "gateway check: %v (name the file: gateway check FILE)\n", err)
		} else if errors.Is(err, iofs.ErrPermission) {
			// New-user trial: no hint.
			fmt.Fprintf(os.Stderr, "gateway check: %v (user %s may not read it, nor would a gateway running as that user: %s)\n", err, currentUserName(), configReadFix(path))
		} else {
			fmt.Fprintf(os.Stderr, "gateway check: %v\n", err)
		}
		return exitFailure
	}
	warnings := c.Warnings()
	// What this system cannot do (pty backends, serve on Windows).
	platformWarnings, failed := platformProblems(c)
	warnings = append(warnings, platformWarnings...)
	if err := stateDirUnusable(c.StateDir, "the check", "gateway check "+path); err != nil {
		failed = append(failed, err)
	}
	if why := logFileProblem(c.Log.File, c.StateDir); why != "" {
		failed = append(failed, fmt.Errorf("[log] file %s: %s: gateway serve run as %s could not start", c.Log.File, why, currentUserName()))
	}
	// Refusals reported as warnings because the gateway may run as the
	// state directory's owner (unsafeForOtherUser); the last line names
	// them.
	var forOwner []string
	users, err := auth.LoadUsers(c.UsersFile)
	switch {
	case gatewayCannotRead(err, "users file", c.UsersFile, c.StateDir, &failed):
	case err == nil:
		// A users file other users can read; accounts whose backend
		// the configuration lacks.
		warnings = append(warnings, users.Warnings()...)
		warnings = append(warnings, userBackendWarnings(c, users)...)
	case errors.Is(err, iofs.ErrNotExist):
		// c.Warnings says so and how to add a user; but not when
		// that user could not (new-user trial: a users_file beside
		// the configuration, where only root may write).
		if dir := filepath.Dir(c.UsersFile); dirExists(dir) && !mayWriteIn(dir) {
			warnings = append(warnings, fmt.Sprintf("users_file %s: user %s may not write in %s, so gateway user add run as this user cannot create it; keep users_file in state_dir (the default), which the gateway's user owns", c.UsersFile, currentUserName(), dir))
		} else if up := existingParent(dir); !dirExists(dir) && up != "" && !mayWriteIn(up) {
			// Trial: the example's users_file kept after state_dir
			// was changed; user add then failed at its mkdir.
			warnings = append(warnings, fmt.Sprintf("users_file %s: its directory %s does not exist, and user %s may not create it in %s, so gateway user add run as this user cannot create the file; keep users_file in state_dir (the default), which the gateway's user owns", c.UsersFile, dir, currentUserName(), up))
		}
	case errors.Is(err, iofs.ErrPermission):
		// The operator may check the file as another user than the
		// gateway's, which alone may read the users file.
		warnings = append(warnings, fmt.Sprintf("users file %s not checked: %s may not read it (%sa gateway running as %s would not start)", c.UsersFile, currentUserName(), asGatewayUser(c.StateDir), currentUserName()))
	case unsafeForOtherUser(err, c.StateDir):
		warnings = append(warnings, notForThisUser(err, c.StateDir, path))
		forOwner = append(forOwner, refusedWhy(err))
	default:
		// gateway serve would not start with it.
		failed = append(failed, err)
	}
	// The store's files, which serve opens for writing: ones a gateway
	// run as root left there (new-user trial: the check said ok, and
	// serve stopped at calls.jsonl). Root may write them all; the check
	// run as root judges its own gateway.
	if os.Geteuid() != 0 {
		for _, name := range []string{"session.next", "calls.jsonl", "store.lock"} {
			p := filepath.Join(c.StateDir, name)
			if _, err := os.Lstat(p); err == nil && !mayWrite(p) {
				me := currentUserName()
				failed = append(failed, fmt.Errorf("state_dir %s: user %s may not write %s: gateway serve run as %s could not start (as root: chown -R %s %s)", c.StateDir, me, name, me, currentLogin(), c.StateDir))
				break
			}
		}
	}
	// The host key as gateway serve loads it (its owner, its mode, the
	// state directory's); a missing one serve creates.
	key, err := auth.LoadHostKey(c.StateDir)
	if err == nil {
		key.Wipe()
	}
	switch {
	case gatewayCannotRead(err, "host key", filepath.Join(c.StateDir, auth.HostKeyFile), c.StateDir, &failed):
	case err == nil:
	case errors.Is(err, iofs.ErrNotExist):
	case errors.Is(err, iofs.ErrPermission):
		warnings = append(warnings, fmt.Sprintf("host key in %s not checked: %s may not read it (%sa gateway running as %s would not start)", c.StateDir, currentUserName(), asGatewayUser(c.StateDir), currentUserName()))
	case unsafeForOtherUser(err, c.StateDir):
		warnings = append(warnings, notForThisUser(err, c.StateDir, path))
		forOwner = append(forOwner, refusedWhy(err))
	default:
		failed = append(failed, err)
	}
	if len(failed) > 0 {
		for _, w := range warnings {
			fmt.Fprintf(os.Stderr, "%s: warning: %s\n", path, w)
		}
		for _, err := range failed {
			fmt.Fprintf(os.Stderr, "gateway check: %v\n", err)
		}
		return exitFailure
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "%s: warning: %s\n", path, w)
	}
	if len(forOwner) > 0 {
		fmt.Printf("%s: ok only for a gateway running as %s, the owner of state_dir %s (%d listener(s), %d backend(s)); run as root, gateway serve would refuse to start: %s\n", path, stateDirOwner(c.StateDir), c.StateDir, len(c.Listeners), len(c.Backends), strings.Join(forOwner, "; "))
		return exitOK
	}
	fmt.Printf("%s: ok (%d listener(s), %d backend(s), state in %s)\n", path, len(c.Listeners), len(c.Backends), c.StateDir)
	return exitOK
}

// backendDefined reports whether name is a backend calls can reach: one
// the configuration defines, or the built-in demo.
func backendDefined(c *config.Config, name string) bool {
	_, ok := c.Backend(name)
	return ok || name == "demo"
}

// backendNames lists the backends c defines, for messages.
func backendNames(c *config.Config) string {
	names := []string{}
	for _, b := range c.Backends {
		names = append(names, b.Name)
	}
	if !slices.Contains(names, "demo") {
		names = append(names, "demo")
	}
	return strings.Join(names, ", ")
}

// userBackendWarnings names the accounts whose backend c does not define
// (a typo in "gateway user set --backend", a backend renamed or removed):
// such a user's login succeeds and the call then ends with "NO CARRIER
// (service ... is not available)"; those whose callback cannot work; and
// those whose password hash the verifier will not run (auth.User.TooCostly).
//
// The fixes they suggest name the configuration (--config), as gateway
// user would otherwise change the users file of the demo's configuration.
func userBackendWarnings(c *config.Config, users *auth.Users) []string {
	set := "gateway user set"
	if c.File != "" {
		set += " --config " + c.File
	}
	var ws []string
	var costly []string
	for _, u := range users.List() {
		if u.TooCostly(c.Security.MaxHashing, c.Security.Argon2MemoryKiB) {
			costly = append(costly, u.ID)
		}
		if u.Backend != "" && !backendDefined(c, u.Backend) {
			ws = append(ws, fmt.Sprintf("user %s has backend %q, which the configuration does not define (it has %s): their calls will fail; fix it with %s --backend NAME %s", u.ID, u.Backend, backendNames(c), set, u.ID))
		}
		if u.Callback != "" {
			if why := callbackProblem(u.Callback); why != "" {
				ws = append(ws, fmt.Sprintf("user %s has callback %q: %s; their logins are promised a callback that fails; fix it with %s --callback URL %s", u.ID, u.Callback, why, set, u.ID))
			} else if l, ok := callbackToSelf(c, u.Callback); ok {
				ws = append(ws, fmt.Sprintf("user %s has callback %q, which is this gateway's listener %q: the callback would call the gateway itself, and fail; fix it with %s --callback URL %s", u.ID, u.Callback, l, set, u.ID))
			}
		}
	}
	if n := len(costly); n > 0 {
		if n > 10 {
			costly = append(costly[:10], fmt.Sprintf("and %d more", n-10))
		}
		// Operator trial: lowering argon2_memory_kib as the memory
		// advice says locked every older account out without a word.
		ws = append(ws, fmt.Sprintf("%d user(s) have a password hash that needs more argon2id memory than [security] max_hashing (%d) x argon2_memory_kib (%d KiB) allows at once: every login of theirs is denied, whatever the password (%s); raise argon2_memory_kib or max_hashing, or set new passwords (gateway user passwd NAME)",
			n, c.Security.MaxHashing, c.Security.Argon2MemoryKiB, strings.Join(costly, ", ")))
	}
	return ws
}

// callbackToSelf finds the listener of c that the callback address addr
// would reach on this machine: the same port, and a host that listener
// takes (listenerTakes). (Another machine's address on a port the gateway
// also uses is not told from this machine's; it is not reported.)
func callbackToSelf(c *config.Config, addr string) (string, bool) {
	u, err := url.Parse(addr)
	if err != nil {
		return "", false
	}
	// However written: LOCALHOST, localhost., port 02423 (security
	// trial).
	h, p := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), portNumber(u.Port())
	for _, l := range c.Listeners {
		lu, err := url.Parse(l.Address)
		if err != nil || p < 0 || portNumber(lu.Port()) != p {
			continue
		}
		if listenerTakes(lu.Hostname(), h) {
			return l.Name, true
		}
	}
	return "", false
}

// portNumber is a URL's port as a number, -1 if it has none.
func portNumber(p string) int {
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return -1
	}
	return int(n)
}

// listenerTakes reports whether a listener on host lh (as
// internal/listenaddr listens) takes a call to host h of this machine:
// the same host, or a loopback h and a listener on every address of its
// family (0.0.0.0 is IPv4 only, [::] and an empty host take both), or
// "localhost" on either side, which may be either family's loopback.
func listenerTakes(lh, h string) bool {
	if strings.EqualFold(h, lh) || lh == "" {
		return true
	}
	if !config.LoopbackHost(h) {
		return false
	}
	lip, err := netip.ParseAddr(lh)
	if err != nil {
		return strings.EqualFold(lh, "localhost")
	}
	lip = lip.Unmap()
	hip, err := netip.ParseAddr(h)
	if err != nil {
		return lip.IsLoopback() || lip.IsUnspecified() // h is localhost
	}
	hip = hip.Unmap()
	if lip.IsUnspecified() {
		return lip.Is6() || hip.Is4()
	}
	return hip == lip
}

// callbackProblem says why the callback service cannot call back a
// callback address that auth.ValidCallback takes ("" if it can): it dials
// telnet:// and tcp:// lines (auth takes no path, so no ws:// line), and
// an unspecified host (0.0.0.0, ::), an address to listen on, would
// reach the gateway's own machine.
func callbackProblem(addr string) string {
	u, err := url.Parse(addr)
	if err != nil {
		return "not a URL"
	}
	if u.Scheme != "telnet" && u.Scheme != "tcp" {
		return fmt.Sprintf("the callback service calls telnet:// and tcp:// addresses, not %s://", u.Scheme)
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return "" // a name
	}
	switch bare := ip.Unmap(); {
	case bare.IsUnspecified():
		return fmt.Sprintf("%s is an address to listen on, not one to call (it would reach this machine)", u.Hostname())
	case bare.IsMulticast():
		return fmt.Sprintf("%s is a multicast address: a call goes to one host", u.Hostname())
	case bare.Is6() && bare.IsLinkLocalUnicast() && bare.Zone() == "":
		return fmt.Sprintf("%s is a link-local address: name the interface to call it on (telnet://[%s%%25eth0]:PORT)", u.Hostname(), u.Hostname())
	}
	return ""
}

// unsafeForOtherUser reports whether err refuses a file or directory
// for its owner or group (auth.UnsafePathError.ForUser) while the check
// runs as root and stateDir exists and is not root's. Operators usually
// run the check as root (sudo), not as the gateway's user, and the owner
// of the state directory is then the best sign of the gateway's user:
// the service user's own files (/var/lib/dialgate owned by dialgate,
// 0700) would otherwise fail every such check. So with a state directory
// of another user the refusal, which holds for a gateway running as
// root, is a warning (and the check's last line says so); with root's
// state directory, or none yet (the gateway run as root would make it,
// root's), the gateway runs as root, and the check fails as gateway
// serve would. Run as any other user the check judges as that user's
// gateway would, and fails.
func unsafeForOtherUser(err error, stateDir string) bool {
	u, ok := auth.AsUnsafePath(err)
	if !ok || !u.ForUser || os.Geteuid() != 0 {
		return false
	}
	uid, _, ok := fileOwner(stateDir)
	return ok && uid != 0
}

// gatewayCannotRead adds to failed, and reports, that the gateway's user,
// the owner of stateDir, could not read path (the what: users file or
// host key), which the check loaded with err: the check runs as that user
// and was refused, or runs as root and path's owner and mode keep that
// user out (unreadableByOwner), whether root's own read was refused or
// not (trial and retest: "ok", then serve stopped with permission
// denied).
func gatewayCannotRead(err error, what, path, stateDir string, failed *[]error) bool {
	uid, _, ok := fileOwner(stateDir)
	switch {
	case !ok:
		return false
	case uid == os.Geteuid() && errors.Is(err, iofs.ErrPermission):
		me := currentUserName()
		*failed = append(*failed, fmt.Errorf("%s %s: %s, the owner of state_dir, may not read it: gateway serve running as %s would not start (%w)", what, path, me, me, err))
		return true
	case uid != 0 && os.Geteuid() == 0:
		if why := unreadableByOwner(path, stateDir); why != "" {
			*failed = append(*failed, fmt.Errorf("%s %s", what, why))
			return true
		}
	}
	return false
}

// unreadableByOwner says why the owner of stateDir, the gateway's user
// when the check runs as root (see unsafeForOtherUser), could not read
// path, or "" if it could or that is not known: path is another user's
// and grants no group or other read, or is its own without owner read.
// (Group membership is not guessed: a group-readable file passes.)
func unreadableByOwner(path, stateDir string) string {
	duid, _, ok := fileOwner(stateDir)
	fuid, _, fok := fileOwner(path)
	fi, err := os.Stat(path)
	if !ok || !fok || err != nil {
		return ""
	}
	m := fi.Mode().Perm()
	if fuid == duid && m&0o400 != 0 || fuid != duid && m&0o044 != 0 {
		return ""
	}
	owner := stateDirOwner(stateDir)
	return fmt.Sprintf("%s (owner uid %d, mode %04o) is not readable by %s, the owner of state_dir: gateway serve running as that user would not start (chown %s %s; chmod 0600 %s)",
		path, fuid, m, owner, stateDirUser(stateDir), path, path)
}

// notForThisUser is the warning for an error unsafeForOtherUser accepts,
// the check of configuration file path run as root. The refusal's own
// advice ("run chown root DIR") holds for a gateway running as root
// only: given to the service user's state directory it would lock that
// gateway out, so the warning leaves it out and says to run the check as
// the state directory's owner instead (as keygen does).
func notForThisUser(err error, stateDir, path string) string {
	msg := err.Error()
	const refused = "so it is not used"
	if i := strings.Index(msg, refused+"; "); i >= 0 {
		msg = msg[:i+len(refused)]
	}
	return fmt.Sprintf("%s; a gateway running as root does not start with it, one running as %s, the owner of state_dir, may (leave the ownership as it is for that gateway); run the check as the gateway's user to judge it for that user: runuser -u %s -- gateway check %s",
		msg, stateDirOwner(stateDir), stateDirUser(stateDir), path)
}

// refusedWhy is what a refusal unsafeForOtherUser accepts says in
// short, for the check's last line: the path and who else may change
// it ("/etc/dialgate/users.toml is owned by nobody (uid 65534)").
func refusedWhy(err error) string {
	u, _ := auth.AsUnsafePath(err)
	why, _, _ := strings.Cut(u.Reason, ": ")
	why, _, _ = strings.Cut(why, ", not by ")
	return u.Path + " " + why
}

// stateDirOwner names the owner of dir, for the check's last line.
func stateDirOwner(dir string) string {
	uid, _, ok := fileOwner(dir)
	if !ok {
		return "its owner"
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// stateDirUser is the login name of dir's owner, for a command line
// (runuser -u NAME), else "USER".
func stateDirUser(dir string) string {
	if uid, _, ok := fileOwner(dir); ok {
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
			return u.Username
		}
	}
	return "USER"
}

// currentUserName names the user this process runs as, for messages
// about files it may not read: the login name, else the uid.
func currentUserName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

// currentLogin names the user this process runs as for a command line
// (install -o, chown): the login name, else the numeric uid.
func currentLogin() string {
	return strings.TrimPrefix(currentUserName(), "uid ")
}

// logFileProblem says why this process could not open path as its log
// file ([log] file), "" if it could (or none is set): gateway serve
// creates the file, not its directory. The directory's advised owner is
// this user, or for root the state directory's owner (the gateway's).
func logFileProblem(path, stateDir string) string {
	if path == "" {
		return ""
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(path)
	switch {
	case err == nil && !st.Mode().IsRegular():
		return "not a regular file"
	case err == nil && !mayWrite(path):
		return "user " + currentUserName() + " may not write it"
	case err == nil:
		return ""
	case !errors.Is(err, iofs.ErrNotExist):
		return err.Error()
	}
	if !dirExists(dir) {
		owner := currentLogin()
		if u := stateDirUser(stateDir); os.Getuid() == 0 && u != "USER" {
			owner = u
		}
		return "its directory " + dir + " does not exist (install -d -m 0750 -o " + owner + " " + dir + "; under systemd, LogsDirectory= makes it)"
	}
	if !mayWriteIn(dir) {
		return "user " + currentUserName() + " may not create it in " + dir
	}
	return ""
}

// configReadFix is how to let the gateway's user read the configuration
// file path (gateway check's and gateway serve's words).
func configReadFix(path string) string {
	return "give the file to the gateway's group, chgrp GROUP " + path + "; chmod 0640 " + path
}

// stateDirUnusable is gateway check's and gateway serve's error for a
// state_dir this process could not use (stateDirProblem), naming what
// to do, or nil. who and command are what to run as the directory's
// owner when it is another user's ("the check", "gateway check FILE").
func stateDirUnusable(dir, who, command string) error {
	why, anyone := stateDirProblem(dir)
	switch {
	case anyone:
		return fmt.Errorf("state_dir %s: %s: gateway serve could not start, whoever runs it", dir, why)
	case why == "":
		return nil
	}
	// Only a user other than root gets here (root may write anywhere):
	// the gateway's user, as the docs and the unit run the check, whose
	// gateway could not start (operator trial: a warning, exit 0, and
	// the service looped on restarts).
	login := currentLogin()
	elsewise := "; for a gateway that runs as another user, run " + who + " as that user"
	var fix string
	switch owner, _, ok := fileOwner(dir); {
	case ok && owner != 0 && owner != os.Getuid():
		// Another user's state directory, most likely the gateway's
		// own: a chown to the checking user would lock that gateway
		// out (review).
		fix = "it is " + stateDirOwner(dir) + "'s: run " + who + " as that user"
		if name := stateDirUser(dir); name != "USER" {
			fix += ", runuser -u " + name + " -- " + command
		}
	case ok:
		fix = "as root: chown " + login + " " + dir + elsewise
	default:
		fix = "as root: install -d -m 0700 -o " + login + " " + dir + elsewise
	}
	return fmt.Errorf("state_dir %s: %s: gateway serve run as %s could not start (%s)", dir, why, currentUserName(), fix)
}

// stateDirProblem says why this process could not use dir as its state
// directory, "" if it could: dir must be a directory it may write in, or
// not exist yet in a directory it may write in (gateway serve creates it).
// anyone is set when no user could either: the directory (or the one
// it would be made in) is on a read-only file system.
func stateDirProblem(dir string) (why string, anyone bool) {
	for d := dir; ; {
		st, err := os.Stat(d)
		switch {
		case err == nil && !st.IsDir():
			return d + " is not a directory", true
		case err == nil && pseudoFS(d) != "":
			if d == dir {
				return "it is on " + pseudoFS(d) + ", a kernel file system that holds no files of ours", true
			}
			return "it does not exist, and " + d + ", where it would be made, is on " + pseudoFS(d) + ", a kernel file system where no directory can be made", true
		case err == nil && readOnlyFS(d):
			if d == dir {
				return "it is on a read-only file system", true
			}
			return "it does not exist, and " + d + ", where it would be made, is on a read-only file system", true
		case err == nil && !mayWriteIn(d):
			if d == dir {
				return "user " + currentUserName() + " may not write in it", false
			}
			return "it does not exist, and user " + currentUserName() + " may not create it in " + d, false
		case err == nil:
			return "", false
		case !errors.Is(err, iofs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return err.Error(), false
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}

// asGatewayUser is the advice to run the check as the gateway's user,
// the state directory's owner, followed by "; ": "" when this process is
// that user, or the directory is root's while this process is not (then
// the state_dir's own problem says what to change). New-user trial: the
// advice went round in a circle.
func asGatewayUser(stateDir string) string {
	uid, _, ok := fileOwner(stateDir)
	switch {
	case !ok:
		return "run the check as the gateway's user; "
	case uid == os.Getuid() || uid == 0:
		return ""
	}
	if u := stateDirUser(stateDir); u != "USER" {
		return "run the check as the gateway's user, runuser -u " + u + " -- gateway check; "
	}
	return "run the check as the gateway's user; "
}

// existingParent is the nearest directory above dir that exists, or "".
func existingParent(dir string) string {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if dirExists(d) {
			return d
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

// dirExists reports whether dir is a directory.
func dirExists(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}
