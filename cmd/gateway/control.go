package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"
	"go.uber.org/zap"

	"github.com/dialgate/dialgate/bridge"
	"github.com/dialgate/dialgate/callbackd"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
)

// The operator's control socket: gateway serve listens on it in its
// state_dir, and gateway calls and gateway hangup talk to the running
// gateway through it (HTTP over a Unix socket:
// curl --unix-socket DIR/control.sock http://dialgate/calls).
//
// Who may use it is who may enter the state_dir: the gateway makes the
// directory 0700 (and refuses one that others may write in), and the
// socket itself is 0600, so the gateway's own user and root, the users
// who could read its call records and host key anyway.
const controlSocketName = "control.sock"

// maxSocketPath bounds a Unix socket's path (sun_path is 108 octets on
// Linux, 104 on the BSDs and macOS, with its terminating NUL).
const maxSocketPath = 103

// callControl is what the control socket needs of the gateway.
type callControl interface {
	Calls() []bridge.CallInfo
	HangUp(session uint64) error
}

// callbackControl is the callback service as the control socket sees it
// (callbackd.Service): the callbacks not placed yet, and withdrawing one.
type callbackControl interface {
	Jobs() []callbackd.Waiting
	Withdraw(session uint64, why string) bool
}

// callbackInfo is a callback waiting to be placed (or being dialled or
// proved), as gateway calls lists it.
type callbackInfo struct {
	Session uint64    `json:"session"`
	User    string    `json:"user"`
	Address string    `json:"address"`
	Mode    string    `json:"mode"`
	Since   time.Time `json:"since"` // the login that asked for it
	// State: delay, retry-wait, line-wait or calling (callbackd.JobState);
	// Attempt: the attempt it waits for or makes.
	State   string `json:"state"`
	Attempt int    `json:"attempt"`
}

// controlSocket is the control socket, listening from before the gateway
// starts (listenControl) and answering once it has (serve).
type controlSocket struct {
	ln   net.Listener
	path string
	fi   os.FileInfo // the socket file this gateway made (close removes only it)
	srv  *http.Server
}

// gatewayRunning reports whether a gateway runs with state directory dir:
// its control socket answers.
func gatewayRunning(dir string) bool {
	c, err := net.DialTimeout("unix", filepath.Join(dir, controlSocketName), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// listenControl creates the control socket in dir, mode 0600 from the
// start (listenUnixPrivate). It runs before the gateway starts, while
// nothing else in the process creates files. A socket left there by a
// gateway that died (nothing answers on it) is replaced; one that
// answers means another gateway runs with this state_dir; anything else
// by that name is an error. A path too long for a socket is logged, and
// the gateway runs without one (nil, nil).
func listenControl(dir string, log *zap.Logger) (*controlSocket, error) {
	path := filepath.Join(dir, controlSocketName)
	if len(path) > maxSocketPath {
		log.Warn("no control socket: the state_dir's path is too long for a Unix socket (gateway calls and gateway hangup will not reach this gateway)", zap.String("path", path))
		return nil, nil
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != iofs.ModeSocket {
			return nil, fmt.Errorf("control socket %s: the name is taken by %s; remove it", path, fileKind(fi.Mode()))
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("control socket %s: another gateway is running with this state_dir; stop it, or give this one another state_dir", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	ln, err := listenUnixPrivate(path)
	if err != nil {
		// Not wrapped: the start-up error's explanations are for the
		// listeners' addresses.
		return nil, fmt.Errorf("control socket: %v", err)
	}
	// Removed at close only while it is still this socket: a gateway
	// that lost the state_dir's lock to another one starting at the same
	// time must not remove the winner's.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	fi, err := os.Lstat(path)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("control socket: %v", err)
	}
	return &controlSocket{ln: ln, path: path, fi: fi}, nil
}

// fileKind names what a file of mode m is, for a message.
func fileKind(m iofs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "a regular file"
	case t&iofs.ModeDir != 0:
		return "a directory"
	case t&iofs.ModeSymlink != 0:
		return "a symbolic link"
	case t&iofs.ModeNamedPipe != 0:
		return "a named pipe"
	case t&iofs.ModeDevice != 0:
		return "a device"
	}
	return "something that is not a socket"
}

// serve answers on the socket for gw until close.
func (cs *controlSocket) serve(gw callControl, cb callbackControl, log *zap.Logger) {
	if cs == nil {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, _ *http.Request) {
		reply := callsReply{Calls: gw.Calls(), Callbacks: []callbackInfo{}}
		if cb != nil {
			for _, j := range cb.Jobs() {
				reply.Callbacks = append(reply.Callbacks, callbackInfo{Session: j.Session, User: j.User, Address: j.Address, Mode: j.Mode.String(), Since: j.Scheduled,
					State: j.State.String(), Attempt: j.Attempt})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply)
	})
	mux.HandleFunc("POST /calls/{session}/hangup", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseUint(r.PathValue("session"), 10, 64)
		if err != nil || n == 0 {
			http.Error(w, "not a session number", http.StatusBadRequest)
			return
		}
		withdraw := func() bool { return cb != nil && cb.Withdraw(n, "by the operator") }
		switch err := gw.HangUp(n); {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case (errors.Is(err, bridge.ErrNoSuchCall) || errors.Is(err, bridge.ErrCallingBack)) && withdraw():
			// Not a call yet: the callback its login asked for.
			log.Info("operator withdraws the callback", zap.Uint64("session", n))
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "callback withdrawn\n")
		case errors.Is(err, bridge.ErrNoSuchCall):
			http.Error(w, "no call in progress or callback waiting with that session number", http.StatusNotFound)
		case errors.Is(err, bridge.ErrCallingBack):
			// Hanging up, and its callback not scheduled yet: a moment
			// later it is, and can be withdrawn.
			http.Error(w, "the call is hanging up to call back; try again in a moment to withdraw its callback", http.StatusConflict)
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	cs.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10, ErrorLog: httpErrorLog(log, "control socket")}
	go func() { _ = cs.srv.Serve(cs.ln) }()
	log.Info("control socket", zap.String("path", cs.path))
}

// close stops answering and removes the socket.
func (cs *controlSocket) close() {
	if cs == nil {
		return
	}
	if cs.srv != nil {
		_ = cs.srv.Close()
	}
	_ = cs.ln.Close()
	if fi, err := os.Lstat(cs.path); err == nil && os.SameFile(fi, cs.fi) {
		_ = os.Remove(cs.path)
	}
}

// callsReply is the control socket's answer to GET /calls.
type callsReply struct {
	Calls     []bridge.CallInfo `json:"calls"`
	Callbacks []callbackInfo    `json:"callbacks"`
}

func init() {
	register(command{name: "calls", summary: "list the calls in progress on the running gateway", run: func(args []string) int {
		return runCalls(args, os.Stdout, os.Stderr)
	}})
	register(command{name: "hangup", summary: "end calls in progress on the running gateway", run: func(args []string) int {
		return runHangUp(args, os.Stdout, os.Stderr)
	}})
}

// controlFlags are the flags that find a running gateway's control socket.
type controlFlags struct{ config, stateDir string }

func (f *controlFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "the gateway's configuration file: its state_dir has the control socket (none: the demo's state directory)")
	fs.StringVar(&f.stateDir, "state-dir", "", "the gateway's state_dir (instead of --config)")
}

// socket is the control socket's path, from --state-dir, else the
// configuration's state_dir, else the demo's.
func (f *controlFlags) socket() (string, error) {
	dir := f.stateDir
	if dir == "" {
		cfg := config.Demo()
		if f.config != "" {
			c, err := config.LoadSettings(f.config)
			if err != nil {
				// Mid-edit or mid-incident the file may not pass:
				// its state_dir is all these commands need (operator
				// trial: gateway calls and hangup refused to work).
				d, ok := stateDirOf(f.config)
				if !ok {
					return "", fmt.Errorf("%w (give the gateway's state directory with --state-dir DIR)", err)
				}
				fmt.Fprintf(os.Stderr, "gateway: warning: %s does not pass gateway check; using its state_dir %s\n", f.config, d)
				return socketIn(d)
			}
			cfg = c
		}
		dir = cfg.StateDir
	}
	return socketIn(dir)
}

// socketIn is the control socket's path in the state directory dir.
func socketIn(dir string) (string, error) {
	path := filepath.Join(dir, controlSocketName)
	if len(path) > maxSocketPath {
		return "", fmt.Errorf("state_dir %s: the path is too long for a Unix socket, so the gateway runs without a control socket (it logged \"no control socket\" at start)", dir)
	}
	return path, nil
}

// stateDirOf reads only state_dir from the configuration file path (the
// default when it has none; relative to the file, as the gateway takes
// it), for a file that does not pass as a whole; false when not even
// that can be read (a TOML syntax error).
func stateDirOf(path string) (string, bool) {
	var c struct {
		StateDir string `toml:"state_dir"`
	}
	if _, err := toml.DecodeFile(path, &c); err != nil {
		return "", false
	}
	switch {
	case c.StateDir == "":
		return config.DefaultStateDir(), true
	case !filepath.IsAbs(c.StateDir):
		return filepath.Join(filepath.Dir(path), c.StateDir), true
	}
	return c.StateDir, true
}

// controlClient is an HTTP client of the control socket at path.
func controlClient(path string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
}

// controlError says why the control socket at path could not be used.
func controlError(path string, err error) error {
	switch {
	case errors.Is(err, iofs.ErrNotExist), errors.Is(err, errConnRefused):
		return fmt.Errorf("no gateway is running with state_dir %s (no control socket %s); give the gateway's --config or --state-dir", filepath.Dir(path), path)
	case errors.Is(err, iofs.ErrPermission):
		// The state directory's owner is the gateway's user.
		return fmt.Errorf("%s: permission denied: run this as the gateway's user or root (runuser -u %s -- gateway ...)", path, stateDirUser(filepath.Dir(path)))
	}
	return fmt.Errorf("control socket %s: %w", path, err)
}

func runCalls(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("calls", "[--config FILE | --state-dir DIR] [--json]", `List the calls in progress on the gateway running with that configuration
(its state_dir's control socket): session number, user (once logged in),
where the call comes from, the listener and line, the phase (login,
connecting, session, callback), the backend, how long ago the call
came in and the octets each way (in: caller to backend). Calls turned
away with BUSY are not listed. Then the callbacks not placed yet (waiting
for their delay, being dialled or proved): session, user, the address
to be called, the mode, what it does now (delay, retry-wait, line-wait,
calling), the attempt and how long ago the login asked for it. --json prints the
gateway's answer as it is ({"calls": [...], "callbacks": [...]}), for
scripts. Run it as the gateway's user or root.`)
	var cf controlFlags
	cf.add(fs)
	asJSON := fs.Bool("json", false, "print JSON ({\"calls\": [...], \"callbacks\": [...]})")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "gateway calls: unexpected arguments: "+strings.Join(fs.Args(), " "))
		return exitUsage
	}
	path, err := cf.socket()
	if err != nil {
		fmt.Fprintf(stderr, "gateway calls: %v\n", err)
		return exitFailure
	}
	resp, err := controlClient(path).Get("http://dialgate/calls")
	if err != nil {
		fmt.Fprintf(stderr, "gateway calls: %v\n", controlError(path, err))
		return exitFailure
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		fmt.Fprintf(stderr, "gateway calls: reading the gateway's answer: %v\n", err)
		return exitFailure
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "gateway calls: the gateway answered %s: %s\n", resp.Status, strings.TrimSpace(string(body[:min(len(body), 300)])))
		return exitFailure
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return exitOK
	}
	var reply callsReply
	if err := json.Unmarshal(body, &reply); err != nil {
		fmt.Fprintf(stderr, "gateway calls: the gateway's answer: %v\n", err)
		return exitFailure
	}
	printCalls(stdout, reply.Calls, time.Now())
	printCallbacks(stdout, reply.Callbacks, time.Now())
	return exitOK
}

// printCallbacks writes the callbacks not placed yet as a table, after
// the calls; nothing when there are none.
func printCallbacks(w io.Writer, cbs []callbackInfo, now time.Time) {
	if len(cbs) == 0 {
		return
	}
	fmt.Fprintln(w, "\ncallbacks not placed yet (gateway hangup SESSION withdraws one):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tUSER\tTO\tMODE\tSTATE\tATTEMPT\tFOR")
	for _, c := range cbs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Session, cell(c.User), cell(c.Address), cell(c.Mode), cell(c.State), c.Attempt, now.Sub(c.Since).Round(time.Second))
	}
	_ = tw.Flush()
}

// printCalls writes calls as a table, times relative to now.
func printCalls(w io.Writer, calls []bridge.CallInfo, now time.Time) {
	if len(calls) == 0 {
		fmt.Fprintln(w, "no calls in progress")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tUSER\tFROM\tLISTENER\tLINE\tMODE\tPHASE\tBACKEND\tFOR\tIN\tOUT")
	for _, c := range calls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", c.Session, cell(c.User), cell(c.Remote),
			cell(c.Listener), cell(c.Line), cell(c.Mode), cell(c.Phase), cell(c.Backend), now.Sub(c.Start).Round(time.Second), c.BytesIn, c.BytesOut)
	}
	_ = tw.Flush()
}

// cell is s for the table: "-" for nothing, and no terminal controls.
func cell(s string) string {
	s = dash(s)
	// Users are validated IDs and addresses are formatted by the
	// gateway, but the table goes to the operator's terminal: nothing
	// in it may be a terminal control, whatever a later change lets in.
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || store.IsTerminalControl(r) {
			return '?'
		}
		return r
	}, s)
}

func runHangUp(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("hangup", "[--config FILE | --state-dir DIR] SESSION...", `End calls in progress on the gateway running with that configuration, by
session number (gateway calls lists them). The caller hears "NO CARRIER
(the operator ended the call)", the backend session is closed, and the
call record says "hung up by the operator". A callback not placed yet
(gateway calls lists them; a call hanging up to call back has one) is
withdrawn, and its record says "withdrawn ... by the operator". Exit 0
when every session was hung up or withdrawn, 1 when one was neither in
progress nor waiting for its callback. Run it as the gateway's user or
root.`)
	var cf controlFlags
	cf.add(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "gateway hangup: which session? (gateway calls lists them)")
		return exitUsage
	}
	var sessions []uint64
	for _, a := range fs.Args() {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			fmt.Fprintf(stderr, "gateway hangup: %q is not a session number\n", a)
			return exitUsage
		}
		sessions = append(sessions, n)
	}
	path, err := cf.socket()
	if err != nil {
		fmt.Fprintf(stderr, "gateway hangup: %v\n", err)
		return exitFailure
	}
	client := controlClient(path)
	code := exitOK
	for _, n := range sessions {
		resp, err := client.Post(fmt.Sprintf("http://dialgate/calls/%d/hangup", n), "", nil)
		if err != nil {
			fmt.Fprintf(stderr, "gateway hangup: %v\n", controlError(path, err))
			return exitFailure
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusNoContent:
			fmt.Fprintf(stdout, "session %d: hung up\n", n)
			continue
		case http.StatusOK:
			fmt.Fprintf(stdout, "session %d: %s\n", n, strings.TrimSpace(string(msg)))
			continue
		}
		fmt.Fprintf(stderr, "gateway hangup: session %d: %s\n", n, strings.TrimSpace(string(msg)))
		code = exitFailure
	}
	return code
}
