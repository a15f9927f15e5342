package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	xterm "golang.org/x/term"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/busyline"
	"github.com/dialgate/dialgate/internal/retry"
	"github.com/dialgate/dialgate/internal/term"
	"github.com/dialgate/dialgate/internal/termname"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
	"github.com/dialgate/dialgate/transport/ws"
)

func init() {
	register(command{name: "dial", summary: "call a gateway from this terminal", run: runDial})
}

const dialDescription = `Call a gateway at URL (telnet://host:port, tcp://host:port,
ws://host:port/line, wss://..., and in TLS telnets://host:port or
tls://host:port) and connect this terminal to the session.

With --v42 detect (the default) the call starts with V.42 detection; a
gateway that answers with LAPM gets Access Security (user and password,
the gateway's host key checked against --known-hosts first) and sealed
data; one without V.42 gets the text login, typed by you. --v42 lapm skips
detection; --v42 off or --text always uses the text login.

Credentials: --user or $DIALGATE_USER; --password-file or
$DIALGATE_PASSWORD; otherwise a prompt (without echo) on the terminal,
once a V.42 gateway has answered and proved its host key (a text login
asks nothing: you type at the gateway's own prompts).

Until the call is connected, Ctrl-C abandons it (exit 13). Once connected,
terminal input is raw (Ctrl-C goes to the gateway) and '~' after a newline
is an escape: '~.' hangs up, '~B' sends a break, '~^Z' suspends dial
(fg continues it), '~?' lists the escapes, '~~' sends '~'.
From a pipe, octets pass untouched (binary-transparent, for scripts and
lrzsz) and the end of stdin hangs up once the gateway's output has drained.

With --answer ADDR (a line address such as telnet://0.0.0.0:2424), dial
listens there before calling and, when the gateway calls back, answers
and continues the session on the callback.`

// dialIO is the process environment of a call (replaced by tests).
type dialIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	signals        bool // hang up on SIGINT, SIGTERM, SIGHUP
}

func runDial(args []string) int {
	oneProcessor(os.Getenv)
	return dialMain(args, dialIO{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, signals: true})
}

// oneProcessor runs the Go scheduler with one processor (GOMAXPROCS 1)
// unless $GOMAXPROCS says otherwise. gateway dial carries one call: its
// goroutines (the terminal, the link's reader, owner and writer) hand
// work to each other, and with a second processor idle each hand-off wakes
// another OS thread. On one processor they run in turn on the thread that
// made the work: docs/BENCHMARKS.md measured the caller's CPU per octet on
// the full path about 0.6 cycles lower.
func oneProcessor(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// dialOptions are the parsed flags.
type dialOptions struct {
	url           *url.URL
	user          string
	passwordFile  string
	knownHosts    string
	tofu          bool
	fingerprint   string
	answer        string
	answerFrom    []netip.Prefix // besides the gateway's address, where a text callback may come from
	answerTimeout time.Duration
	timeout       time.Duration
	v42           string
	escape        string
	escChar       byte // escape, parsed (parseEscape); 0 none
	drain         time.Duration
	termType      string
	quiet         bool
}

func dialMain(args []string, dio dialIO) int {
	fs := newFlagSet("dial", "[flags] URL", dialDescription+"\n\n"+dialExitHelp)
	var o dialOptions
	fs.StringVar(&o.user, "user", "", "user ID for Access Security (default $"+envUser+")")
	fs.StringVar(&o.passwordFile, "password-file", "", "read the password from the first line of `FILE` (default $"+envPassword+", else a prompt)")
	defaultKH, noDefaultKH := defaultKnownHosts()
	fs.StringVar(&o.knownHosts, "known-hosts", defaultKH, "known gateway host keys `FILE`")
	fs.BoolVar(&o.tofu, "tofu", false, "trust an unknown gateway's host key on first use and record it")
	fs.StringVar(&o.fingerprint, "fingerprint", "", "accept only this host key (SHA256:... or base64 key); recorded if the host is new")
	forget := fs.String("forget", "", "remove the host keys known for `HOST` (host:port, or a host alone for all its ports) from the known-hosts file and exit, as ssh-keygen -R does")
	fs.StringVar(&o.answer, "answer", "", "listen on line address `ADDR` for the gateway's callback and answer it")
	fs.DurationVar(&o.answerTimeout, "answer-timeout", 3*time.Minute, "how long to wait for the callback")
	fs.Func("answer-from", "with --answer, also take a text-login callback from `ADDR` (an IP address or prefix, 192.0.2.0/24; repeat or separate with commas): by default only the address the call went to; V.42 calls from there have answering places of their own", func(s string) error {
		for _, a := range strings.Split(s, ",") {
			p, err := parseAddrOrPrefix(strings.TrimSpace(a))
			if err != nil {
				return err
			}
			o.answerFrom = append(o.answerFrom, p)
		}
		return nil
	})
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "bound on connecting and the handshake (time at the user and password prompts not counted)")
	fs.StringVar(&o.v42, "v42", "detect", "V.42 `mode`: detect, lapm (no detection phase) or off (text login)")
	text := fs.Bool("text", false, "text login: connect the terminal to the line as it is (same as --v42 off)")
	fs.StringVar(&o.escape, "escape", "~", "escape `char`acter (one ASCII character, or ^ and a letter as in ^] for Ctrl-]), or none; from a pipe escapes are off unless this flag is given")
	fs.DurationVar(&o.drain, "drain", time.Second, "after the end of stdin on a line that cannot half-close (V.42 link, WebSocket), and on every line when given: hang up once the gateway has been quiet this long (over V.42 at least 2 x T401, counted once what was sent is acknowledged)")
	fs.StringVar(&o.termType, "term", dio.getenv("TERM"), "terminal type announced to the gateway")
	fs.BoolVar(&o.quiet, "quiet", false, "no notices on stderr (errors still, and the notice of a host key trusted on first use)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	// Flags may also follow the URL.
	var rest []string
	for fs.NArg() > 0 {
		rest = append(rest, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return exitUsage
		}
	}
	escSet, drainSet := false, false
	fs.Visit(func(f *flag.Flag) {
		escSet = escSet || f.Name == "escape"
		drainSet = drainSet || f.Name == "drain"
	})
	if *forget != "" {
		if len(rest) != 0 {
			fmt.Fprintln(dio.stderr, "gateway dial: --forget takes no URL (try --help)")
			return exitUsage
		}
		return forgetHost(dio, o.knownHosts, noDefaultKH, *forget)
	}
	if len(rest) != 1 {
		fmt.Fprintln(dio.stderr, "gateway dial: want exactly one URL (try --help)")
		return exitUsage
	}
	if *text {
		o.v42 = "off"
	}
	err := o.check(rest[0])
	if err == nil && o.knownHosts == "" && o.v42 != "off" {
		// Not the working directory's known_hosts, which changes with
		// it (power-user trial: with HOME unset, --tofu recorded the
		// gateway's key in ./known_hosts).
		err = fmt.Errorf("%w: no known-hosts file to check the gateway's key against (%s); give --known-hosts FILE", errUsage, noKnownHostsWhy(noDefaultKH))
	}
	if err == nil && o.knownHosts != "" && o.v42 != "off" {
		// A file that cannot be read is a local failure (exit 1),
		// known before dialling (power-user trial: a malformed line
		// was found only once the gateway had answered, and exited
		// 12, as for a changed host key).
		if _, kerr := auth.LoadKnownHosts(o.knownHosts); kerr != nil {
			err = fmt.Errorf("--known-hosts: %w", kerr)
		}
	}
	if err == nil {
		c := &caller{o: o, io: dio, escSet: escSet, drainSet: drainSet}
		err = c.call()
	}
	if err != nil {
		fmt.Fprintf(dio.stderr, "gateway dial: %s\n", dialMessage(err))
	}
	return exitCode(err)
}

// noKnownHostsWhy says why there is no known-hosts file: --known-hosts
// given empty, or no default (noDefault, defaultKnownHosts' error).
func noKnownHostsWhy(noDefault error) string {
	if noDefault != nil {
		return noDefault.Error()
	}
	return "--known-hosts is empty"
}

// forgetHost is dial --forget: the known-hosts entries of host are
// removed from file, and each is printed (power-user trial: after the
// gateway's key was rotated, three lines had to be deleted by hand, one
// a listener). Exit 0 when some were removed, 1 when there were none or the file
// could not be read or written.
func forgetHost(dio dialIO, file string, noDefault error, host string) int {
	if file == "" {
		fmt.Fprintf(dio.stderr, "gateway dial: --forget: no known-hosts file (%s); give --known-hosts FILE\n", noKnownHostsWhy(noDefault))
		return exitUsage
	}
	removed, err := auth.ForgetKnownHost(file, host)
	if err != nil {
		fmt.Fprintf(dio.stderr, "gateway dial: --forget: %s\n", dialMessage(err))
		return exitFailure
	}
	if len(removed) == 0 {
		fmt.Fprintf(dio.stderr, "gateway dial: no host key of %s in %s\n", host, file)
		return exitFailure
	}
	for _, r := range removed {
		fmt.Fprintf(dio.stdout, "%s: removed %s\n", file, r)
	}
	return exitOK
}

func (o *dialOptions) check(raw string) error {
	u, err := transport.Parse(raw)
	if err != nil {
		if hint := lineURLHint(raw); hint != "" {
			return fmt.Errorf("%w: %w; %s", errUsage, err, hint)
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	o.url = u
	switch o.v42 {
	case "detect", "lapm", "off":
	default:
		return fmt.Errorf("%w: --v42 %q: want detect, lapm or off", errUsage, o.v42)
	}
	if o.escChar, err = parseEscape(o.escape); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.answer != "" {
		if _, err := transport.Parse(o.answer); err != nil {
			return fmt.Errorf("%w: --answer: %w", errUsage, err)
		}
	}
	if o.tofu && o.fingerprint != "" {
		return fmt.Errorf("%w: --tofu and --fingerprint exclude each other", errUsage)
	}
	if o.user != "" {
		if err := auth.ValidUserID(o.user); err != nil {
			return fmt.Errorf("%w: --user: %w", errUsage, err)
		}
	}
	return nil
}

// caller is one run of gateway dial.
type caller struct {
	o      dialOptions
	io     dialIO
	escSet bool
	// drainSet: --drain was given; stdin's end then waits for quiet on
	// every line, without a half-close (session.noHalfClose).
	drainSet bool

	tty        *os.File     // stdin, when it is a terminal
	out        *os.File     // stdout, when it is a terminal
	rawMu      sync.Mutex   // guards restoreRaw and inSession (~^Z runs on copyUp's goroutine)
	restoreRaw func() error // leaves raw mode while a session runs on tty
	inSession  bool         // runSession is under way
	connected  bool         // a session began: signals end it, not abandon the call
	input      *inputPump
	resize     <-chan transport.WindowSize
	window     transport.WindowSize
	listener   transport.Listener
	answered   time.Time // when the line was connected (the gateway's login time runs from then)
	// gatewayAddr is the address the call reached (the line's remote):
	// a text callback is taken only from there, and a V.42 one from
	// there goes before calls from elsewhere.
	gatewayAddr netip.Addr
	prompted    bool // the user or password was asked for on the terminal
}

// notice writes a line for the user on stderr (CR LF in raw mode).
func (c *caller) notice(format string, args ...any) {
	if c.o.quiet {
		return
	}
	fmt.Fprintf(c.io.stderr, "[gateway dial] "+format+"\r\n", args...)
}

func (c *caller) call() error {
	ctx := context.Background()
	if c.io.signals {
		// A closed stdout or stderr must not kill dial mid-call: writes
		// fail with EPIPE instead, and the session hangs up.
		signal.Ignore(syscall.SIGPIPE)
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer stop()
	}
	if f, ok := c.io.stdin.(*os.File); ok && term.IsTerminal(f) {
		c.tty = f
	}
	if f, ok := c.io.stdout.(*os.File); ok && term.IsTerminal(f) {
		c.out = f
	}
	// Credentials are asked for once a V.42 gateway has answered and
	// proved its host key (v42Call): not before a call that nobody
	// answers, nor for a text login, where the gateway's own prompts
	// ask.
	if c.o.answer != "" {
		l, err := transport.Listen(c.o.answer)
		if err != nil {
			return fmt.Errorf("--answer: %w", err)
		}
		c.listener = l
		defer l.Close()
	}
	// The terminal stays in its normal mode until a session runs
	// (runSession): Ctrl-C while dialing, during detection or the
	// handshake is SIGINT and abandons the call.
	defer c.restoreTerminal()
	// The window is stdout's terminal, else stdin's, as ssh reads it
	// (power-user trial: "gateway dial ... | tee log" sent no size).
	if win := cmp.Or(c.out, c.tty); win != nil {
		c.window, _ = term.Size(win)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		c.resize = watchSize(wctx, win)
	}
	if c.out != nil {
		defer vtOutput(c.out)()
	}
	// stdin is read for the session from its first one on (newSession):
	// until then the terminal belongs to the prompts.
	defer func() {
		if c.input != nil {
			c.input.close()
		}
	}()

	line, err := c.dialLine(ctx)
	if err == nil {
		c.answered = time.Now()
		if c.o.v42 == "off" {
			err = c.textCall(ctx, line, nil)
		} else {
			err = c.v42Call(ctx, line)
		}
	}
	if err != nil && ctx.Err() != nil && !c.connected {
		return fmt.Errorf("%w: call abandoned (interrupted) before it connected", errNoCarrier)
	}
	return err
}

// gatewayLoginWait is how long a dialgate gateway waits by default from
// answering a call until the login is through ([security]
// handshake_deadline); the end of it hangs up the call. dial cannot know
// the value a gateway is configured with: the prompts say how much of the
// default is left.
const gatewayLoginWait = 60 * time.Second

// credSource is where this call finds the user ID and password.
func (c *caller) credSource() credSource {
	return credSource{user: c.o.user, passwordFile: c.o.passwordFile, getenv: c.io.getenv, tty: c.tty, prompt: c.io.stderr, warn: c.io.stderr}
}

// credentials finds the user ID and password (credSource) once a V.42
// gateway has proved its host key (auth.CallerConfig.Credentials).
// Prompts on the terminal first say how long the gateway waits, and end
// with a signal (Ctrl-C), which abandons the call, or when the gateway
// hangs up (gone closed: its login time ran out, or its operator ended
// the call); either way the terminal's mode is put back (the password
// prompt turns echo off). The caller wipes the password; one typed after
// the prompt ended is wiped here.
func (c *caller) credentials(ctx context.Context, gone <-chan struct{}) (user string, password []byte, err error) {
	cs := c.credSource()
	if c.tty == nil || !cs.prompts() {
		return cs.get()
	}
	saved, err := xterm.GetState(int(c.tty.Fd()))
	if err != nil {
		return "", nil, fmt.Errorf("terminal: %w", err)
	}
	c.prompted = true
	asked := time.Now()
	left := max(gatewayLoginWait-time.Since(c.answered), 0).Truncate(time.Second)
	fmt.Fprintf(c.io.stderr, "%s answers with V.42 and waits about %v for the login (its handshake_deadline, 60s unless changed).\n", c.o.url.Host, left)
	type creds struct {
		user     string
		password []byte
		err      error
	}
	got := make(chan creds)
	abandoned := make(chan struct{})
	// A read of the terminal cannot be interrupted: after a signal this
	// goroutine stays blocked in it until the process exits, and wipes
	// what it read if the read ends after all.
	go func() {
		u, p, err := cs.get()
		select {
		case got <- creds{u, p, err}:
		case <-abandoned:
			clear(p)
		}
	}()
	select {
	case r := <-got:
		return r.user, r.password, r.err
	case <-ctx.Done():
		close(abandoned)
		_ = xterm.Restore(int(c.tty.Fd()), saved)
		fmt.Fprintln(c.io.stderr)
		return "", nil, fmt.Errorf("%w: call abandoned (interrupted) at the login prompt", errNoCarrier)
	case <-gone:
		close(abandoned)
		// What was typed of a login nobody will read is not left for
		// the shell (a half-typed password on its command line).
		term.FlushInput(c.tty)
		_ = xterm.Restore(int(c.tty.Fd()), saved)
		fmt.Fprintln(c.io.stderr)
		return "", nil, fmt.Errorf("%w: %w", errProtocol, errHungUpAtPrompt(time.Since(asked)))
	}
}

// errHungUpAtPrompt is the error of a V.42 login that the gateway hung up
// on while the prompts waited for it (or after it was typed, before the
// RESPONSE reached it).
func errHungUpAtPrompt(atPrompt time.Duration) error {
	return fmt.Errorf("the gateway hung up during the login, after %v at the prompts: it waits a bounded time for the login (its handshake_deadline, 60s unless changed), and its operator may end a call", atPrompt.Truncate(100*time.Millisecond))
}

// runSession runs s with the terminal in raw mode (keys go to the call
// as typed, Ctrl-C included; ~. hangs up) and gives the terminal back its
// mode when the session ends.
func (c *caller) runSession(ctx context.Context, s *session) (sessionEnd, error) {
	c.connected = true
	c.rawMu.Lock()
	c.inSession = true
	if c.tty != nil && c.restoreRaw == nil {
		restore, err := term.MakeRaw(c.tty)
		if err != nil {
			c.notice("the terminal stays in line mode: %v", err)
		} else {
			c.restoreRaw = restore
		}
	}
	c.rawMu.Unlock()
	defer func() {
		c.rawMu.Lock()
		c.inSession = false
		c.rawMu.Unlock()
		c.restoreTerminal()
	}()
	end, err := s.run(ctx)
	if s.modes != nil && end != endStdoutGone {
		if b := s.modes.reset(); b != nil {
			_, _ = c.io.stdout.Write(b)
		}
	}
	return end, err
}

// restoreTerminal leaves raw mode, if a session entered it.
func (c *caller) restoreTerminal() {
	c.rawMu.Lock()
	defer c.rawMu.Unlock()
	c.restoreTerminalLocked()
}

func (c *caller) restoreTerminalLocked() {
	if c.restoreRaw != nil {
		_ = c.restoreRaw()
		c.restoreRaw = nil
	}
}

// suspend is ~^Z, as ssh's: the terminal gets its modes back and dial
// stops itself (SIGTSTP) for the shell to take over; continued (fg), it
// takes raw mode again, if its session is still under way, and sends
// the window size, which may have changed meanwhile.
func (c *caller) suspend() error {
	c.rawMu.Lock()
	raw := c.restoreRaw != nil
	c.restoreTerminalLocked()
	c.rawMu.Unlock()
	err := stopSelf()
	c.rawMu.Lock()
	defer c.rawMu.Unlock()
	if raw && c.inSession {
		if restore, rerr := term.MakeRaw(c.tty); rerr == nil {
			c.restoreRaw = restore
		} else if err == nil {
			err = fmt.Errorf("raw mode again: %w", rerr)
		}
	}
	return err
}

// escapeChar is the escape character in force: none from a pipe unless
// --escape says otherwise.
func (c *caller) escapeChar() byte {
	if c.tty == nil && !c.escSet {
		return 0
	}
	return c.o.escChar
}

// dialLine places the call, announcing the terminal where the line can.
func (c *caller) dialLine(ctx context.Context) (transport.Line, error) {
	dctx, cancel := context.WithTimeout(ctx, c.o.timeout)
	defer cancel()
	u := c.o.url
	var line transport.Line
	var err error
	switch u.Scheme {
	case "telnet", "telnets", "tcp", "tls":
		var opts tcp.Options
		if u.Scheme == "telnet" || u.Scheme == "telnets" {
			opts = tcp.Options{Telnet: true, TermType: c.o.termType, Window: c.window}
		}
		if u.Scheme == "telnets" || u.Scheme == "tls" {
			line, err = tcp.DialTLS(dctx, u.Host, opts, nil)
		} else {
			line, err = tcp.Dial(dctx, u.Host, opts)
		}
	case "ws", "wss":
		var wl *ws.Line
		wl, err = ws.Dial(dctx, u.String(), ws.DialOptions{Subprotocol: "binary"})
		if err == nil {
			line = wl
			if t := termname.Clean([]byte(c.o.termType)); t != "" {
				_ = wl.SendTermType(t) // as telnet's TTYPE: the gateway's pty program gets it as TERM
			}
			if c.window.Cols > 0 {
				_ = wl.SendWindowSize(c.window)
			}
		}
		err = wsWrongLine(u, err)
	default:
		line, err = transport.Dial(dctx, u.String())
	}
	if err != nil {
		return nil, noCarrier(u.Host, err)
	}
	return line, nil
}

// linkProgress is what a LAPM link tells of its traffic in flight
// (*lapm.Link): session.waitQuiet asks it.
type linkProgress interface {
	Unacknowledged() int
	Stats() lapm.Stats
}

// newSession connects the terminal to conn, which runs on line.
func (c *caller) newSession(conn io.ReadWriteCloser, line transport.Line) *session {
	if c.input == nil {
		c.input = startInput(c.io.stdin, ctrlZIsEOF(c.tty))
	}
	s := &session{conn: conn, line: line, input: c.input, stdout: c.io.stdout, notice: c.io.stderr,
		esc: newEscaper(c.escapeChar()), resize: c.resize, drain: c.o.drain, noHalfClose: c.drainSet}
	if c.out != nil {
		s.modes = newModeTracker()
	}
	switch l := line.(type) {
	case *tcp.Line:
		s.sendWindow = l.SetWindowSize
	case *ws.Line:
		s.sendWindow = l.SendWindowSize
	}
	if l, ok := conn.(linkProgress); ok {
		s.linkState = func() (int, time.Duration, uint64) {
			st := l.Stats()
			return l.Unacknowledged(), st.T401, st.LineBytesRecv
		}
	}
	if c.tty != nil {
		s.suspend = c.suspend
	}
	if b, ok := conn.(interface{ Break() error }); ok {
		s.sendBreak = b.Break
	} else if b, ok := line.(transport.Breaker); ok {
		s.sendBreak = b.SendBreak
	}
	return s
}

// textCall runs a text-login call on line (leftover first): the terminal
// is connected to the line as it is. With --answer, a call the gateway
// ended (to call back) is followed by the callback.
func (c *caller) textCall(ctx context.Context, line transport.Line, leftover []byte) error {
	leftover, greetErr := greeting(line, leftover)
	if _, busy := busyline.Parse(leftover); !busy {
		// A BUSY gateway is not "connected" (new-user trial: the
		// notice came before the BUSY).
		c.notice("connected to %s (text). %s", c.o.url.Redacted(), c.escapeHint())
	}
	c.noteGatewayAddr(line)
	var conn io.ReadWriteCloser = line
	if len(leftover) > 0 || greetErr != nil {
		conn = &leftoverConn{Line: line, rest: leftover, err: greetErr}
	}
	s := c.newSession(conn, line)
	end, err := c.runSession(ctx, s)
	if err != nil {
		return fmt.Errorf("%w mid-call: %w", errDropped, err)
	}
	if end != endRemote && end != endStdinEOF {
		return nil
	}
	if err := textOutcome(s.head, s.tail); err != nil {
		return err
	}
	if end == endRemote && textDropped(s.head, s.tail) {
		return fmt.Errorf("%w mid-call: the gateway closed the connection without NO CARRIER", errDropped)
	}
	// The gateway's last words say whether it will call back ("Hanging
	// up; you will be called back.").
	if end != endRemote || !bytes.Contains(s.tail, []byte("called back")) {
		return nil
	}
	if c.listener == nil {
		c.notice("the gateway will call back the address registered for this account; to take that call with dial, call with --answer ADDR")
		return nil
	}
	cb, err := c.acceptCallback(ctx, c.fromGateway)
	if err != nil {
		return err
	}
	c.notice("callback answered (text) from %s: type your user name to accept it", cb.Info().RemoteAddr)
	s = c.newSession(cb, cb)
	if _, err := c.runSession(ctx, s); err != nil {
		return fmt.Errorf("%w: the callback line dropped: %w", errDropped, err)
	}
	return textOutcome(s.head, s.tail)
}

func (c *caller) escapeHint() string {
	if e := c.escapeChar(); e != 0 {
		return fmt.Sprintf("Escape: %s. hangs up, %s? for help.", escName(e), escName(e))
	}
	return "End of input hangs up."
}

// acceptCallback waits on --answer for the gateway's call: the first
// line that from (nil: any) takes; the others are hung up.
func (c *caller) acceptCallback(ctx context.Context, from func(transport.Line) bool) (transport.Line, error) {
	c.notice("waiting up to %v for the callback on %s", c.o.answerTimeout, c.listener.Addr())
	actx, cancel := context.WithTimeout(ctx, c.o.answerTimeout)
	defer cancel()
	var (
		backoff   retry.Backoff
		noticed   time.Time // the last notice of a refused call
		unnoticed int       // refused since
	)
	for {
		line, err := c.listener.Accept(actx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("%w: no callback within %v", errNoCarrier, c.o.answerTimeout)
			}
			if actx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				// Out of descriptors (a flood on the port): the
				// callback may still come (review).
				select {
				case <-time.After(backoff.Next(time.Now())):
					continue
				case <-actx.Done():
					return nil, fmt.Errorf("%w: no callback within %v", errNoCarrier, c.o.answerTimeout)
				}
			}
			return nil, fmt.Errorf("%w: waiting for the callback: %w", errNoCarrier, err)
		}
		if from == nil || from(line) {
			return line, nil
		}
		// At once: no waiting for a stranger's FIN (telnet's linger),
		// and one notice a second at most (review: a flood of them).
		if l, ok := line.(transport.Lingerer); ok {
			l.SetLinger(time.Millisecond) // (0 would mean the default)
		}
		who := line.Info().RemoteAddr
		line.Close()
		unnoticed++
		if time.Since(noticed) >= time.Second {
			more := ""
			if unnoticed > 1 {
				more = fmt.Sprintf(" (%d such calls since the last notice)", unnoticed)
			}
			c.notice("a call on %s from %s hung up: not the gateway's address %s (--answer-from ADDR takes it)%s", c.listener.Addr(), who, c.gatewayAddr, more)
			noticed, unnoticed = time.Now(), 0
		}
	}
}

// noteGatewayAddr takes the address of the gateway from the line of the
// call to it, for fromGateway.
func (c *caller) noteGatewayAddr(line transport.Line) {
	if ap, err := netip.ParseAddrPort(line.Info().RemoteAddr); err == nil {
		c.gatewayAddr = ap.Addr().Unmap()
	}
}

// fromGateway reports whether a callback on l comes from the address
// the call went to, or one of --answer-from. A text callback
// proves nothing of itself (a V.42 one proves its ticket): the first
// caller on the --answer port would otherwise get the terminal, and the
// user's typing, password included (security review). A V.42 callback
// from there takes the place of a call from elsewhere (v42Callback).
func (c *caller) fromGateway(l transport.Line) bool {
	ap, err := netip.ParseAddrPort(l.Info().RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	if a == c.gatewayAddr {
		return true
	}
	for _, p := range c.o.answerFrom {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddrOrPrefix reads an IP address (a single-address prefix) or a
// prefix.
func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP address or prefix: %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or prefix: %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// greetingWait bounds how long a text call waits for the gateway's first
// words before it says it is connected: a gateway that is busy says so
// at once, in one write.
const greetingWait = 500 * time.Millisecond

// greeting is what the other end said first on a text call: leftover
// (what detection read) if any, else what one read takes within
// greetingWait, on a line with deadlines, and the read's error unless it
// is the deadline's (a reset: the session's first read after the
// octets returns it).
func greeting(line transport.Line, leftover []byte) ([]byte, error) {
	if len(leftover) > 0 {
		return leftover, nil
	}
	d, ok := line.(transport.Deadliner)
	if !ok {
		return nil, nil
	}
	if d.SetReadDeadline(time.Now().Add(greetingWait)) != nil {
		return nil, nil
	}
	defer d.SetReadDeadline(time.Time{})
	buf := make([]byte, busyline.MaxHeard)
	n, err := line.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return buf[:n], err
}

// leftoverConn returns octets read during detection (or the greeting)
// first, then the error that read met, if any.
type leftoverConn struct {
	transport.Line
	rest []byte
	err  error // returned once, after rest (nil: read the line)
}

func (l *leftoverConn) Read(p []byte) (int, error) {
	if len(l.rest) > 0 {
		n := copy(p, l.rest)
		l.rest = l.rest[n:]
		return n, nil
	}
	if err := l.err; err != nil {
		l.err = nil
		return 0, err
	}
	return l.Line.Read(p)
}

// CloseWrite half-closes the line where it can.
func (l *leftoverConn) CloseWrite() error {
	if cw, ok := l.Line.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// detect runs V.42 detection as originator (ITU-T V.42 clause 8.2).
func (c *caller) detect(ctx context.Context, line transport.Line, role lapm.Role) (bool, []byte, error) {
	dctx, cancel := context.WithTimeout(ctx, c.o.timeout)
	defer cancel()
	res, leftover, err := detectV42(dctx, line, role)
	if errors.Is(err, errBusy) || errors.As(err, new(*refusedError)) {
		return false, nil, err
	}
	if err != nil {
		return false, nil, fmt.Errorf("%w: V.42 detection: %w", errNoCarrier, err)
	}
	return res == lapm.DetectLAPM, leftover, nil
}

// pageLine is the line path in a dialgate browser page (web/handler.go).
var pageLine = regexp.MustCompile(`<meta name="dialgate-line" content="([^"<>]{1,200})">`)

// wsWrongLine says what a WebSocket call to u met instead of a line, for
// the two a new user meets (trial: HTML quoted as a refused handshake,
// and "malformed HTTP response" with telnet octets): a gateway's browser
// page, whose line it names, and a telnet listener. Other errors (nil
// too) are returned as they are.
func wsWrongLine(u *url.URL, err error) error {
	var he *ws.HandshakeError
	if errors.As(err, &he) && he.StatusCode == http.StatusOK {
		if m := pageLine.FindStringSubmatch(he.Body); m != nil {
			if ref, perr := url.Parse(m[1]); perr == nil {
				return fmt.Errorf("%s is the gateway's browser page, not its line: dial %s", u.Redacted(), u.ResolveReference(ref).Redacted())
			}
		}
		return fmt.Errorf("%s is a web page (HTTP 200), not a WebSocket line", u.Redacted())
	}
	if err != nil && strings.Contains(err.Error(), `malformed HTTP response "\xff`) {
		// An IAC where the HTTP answer should be: the listener speaks
		// telnet (net/http names no error type for it).
		scheme := "telnet"
		if u.Scheme == "wss" {
			scheme = "telnets"
		}
		return fmt.Errorf("%s answers with telnet, not WebSocket: it is a telnet listener; dial %s://%s", u.Redacted(), scheme, u.Host)
	}
	return err
}

// noCarrier is the error of a call that could not be placed to host: the
// common causes in words (nobody listening, a name that does not
// resolve), the rest as the transport said.
func noCarrier(host string, err error) error {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	switch {
	case errors.Is(err, errConnRefused):
		return fmt.Errorf("%w: nobody answers at %s (connection refused): is the gateway running, and is that its address?", errNoCarrier, host)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Errorf("%w: the host name in %s does not resolve", errNoCarrier, host)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w: the TLS certificate of %s is not signed by an authority this machine trusts (self-signed?); to trust it, get the certificate from the operator and dial with SSL_CERT_FILE=cert.pem in the environment: %w", errNoCarrier, host, err)
	}
	return fmt.Errorf("%w: %w", errNoCarrier, err)
}
