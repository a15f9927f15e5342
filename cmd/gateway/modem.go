package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/termname"
	"github.com/dialgate/dialgate/modem"
	"github.com/dialgate/dialgate/transport"
	_ "github.com/dialgate/dialgate/transport/tcp" // telnet:// and tcp:// lines
	_ "github.com/dialgate/dialgate/transport/ws"  // ws:// and wss:// lines
)

func init() {
	register(command{name: "modem", summary: "Hayes AT modem emulator on a pty, serial port or stdio", run: runModem})
}

// modemFlags are the command's settings.
type modemFlags struct {
	link, serial, parity, flow, dtr, dcd, dsr   string
	ri                                          string
	flowSet                                     bool // --flow was given: it sets &K at start
	stdio                                       bool
	baud, dataBits, stopBits                    int
	phonebook, profile, answer, knownHosts, lvl string
	term                                        string
	pace, tofu                                  bool
	timeout                                     time.Duration
}

func runModem(args []string) int {
	fs := newFlagSet("modem", "[flags]", `Present a Hayes-compatible modem to a DTE (pty, serial device or stdio). ATD
dials a gateway with the full protocol; incoming callbacks ring the DTE.

The DTE is a new pseudo-terminal unless --serial or --stdio is given; its
path is printed on standard output (and --link makes a stable symlink to it).
Dial with ATDT followed by a phonebook name or number, user@host:port,
host:port or a line URL (telnet://host:port, ws://host:port/path; in TLS
telnets://host:port, tls://host:port or wss://host:port/path). A host
that does not speak V.42 gets a plain telnet-modem call (CONNECT <rate>).
The phonebook (TOML, mode 0600) holds addresses and Access Security
credentials; a V.42 gateway dialed without them asks for the login on the
DTE once its host key is verified. See docs/modem.md.`)
	var f modemFlags
	fs.StringVar(&f.link, "link", "", "with a pty: also make a symlink at this path to the pty")
	fs.StringVar(&f.serial, "serial", "", "use this serial device as the DTE (e.g. /dev/ttyUSB0)")
	fs.BoolVar(&f.stdio, "stdio", false, "use standard input and output as the DTE")
	fs.IntVar(&f.baud, "baud", 115200, "DTE speed in bit/s: the serial port's baud rate, the rate CONNECT reports")
	fs.BoolVar(&f.pace, "pace", false, "with a pty or stdio: pace input and output at --baud, like a real serial line")
	fs.StringVar(&f.parity, "parity", "none", "serial parity: none, even, odd")
	fs.IntVar(&f.dataBits, "databits", 8, "serial data bits: 7 or 8")
	fs.IntVar(&f.stopBits, "stopbits", 1, "serial stop bits: 1 or 2")
	fs.StringVar(&f.flow, "flow", "none", "local flow control at start, overriding the saved &K: none (&K0), rtscts (&K3, serial only), xonxoff (&K4; in band on a pty or stdio)")
	fs.StringVar(&f.dtr, "dtr", "none", "serial input that carries the DTE's DTR (hang up per &D when it falls): dsr, dcd, none")
	fs.StringVar(&f.dcd, "dcd", "none", "serial output that carries our DCD (per AT&C) to the DTE: dtr (null-modem cable: reaches the DTE's DCD and DSR), rts, none")
	fs.StringVar(&f.dsr, "dsr", "none", "serial output that carries our DSR (per AT&S) to the DTE: dtr, rts, none")
	fs.StringVar(&f.ri, "ri", "none", "serial output that carries our ring indicator (on with each RING) to the DTE: dtr, rts, none")
	fs.StringVar(&f.term, "term", "", "terminal type announced to a telnet BBS or gateway that asks (e.g. ansi, vt100, xterm); default UNKNOWN")
	fs.StringVar(&f.phonebook, "phonebook", "", "phonebook and credentials file (TOML, mode 0600)")
	fs.StringVar(&f.profile, "profile", defaultProfilePath(), "file AT&W saves the modem profile to (\"\" keeps it in memory)")
	fs.StringVar(&f.answer, "answer", "", "answer incoming calls (the gateway's callback) on this line address, e.g. telnet://0.0.0.0:6400")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "known-hosts file pinning gateway keys for V.42 calls (default: dialgate/known_hosts in the user's config directory)")
	fs.BoolVar(&f.tofu, "tofu", false, "trust a gateway key seen for the first time and record it (V.42 calls)")
	fs.DurationVar(&f.timeout, "timeout", defaultModemTimeout, "bound on V.42 detection and the Access Security handshake")
	fs.StringVar(&f.lvl, "log-level", "info", "log level: debug, info, warn, error (logs go to standard error)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "gateway modem: no arguments expected")
		return exitUsage
	}
	if f.serial != "" && f.stdio {
		fmt.Fprintln(os.Stderr, "gateway modem: --serial and --stdio exclude each other")
		return exitUsage
	}
	fs.Visit(func(fl *flag.Flag) { f.flowSet = f.flowSet || fl.Name == "flow" })
	if _, ok := flowK[f.flow]; !ok {
		fmt.Fprintln(os.Stderr, "gateway modem: --flow must be none, rtscts or xonxoff")
		return exitUsage
	}
	if f.serial == "" && (f.dcd != "none" || f.dsr != "none" || f.ri != "none" || f.dtr != "none") {
		fmt.Fprintln(os.Stderr, "gateway modem: --dtr, --dcd, --dsr and --ri need --serial (a pty or stdio has no such lines)")
		return exitUsage
	}
	if f.term != "" && termname.Clean([]byte(f.term)) != f.term {
		fmt.Fprintln(os.Stderr, "gateway modem: --term must be a terminfo name: up to 40 letters, digits and . _ + -")
		return exitUsage
	}
	log, err := newLogger(config.Log{Level: config.LogLevel(f.lvl)})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway modem: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hooks := modemHooks{dteReady: func(path, link string) {
		fmt.Println(path)
		if link != "" {
			fmt.Println(link)
		}
	}}
	if err := modemMain(ctx, f, log, hooks); err != nil {
		fmt.Fprintf(os.Stderr, "gateway modem: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func defaultProfilePath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "dialgate", "modem-profile.toml")
}

// zapPrintf adapts zap to the modem's narrow Logger.
type zapPrintf struct{ s *zap.SugaredLogger }

func (z zapPrintf) Printf(format string, args ...any) { z.s.Infof(format, args...) }

// modemHooks let a caller (the command, or a test) learn where the modem
// is reachable.
type modemHooks struct {
	dteReady  func(path, link string) // a pty is ready at path
	answering func(addr string)       // incoming calls are answered at addr
}

// flowK maps --flow to the &K value it sets.
var flowK = map[string]int{"none": 0, "rtscts": 3, "xonxoff": 4}

// modemMain runs the modem until ctx ends or the DTE fails.
func modemMain(ctx context.Context, f modemFlags, log *zap.Logger, hooks modemHooks) error {
	opts := modem.Options{
		Interp: modem.Config{
			Identity: modem.Identity{Product: "dialgate modem", Version: version},
			DTERate:  f.baud,
		},
		Logger:  zapPrintf{log.Sugar()},
		PaceDTE: f.pace && f.serial == "",
	}
	if f.phonebook != "" {
		pb, err := modem.OpenPhonebookFile(f.phonebook)
		if err != nil {
			return err
		}
		opts.PhonebookFile = pb
	}
	if f.profile != "" {
		p, err := modem.LoadProfile(f.profile)
		if err != nil {
			return err
		}
		opts.Interp.Stored = p
		path := f.profile
		opts.SaveProfile = func(p modem.Profile) error {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return fmt.Errorf("modem: profile: %w", err)
			}
			return modem.SaveProfile(path, p)
		}
	}
	if f.flowSet {
		// --flow is the flow control at start, whatever the saved
		// profile says (AT&K changes it; ATZ restores this one).
		if opts.Interp.Stored == (modem.Profile{}) {
			opts.Interp.Stored = modem.Factory()
		}
		opts.Interp.Stored.Flow = flowK[f.flow]
	}
	v42 := newModemV42(f, log)
	opts.Dialer = v42
	if f.answer != "" {
		ln, err := transport.Listen(f.answer)
		if err != nil {
			return err
		}
		opts.Answerer = &modem.LineAnswerer{Listener: ln, Verify: v42.verify}
		log.Info("answering incoming calls", zap.String("address", ln.Addr()))
		if hooks.answering != nil {
			hooks.answering(ln.Addr())
		}
	}

	var dte io.ReadWriteCloser
	switch {
	case f.serial != "":
		s, err := modem.OpenSerial(modem.SerialConfig{Device: f.serial, Baud: f.baud, DataBits: f.dataBits, Parity: f.parity, StopBits: f.stopBits, Flow: f.flow, DTR: f.dtr, DCD: f.dcd, DSR: f.dsr, RI: f.ri})
		if err != nil {
			closeAnswerer(opts.Answerer)
			return err
		}
		dte = s
		log.Info("modem on serial port", zap.String("device", f.serial), zap.Int("baud", f.baud))
	case f.stdio:
		s, err := modem.OpenStdio()
		if err != nil {
			closeAnswerer(opts.Answerer)
			return err
		}
		dte = s
	default:
		p, err := modem.OpenPTY(f.link)
		if err != nil {
			closeAnswerer(opts.Answerer)
			return err
		}
		dte = p
		if hooks.dteReady != nil {
			hooks.dteReady(p.Path(), f.link)
		}
		log.Info("modem on pty", zap.String("pty", p.Path()), zap.String("link", f.link))
	}

	err := modem.Run(ctx, dte, opts)
	if err != nil && f.stdio && errors.Is(err, io.EOF) {
		return nil // standard input ended
	}
	return err
}

func closeAnswerer(a modem.Answerer) {
	if a != nil {
		_ = a.Close()
	}
}
