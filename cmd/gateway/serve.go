package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/bridge"
	"github.com/dialgate/dialgate/callbackd"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/listenaddr"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/transport/ws"
)

func init() {
	register(command{name: "serve", summary: "answer calls and bridge them to backends (the daemon)", run: runServe})
}

// demoUser is the account the no-configuration demo creates.
const demoUser = "demo"

// maxMetricsConns bounds the metrics endpoint's connections (scrapers,
// health checks, pprof): a few are ever in use.
const maxMetricsConns = 64

func runServe(args []string) int {
	fs := newFlagSet("serve", "[--config FILE]", `Answer calls on the configured lines, authenticate callers (V.42 LAPM with
Access Security, or text login), call back where configured, and bridge each
session to its backend.

Without --config, runs a safe demo: telnet-modem on 127.0.0.1:2323,
WebSocket on ws://127.0.0.1:8080/line, the built-in demo board, a demo user
whose password is printed, state under ~/.local/state/dialgate. Nothing
listens beyond loopback.

Signals: SIGHUP reloads the configuration's backends, line limits and the
users file without dropping calls ([callback] and listener addresses need a
restart), re-reads the TLS certificates and reopens a rotated calls.jsonl
and [log] file; SIGTERM (or SIGINT) stops taking calls (new callers hear
BUSY, shutting down) and drains calls for up to [lines] drain_timeout; a
second SIGTERM hangs up the rest at once.`)
	cfgPath := fs.String("config", "", "configuration file (TOML); none: run the loopback demo")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		msg := "gateway serve: unexpected arguments: " + strings.Join(fs.Args(), " ")
		if fs.NArg() == 1 && *cfgPath == "" {
			msg += " (a configuration file is given with --config: gateway serve --config " + fs.Arg(0) + ")"
		}
		fmt.Fprintln(os.Stderr, msg)
		return exitUsage
	}
	// From the start: a SIGHUP's default action ends the process, and
	// one sent while the gateway starts (logrotate, a certificate hook)
	// is a reload once it answers (under systemd a death by SIGHUP is a
	// clean exit, which Restart=on-failure does not restart).
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP)
	defer signal.Stop(sig)
	closeInheritedOnExec()
	demo := *cfgPath == ""
	var cfg *config.Config
	if demo {
		cfg = config.Demo()
	} else {
		c, err := config.Load(*cfgPath)
		if errors.Is(err, os.ErrPermission) {
			// As gateway check says it (new-user trial: serve gave no
			// hint).
			fmt.Fprintf(os.Stderr, "gateway serve: %v (the gateway runs as %s and may not read it: %s)\n", err, currentUserName(), configReadFix(*cfgPath))
			return exitFailure
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "gateway serve: %v\n", err)
			return exitFailure
		}
		cfg = c
	}
	zc, err := loggerConfig(cfg.Log)
	var log *zap.Logger
	var lf *logFile
	switch {
	case err != nil:
	case cfg.Log.File != "":
		if lf, err = openLogFile(cfg.Log.File); err == nil {
			defer lf.Close()
			log = fileLogger(zc, lf)
		} else {
			err = logFileError(cfg.Log.File, err)
		}
	default:
		log, err = zc.Build()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway serve: %v\n", err)
		return exitFailure
	}
	defer func() { _ = log.Sync() }()
	log.Info("starting", zap.String("version", versionString()), zap.String("go", runtime.Version()), zap.Int("pid", os.Getpid()))
	if err := hardenProcess(); err != nil {
		log.Warn("the process stays dumpable (core files, ptrace by its user)", zap.Error(err))
	}
	if err := serve(cfg, *cfgPath, demo, log, zc.Level, lf, sig); err != nil {
		if unsafeForOtherUser(err, cfg.StateDir) {
			// Started as root by mistake: the refusal's "chown root"
			// would lock out the gateway that runs as the state
			// directory's owner (operator trial).
			err = rootByMistake{err: err, msg: fmt.Sprintf("%s: run the gateway as the state directory's owner, not as root (runuser -u %s -- gateway %s; the shipped systemd unit does), and leave the ownership as it is",
				refusedWhy(err), stateDirUser(cfg.StateDir), strings.Join(append([]string{"serve"}, args...), " "))}
		}
		err = explainStartError(cfg, demo, err)
		// A console log would say the same on the same stderr: one
		// line is enough. A JSON log gets the event for its consumers,
		// and a log file for its readers.
		if cfg.Log.Format == config.LogJSON || lf != nil {
			log.Error("gateway cannot start", zap.Error(err))
		}
		fmt.Fprintf(os.Stderr, "gateway serve: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// explainStartError names the listener (or metrics endpoint) whose
// address could not be opened and says what to do for the usual causes:
// the port is taken, the port needs privileges, the host is not an
// address of this machine. Other errors are returned as they are.
func explainStartError(cfg *config.Config, demo bool, err error) error {
	// Only an address that cannot be listened on is explained here; other
	// start-up errors (a state directory that cannot be created, a users
	// file that cannot be read) say what they are themselves.
	if oe := (*net.OpError)(nil); !errors.As(err, &oe) || oe.Op != "listen" {
		return err
	}
	var what string
	var passed *listenaddr.PassedElsewhereError
	switch {
	case errors.As(err, &passed):
		what = fmt.Sprintf("systemd passed a socket on %s, not on this address: make the socket unit's ListenStream= and the listener's address the same", passed.Passed)
	case errors.Is(err, syscall.EADDRINUSE):
		what = "the address is already in use: another program (or another gateway) listens there; stop it"
		if demo {
			what += ", or run the gateway with a configuration file (--config) that names other addresses"
		} else {
			what += " or change the address in the configuration"
		}
	case errors.Is(err, syscall.EACCES):
		what = "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; use a port from 1024 up, or let systemd open it (socket activation: docs/operators.md)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		what = "the host is not an address of this machine; use one of its addresses, or 0.0.0.0 for every interface"
	default:
		return err
	}
	// Named by the error, not by its text: "localhost:P" fails as
	// "127.0.0.1:P", and "127.0.0.1:2323" is in "127.0.0.1:23230"
	// (operator trial: another listener was blamed).
	if le := (*bridge.ListenError)(nil); errors.As(err, &le) {
		return fmt.Errorf("listener %q (%s): %s (%w)", le.Listener, le.Address, what, err)
	}
	if me := (metricsListenError{}); errors.As(err, &me) {
		return fmt.Errorf("[metrics] listen %s: %s (%w)", cfg.Metrics.Listen, what, err)
	}
	return fmt.Errorf("%s (%w)", what, err)
}

// rootByMistake is serve's error for a state directory refused to root
// that belongs to the gateway's user: its message replaces the refusal's
// remedy (a chown to root), which would lock that gateway out.
type rootByMistake struct {
	err error
	msg string
}

func (e rootByMistake) Error() string { return e.msg }
func (e rootByMistake) Unwrap() error { return e.err }

// metricsListenError is serve's error for a [metrics] listen address it
// could not open.
type metricsListenError struct{ err error }

func (e metricsListenError) Error() string { return e.err.Error() }
func (e metricsListenError) Unwrap() error { return e.err }

func newLogger(c config.Log) (*zap.Logger, error) {
	zc, err := loggerConfig(c)
	if err != nil {
		return nil, err
	}
	return zc.Build()
}

// loggerConfig is the daemon's log: one line per event, for operators:
// no stack traces, no source file:line, ISO 8601 times, to stderr.
func loggerConfig(c config.Log) (zap.Config, error) {
	lvl, err := zapcore.ParseLevel(string(c.Level))
	if err != nil {
		return zap.Config{}, fmt.Errorf("log level: %w", err)
	}
	var zc zap.Config
	if c.Format == config.LogJSON {
		zc = zap.NewProductionConfig()
		// Sampling would drop call records' log lines under load.
		zc.Sampling = nil
	} else {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	zc.DisableStacktrace = true
	zc.DisableCaller = true
	zc.Development = false
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	zc.EncoderConfig.TimeKey = "time"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return zc, nil
}

// fileLogger is zc's logger writing to lf instead of stderr (zap's own
// errors too). zc.Build takes output paths only, not a writer. Lines lf
// lost (a full disk) are logged once it takes lines again.
func fileLogger(zc zap.Config, lf *logFile) *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zc.EncoderConfig)
	if zc.Encoding == "json" {
		enc = zapcore.NewJSONEncoder(zc.EncoderConfig)
	}
	log := zap.New(zapcore.NewCore(enc, lf, zc.Level), zap.ErrorOutput(lf))
	lf.mu.Lock()
	lf.lost = func(lines int, since time.Time, err error) {
		log.Warn("log lines lost: the log file did not take them", zap.String("file", lf.path),
			zap.Int("lines", lines), zap.Time("since", since), zap.Error(err))
	}
	lf.mu.Unlock()
	return log
}

// logFileError says what to do about a [log] file that cannot be opened.
func logFileError(path string, err error) error {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: create its directory first, owned by the gateway's user (install -d -m 0750 -o %s %s; under systemd, LogsDirectory= does)", err, currentLogin(), dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: the gateway's user (%s) must be able to write the file and its directory", err, currentLogin())
	}
	return err
}

// serve runs the gateway until SIGTERM or SIGINT; level is log's, which a
// reload sets. sig has received the SIGHUPs sent since the process began
// (reloads once the gateway answers); serve adds those two.
func serve(cfg *config.Config, path string, demo bool, log *zap.Logger, level zap.AtomicLevel, lf *logFile, sig chan os.Signal) error {
	// Judged before it is created: a state_dir in a directory others may
	// write in is refused, and not made there first.
	if err := auth.CheckStateDir(cfg.StateDir); err != nil {
		return err
	}
	// One this user may not write in or create stops here, with what to
	// do (new-user trial: serve stopped with a bare "permission denied"
	// on the host key's temporary file or the control socket).
	command := "gateway serve"
	if !demo {
		command += " --config " + path
	}
	if err := stateDirUnusable(cfg.StateDir, "the gateway", command); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return stateDirError(cfg.StateDir, err, currentUserName())
	}
	key, created, err := auth.LoadOrCreateHostKey(cfg.StateDir)
	if err != nil {
		return stateFileError(cfg.StateDir, err, currentUserName())
	}
	fp := key.Fingerprint()
	defer key.Wipe()
	ctl, err := listenControl(cfg.StateDir, log)
	if err != nil {
		return err
	}
	defer ctl.close()
	if created {
		log.Info("created host key", zap.String("state_dir", cfg.StateDir))
	}
	fmt.Printf("dialgate %s: host key fingerprint %s\n", version, fp)
	log.Info("host key", zap.String("fingerprint", fp))

	var demoPassword string
	if demo {
		if demoPassword, err = ensureDemoUser(cfg); err != nil {
			return err
		}
	}
	users, err := auth.LoadUsers(cfg.UsersFile)
	if errors.Is(err, fs.ErrNotExist) {
		// cfg.Warnings (logged below) says so and how to add a user.
		users, err = auth.NewUsers(), nil
	}
	if err != nil {
		return usersFileError(err, currentUserName())
	}
	logUsersWarnings(log, cfg, users)
	verifier := bridge.NewAuthVerifier(cfg, users, log.Named("auth"))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := bridge.NewMetrics(reg)
	if err != nil {
		return err
	}
	// Text login in clear beyond loopback, pty programs that are missing.
	for _, w := range cfg.Warnings() {
		log.Warn("configuration: " + w)
	}

	// Sockets a systemd socket unit holds for the listeners (socket
	// activation): each listener takes the one on its address.
	passed, err := listenaddr.Inherit()
	if err != nil {
		return err
	}
	if len(passed) > 0 {
		log.Info("socket activation", zap.Stringers("sockets", passed))
	}

	gw, err := bridge.Start(context.Background(), cfg, bridge.StartOptions{Logger: log, Verifier: verifier, Metrics: metrics, V42: &bridge.LAPMAnswerer{
		HostKey: key, Name: cfg.GatewayName, Throttle: verifier.Throttle(),
		Deadline: cfg.Security.HandshakeDeadline.Duration, CallbackTTL: cfg.Callback.Expiry.Duration,
		Logger: log.Named("lapm"),
	}})
	if err != nil {
		return stateFileError(cfg.StateDir, err, currentUserName())
	}
	registerHealthMetrics(reg, gw)
	reloads := newReloadStatus(time.Now())
	registerReloadMetrics(reg, reloads)
	cbSvc, err := startCallbacks(gw, cfg, log)
	if err != nil {
		_ = gw.Shutdown(context.Background())
		return err
	}
	defer cbSvc.Close()
	// Open while the gateway drains too: an operator may end the calls
	// that hold the drain up (gateway hangup).
	ctl.serve(gw, cbSvc, log)

	var metricsSrv *http.Server
	// A CPU profile or trace runs for its ?seconds= (30 by default), so
	// with pprof on the endpoint allows long responses.
	writeTimeout := 30 * time.Second
	if cfg.Metrics.PProf {
		writeTimeout = 5 * time.Minute
	}
	if cfg.Metrics.Listen != "" {
		ln, err := listenaddr.Listen(net.ListenConfig{}, string(cfg.Metrics.Listen))
		if err != nil {
			_ = gw.Shutdown(context.Background())
			return metricsListenError{fmt.Errorf("metrics: %w", err)}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			code, text := health(gw)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(code)
			fmt.Fprintln(w, text)
		})
		if cfg.Metrics.PProf {
			mountPProf(mux)
		}
		// Bounded like every other listener: a scraper (or anything
		// else that reaches the port) cannot hold connections open, nor
		// open so many that the calls run out of descriptors (pentest:
		// any local user reaches a loopback port).
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: writeTimeout, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10, ErrorLog: httpErrorLog(log, "metrics")}
		ln = ws.BoundHTTP(ln, metricsSrv, maxMetricsConns, func(format string, args ...any) {
			log.Warn("metrics: " + fmt.Sprintf(format, args...))
		})
		go func() { _ = metricsSrv.Serve(ln) }()
		log.Info("metrics", zap.String("address", "http://"+ln.Addr().String()+"/metrics"), zap.Bool("pprof", cfg.Metrics.PProf))
	}
	for _, a := range listenaddr.Leftover() {
		log.Warn("socket activation: no listener in the configuration has the address of a socket systemd passed; callers there wait unanswered: add a listener with that address, or remove it from the socket unit's ListenStream=",
			zap.Stringer("socket", a))
	}
	// Said once everything is open (new-user trial: "answering" was
	// logged, and then a metrics address in use stopped the gateway).
	for _, l := range cfg.Listeners {
		log.Info("answering", zap.String("listener", l.Name), zap.String("address", gw.Addr(l.Name)),
			zap.String("v42", string(l.V42)), zap.String("security", string(l.Security)), zap.String("text_login", string(l.TextLogin)))
	}
	sdNotify("READY=1")

	if demo {
		fmt.Printf("\nDemo gateway (no configuration file). Nothing listens beyond loopback.\n")
		fmt.Printf("  telnet:     telnet 127.0.0.1 2323\n")
		fmt.Printf("  browser:    http://127.0.0.1:8080/ (terminal page)\n")
		fmt.Printf("  WebSocket:  %s\n", gw.Addr("web"))
		fmt.Printf("  V.42:       gateway dial --tofu telnet://127.0.0.1:2323\n")
		fmt.Printf("  login:      %s\n  password:   %s\n", demoUser, demoPassword)
		fmt.Printf("  state:      %s\n\n", cfg.StateDir)
	}

	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	for s := range sig {
		if s == syscall.SIGHUP {
			reloads.done(reload(gw, verifier, cbSvc, path, log, level, lf), time.Now())
			continue
		}
		drain := gw.Config().Lines.DrainTimeout.Duration
		sdNotify("STOPPING=1")
		log.Info("stopping: no new calls; draining", zap.String("signal", s.String()), zap.Int("calls", gw.ActiveCalls()),
			zap.Int("callbacks_pending", cbSvc.Pending()), zap.Duration("deadline", drain))
		// Callbacks not placed yet are not placed: each ends with its
		// record (callback-failed, shutdown) while the store is open.
		// One already bridged is a call, and drains with the others
		// (Close, deferred, waits for it after the drain).
		cbSvc.EndPending()
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		// A second SIGTERM or SIGINT cuts the drain short (an operator
		// who does not want to wait); SIGHUP has nothing to reload now.
		stopped := make(chan struct{})
		go func() {
			for {
				select {
				case <-stopped:
					return
				case s := <-sig:
					if s == syscall.SIGHUP {
						log.Info("reload ignored: the gateway is stopping")
						continue
					}
					log.Warn("second signal: hanging up the remaining calls now", zap.String("signal", s.String()))
					cancel()
					return
				}
			}
		}()
		// A drain cut short is logged by the gateway with the count of
		// calls it hung up.
		_ = gw.Shutdown(ctx)
		close(stopped)
		cancel()
		if metricsSrv != nil {
			_ = metricsSrv.Close()
		}
		log.Info("stopped")
		return nil
	}
	return nil
}

// reload re-reads the configuration file (backends, line limits,
// maintenance switch, the log level, the login throttle) and the users
// file. Listener addresses, state_dir, the log format, the [callback] and
// [metrics] sections and the hashing settings of [security] (argon2_*,
// max_hashing, hash_queue) need a restart.
//
// It returns whether the configuration and the users file were both
// taken (dialgate_config_last_reload_successful).
func reload(gw *bridge.Gateway, v *bridge.AuthVerifier, cb *callbackd.Service, path string, log *zap.Logger, level zap.AtomicLevel, lf *logFile) bool {
	// The log first, so that what this reload logs goes to the new file
	// (logrotate's `create`, then this signal).
	if lf != nil {
		switch reopened, err := lf.Reopen(); {
		case err != nil:
			log.Error("reload: log file not reopened; the log goes on to the one open", zap.String("file", lf.path), zap.Error(err))
		case reopened:
			log.Info("log file reopened (it was rotated or removed)", zap.String("file", lf.path))
		}
	}
	cfg := gw.Config()
	oldCfg, oldUsers := cfg, v.Auth().Users().List()
	// Certificates renewed in place are read whatever else the reload
	// finds: their files are the listeners' as opened, and one that does
	// not load keeps the one served before (the gateway logs which).
	certs := gw.ReloadCertificates()
	// So is a rotated calls.jsonl (logrotate's `create`, then this
	// signal): the next records go to the file by its name.
	switch reopened, err := gw.Store.Reopen(); {
	case err != nil:
		log.Error("reload: call records file not reopened; records go on to the one open", zap.String("records", gw.Store.RecordsPath()), zap.Error(err))
	case reopened:
		log.Info("call records file reopened (it was rotated or removed)", zap.String("records", gw.Store.RecordsPath()))
	}
	if path != "" {
		// The TLS files were read just now, as served: a broken one
		// must not keep the users and backends from reloading.
		c, err := config.LoadReload(path)
		if err != nil {
			log.Error("reload: configuration not valid; keeping the old one", zap.Error(err))
			return false
		}
		// Listeners are opened at start-up: say which ones the reload
		// leaves as they are (operator trial: a listener replaced by
		// another of a new name, the count unchanged, went on answering
		// without a word).
		for _, l := range c.Listeners {
			o, ok := cfg.Listener(l.Name)
			switch {
			case !ok:
				log.Warn("reload: a new listener answers only after a restart", zap.String("listener", l.Name), zap.String("address", l.Address))
			case o.Address != l.Address:
				log.Warn("reload: listener addresses change only with a restart; it still answers at the old one",
					zap.String("listener", l.Name), zap.String("address", o.Address), zap.String("configured", l.Address))
			}
		}
		for _, o := range cfg.Listeners {
			if _, ok := c.Listener(o.Name); !ok {
				log.Warn("reload: a listener removed from the configuration still answers until a restart", zap.String("listener", o.Name), zap.String("address", o.Address))
			}
		}
		// The callback service, and the life of V.42 callback tickets
		// (expiry), are set up at start-up: keep the [callback] in
		// effect, so that gw.Config() says which it is.
		if c.Callback != cfg.Callback {
			log.Warn("reload: [callback] changes take effect only with a restart")
		}
		c.Callback = cfg.Callback
		// Opened at start-up as well (operator trial: changes to these
		// were dropped without a word).
		if c.Metrics != cfg.Metrics {
			log.Warn("reload: [metrics] changes take effect only with a restart")
		}
		if c.StateDir != cfg.StateDir {
			log.Warn("reload: state_dir changes take effect only with a restart", zap.String("state_dir", cfg.StateDir))
			if c.UsersFile == filepath.Join(c.StateDir, "users.toml") && cfg.UsersFile == filepath.Join(cfg.StateDir, "users.toml") {
				// The default users_file follows the state_dir in
				// effect, not the one that waits for the restart
				// (retest: every account was gone after the reload).
				c.UsersFile = filepath.Join(cfg.StateDir, "users.toml")
			}
		}
		if c.Log.Format != cfg.Log.Format {
			log.Warn("reload: [log] format changes take effect only with a restart", zap.String("kept", string(cfg.Log.Format)), zap.String("configured", string(c.Log.Format)))
		}
		if c.Log.File != cfg.Log.File {
			log.Warn("reload: [log] file changes take effect only with a restart", zap.String("kept", cfg.Log.File), zap.String("configured", c.Log.File))
		}
		c.Metrics, c.StateDir, c.Log.Format, c.Log.File = cfg.Metrics, cfg.StateDir, cfg.Log.Format, cfg.Log.File
		// The verifier's hashing slots are sized at start-up (operator
		// trial: these changed without effect, and the reload line
		// said "security" had changed).
		if d := keepHashing(cfg.Security, &c.Security); len(d) > 0 {
			log.Warn("reload: [security] " + strings.Join(d, ", ") + " changes take effect only with a restart (kept as served)")
		}
		// Keep the listeners being served; take everything else.
		var kept []string
		c.Listeners, kept = mergeListeners(cfg.Listeners, c.Listeners)
		for _, k := range kept {
			log.Warn("reload: " + k)
		}
		cfg = c
		// As at start-up: a pty program that is missing, text login in
		// clear beyond loopback.
		for _, w := range cfg.Warnings() {
			log.Warn("configuration: " + w)
		}
	}
	users, err := auth.LoadUsers(cfg.UsersFile)
	if errors.Is(err, fs.ErrNotExist) {
		// As at start-up: no file, no accounts. Removing it is how an
		// operator may lock every account out at once; keeping the old
		// users would leave them all live.
		log.Warn("reload: users file missing: no accounts now, every login is denied", zap.String("users_file", cfg.UsersFile))
		users, err = auth.NewUsers(), nil
	}
	usersKept := err != nil
	switch {
	case errors.Is(err, auth.ErrUsersFilePerm):
		log.Error("reload: users file refused; keeping the old users", zap.Error(err))
	case err != nil:
		log.Error("reload: users file not valid; keeping the old users", zap.Error(err))
	default:
		logUsersWarnings(log, cfg, users)
		v.SetUsers(users)
	}
	// Callbacks waiting to be placed follow the accounts as they are now
	// (whatever becomes of the rest of the reload).
	withdrawn := 0
	if cb != nil {
		now := time.Now()
		withdrawn = len(cb.WithdrawIf(func(j callbackd.Job) string {
			return staleCallback(v.Auth().Users(), j, now)
		}))
	}
	if err := gw.Reload(cfg, nil); err != nil {
		log.Error("reload failed", zap.Error(err), zap.Int("callbacks_withdrawn", withdrawn))
		return false
	}
	v.SetThrottle(cfg)
	if cfg.Log.Level != oldCfg.Log.Level {
		// Valid: LoadSettings checked it.
		if lvl, err := zapcore.ParseLevel(string(cfg.Log.Level)); err == nil {
			// Said at the level that shows more: before a rise, after
			// a fall.
			if lvl > level.Level() {
				log.Info("reload: log level changed", zap.String("log_level", lvl.String()))
				level.SetLevel(lvl)
			} else {
				level.SetLevel(lvl)
				log.Info("reload: log level changed", zap.String("log_level", lvl.String()))
			}
		}
	}
	// The users in effect: the old ones when the file was refused.
	users2 := v.Auth().Users().List()
	ch := reloadChanges(oldCfg, cfg, oldUsers, users2)
	msg, lvl := "reloaded (SIGHUP)", zapcore.InfoLevel
	if usersKept {
		// Not a success (operator trial: "reloaded" at info right
		// after the error read as one).
		msg, lvl = "reloaded (SIGHUP) without the users file: the old users stay", zapcore.WarnLevel
	}
	log.Log(lvl, msg, zap.Int("users", len(users2)), zap.Int("backends", len(cfg.Backends)),
		zap.Int("users_added", ch.usersAdded), zap.Int("users_removed", ch.usersRemoved), zap.Int("users_changed", ch.usersChanged),
		zap.Int("backends_changed", ch.backendsChanged), zap.Bool("maintenance", cfg.Lines.Maintenance), zap.Bool("maintenance_changed", ch.maintenance),
		zap.String("settings_changed", ch.settings), zap.Int("certificates_changed", certs), zap.Int("callbacks_withdrawn", withdrawn))
	return !usersKept
}

// staleCallback says why the callback job j, scheduled at a login, must
// not be placed any more now that the users file says what users does
// ("" if it may): the account was deleted, disabled or has expired, or
// its callback address is another one now (or none).
func staleCallback(users *auth.Users, j callbackd.Job, now time.Time) string {
	u, ok := users.Lookup(j.User)
	switch {
	case !ok:
		return "the account was deleted"
	case u.Disabled:
		return "the account was disabled"
	case u.Expired(now):
		return "the account has expired"
	case u.Callback != j.Address:
		return "the account's callback address was changed"
	}
	return ""
}

// stateDirError is the error gateway serve stops with when it cannot
// create the state directory dir: it names the key, and for a missing
// permission the user (who) and the command that makes the directory.
func stateDirError(dir string, err error, who string) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("state_dir %s: %w (the gateway runs as %s: create the directory for it, install -d -m 0700 -o %s %s)", dir, err, who, who, dir)
	}
	return fmt.Errorf("state_dir %s: %w", dir, err)
}

// stateFileError is the error gateway serve stops with when a file in
// the state directory dir (the host key, calls.jsonl, session.next)
// does not open: one the gateway's user (who) may not use, most likely
// made by a gateway or keygen run as root before the directory was
// given to that user (new-user trial: "store: open .../calls.jsonl:
// permission denied" and no more), gets the chown that makes the
// directory's files that user's.
func stateFileError(dir string, err error, who string) error {
	var pe *fs.PathError
	if errors.Is(err, fs.ErrPermission) && errors.As(err, &pe) && strings.HasPrefix(pe.Path, dir+string(filepath.Separator)) {
		return fmt.Errorf("%w (the gateway runs as %s and may not use it: make the state directory's files that user's, chown -R %s %s, or run the gateway as their owner)", err, who, who, dir)
	}
	return err
}

// usersFileError is the error gateway serve stops with when the users
// file does not load. A refused mode names the file and the chmod that
// fixes it; a file the gateway's user (who) may not read gets a hint.
func usersFileError(err error, who string) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w (the gateway runs as %s and may not read it: make it that user's file, chown, or its group's with mode 0640)", err, who)
	}
	return err
}

// logUsersWarnings logs what LoadUsers found wrong with a users file it
// loaded anyway (a mode that lets other users read the password hashes)
// and the accounts whose backend cfg does not define, on every load: at
// start-up and on each reload.
func logUsersWarnings(log *zap.Logger, cfg *config.Config, users *auth.Users) {
	for _, w := range users.Warnings() {
		log.Warn(w)
	}
	for _, w := range userBackendWarnings(cfg, users) {
		log.Warn("users file: " + w)
	}
}

// keepHashing sets the [security] keys of now that size the verifier's
// hashing (fixed at start-up) back to was's values, and names those
// that differed.
func keepHashing(was config.Security, now *config.Security) []string {
	var d []string
	if now.Argon2Time != was.Argon2Time {
		d = append(d, "argon2_time")
	}
	if now.Argon2MemoryKiB != was.Argon2MemoryKiB {
		d = append(d, "argon2_memory_kib")
	}
	if now.Argon2Threads != was.Argon2Threads {
		d = append(d, "argon2_threads")
	}
	if now.MaxHashing != was.MaxHashing {
		d = append(d, "max_hashing")
	}
	if now.HashQueue != was.HashQueue {
		d = append(d, "hash_queue")
	}
	now.Argon2Time, now.Argon2MemoryKiB, now.Argon2Threads = was.Argon2Time, was.Argon2MemoryKiB, was.Argon2Threads
	now.MaxHashing, now.HashQueue = was.MaxHashing, was.HashQueue
	return d
}

// mergeListeners keeps the served listeners, with new settings for those
// whose name and address did not change, except the settings fixed when
// the listener was opened (openSettings), which stay as served: kept
// says, per listener, which of those the new configuration changes
// (they take effect only with a restart).
func mergeListeners(served, fresh []config.Listener) (out []config.Listener, kept []string) {
	out = make([]config.Listener, len(served))
	for i, s := range served {
		out[i] = s
		for _, f := range fresh {
			if f.Name != s.Name || f.Address != s.Address {
				continue
			}
			if d := keepOpenSettings(s, &f); len(d) > 0 {
				kept = append(kept, fmt.Sprintf("listener %q: %s change only with a restart (kept as served)", s.Name, strings.Join(d, ", ")))
			}
			out[i] = f
		}
	}
	return out, kept
}

// keepOpenSettings puts back into f the settings of a listener that
// bridge.OpenListener fixed when it opened it (s), and names those f had
// changed.
func keepOpenSettings(s config.Listener, f *config.Listener) (changed []string) {
	keep := func(differ bool, name string) bool {
		if differ {
			changed = append(changed, name)
		}
		return differ
	}
	if keep(s.TelnetOn() != f.TelnetOn(), "telnet") {
		f.Telnet = s.Telnet
	}
	if keep(s.TLSCert != f.TLSCert || s.TLSKey != f.TLSKey, "tls_cert, tls_key") {
		f.TLSCert, f.TLSKey = s.TLSCert, s.TLSKey
	}
	if keep(!slices.Equal(s.AllowedOrigins, f.AllowedOrigins), "allowed_origins") {
		f.AllowedOrigins = s.AllowedOrigins
	}
	if keep(!slices.Equal(s.TrustedProxies, f.TrustedProxies), "trusted_proxies") {
		f.TrustedProxies = s.TrustedProxies
	}
	if keep(s.Charset != f.Charset, "charset") {
		f.Charset = s.Charset // the page was made with it
	}
	if keep(s.ProxyProtocol != f.ProxyProtocol, "proxy_protocol") {
		f.ProxyProtocol = s.ProxyProtocol
	}
	if keep(s.HTTPMaxConns != f.HTTPMaxConns || s.HTTPMaxConnsPerSource != f.HTTPMaxConnsPerSource, "http_max_conns, http_max_conns_per_source") {
		f.HTTPMaxConns, f.HTTPMaxConnsPerSource = s.HTTPMaxConns, s.HTTPMaxConnsPerSource
	}
	if keep(servesPage(s) && (s.V42 == config.V42LAPM) != (f.V42 == config.V42LAPM), "v42 (between \"lapm\" and the others: the browser page's login)") {
		f.V42 = s.V42
	}
	return changed
}

// servesPage tells a WebSocket listener that serves the browser page
// (its line's path is not "/": bridge.OpenListener), whose login mode
// (v42 "lapm" or not) is chosen when it opens.
func servesPage(l config.Listener) bool {
	if l.Scheme() != "ws" && l.Scheme() != "wss" {
		return false
	}
	u, err := url.Parse(l.Address)
	return err == nil && u.Path != "" && u.Path != "/"
}

// ensureDemoUser creates the demo account (random password, kept in
// state_dir/demo-password with mode 0600 so it can be shown again) and
// returns its password.
func ensureDemoUser(cfg *config.Config) (string, error) {
	pwFile := filepath.Join(cfg.StateDir, "demo-password")
	if b, err := os.ReadFile(pwFile); err == nil {
		if _, err := os.Stat(cfg.UsersFile); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	raw := make([]byte, 10)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	pw := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	hash, err := auth.HashPassword(pw, bridge.Argon2Params(cfg))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	// A read-modify-write under the lock `gateway user` takes: accounts
	// already in the file (`gateway user add` writes the same default
	// path) are kept, and a user command run at the same time does not
	// interleave with this write.
	_, err = editUsersFile(cfg.UsersFile, defaultUsersLockWait, true, func(users *auth.Users) (int, error) {
		demo := auth.User{ID: demoUser, Hash: hash, Backend: "demo"}
		if _, ok := users.Lookup(demoUser); ok {
			return exitFailure, users.Update(demo)
		}
		return exitFailure, users.Add(demo)
	})
	if err != nil {
		return "", err
	}
	return pw, nil
}

// printfLogger adapts zap to the core packages' narrow Printf loggers.
type printfLogger struct{ s *zap.SugaredLogger }

func (p printfLogger) Printf(format string, args ...any) { p.s.Debugf(format, args...) }

// startCallbacks runs the callback service (callbackd) for the gateway:
// users with a callback address are hung up on and called back; proved
// callbacks are bridged by the gateway; a callback that never connects is
// recorded as callback-failed.
func startCallbacks(gw *bridge.Gateway, cfg *config.Config, log *zap.Logger) (*callbackd.Service, error) {
	clog := log.Named("callback")
	history := &callbackHistory{earlier: map[uint64][]string{}}
	svc, err := callbackd.New(callbackd.Options{
		Config: callbackd.FromConfig(cfg.Callback),
		Place: callbackd.Modes{
			Text: callbackd.TextConfirm{Name: cfg.GatewayName},
			// The callback line is dialed through the registry, not a
			// listener: offer what an unpaced listener offers.
			V42: callbackd.LAPM(callbackd.LAPMConfig{Params: bridge.LinkParams(config.Listener{}), Logger: func(job callbackd.Job) lapm.Logger {
				return bridge.LinkLogger(log.Named("lapm"), job.Session, job.Address)
			}}),
		},
		Handoff: func(_ context.Context, job callbackd.Job, s callbackd.Session) {
			req, _ := job.Data.(bridge.CallbackRequest)
			cs := bridge.CallbackSession{Request: req, Line: s.Line, Link: s.Conn, Attempts: s.Attempts}
			if l, ok := s.Conn.(*lapm.Link); ok {
				cs.Stats = func() *store.LAPMStats { return bridge.LAPMStatsOf(l.Stats(), job.Ticket.Cipher()) }
			}
			if err := gw.BridgeCallback(cs); err != nil {
				clog.Warn("callback not bridged", zap.Uint64("session", job.Session), zap.Error(err))
			}
		},
		Recorder: callbackd.RecorderFunc(func(a callbackd.Attempt) {
			rec, failed := history.take(a)
			fields := []zap.Field{zap.Uint64("session", a.Session), zap.String("user", a.User), zap.String("address", a.Address),
				zap.Int("attempt", a.Number), zap.Int("dials", a.Dials), zap.String("result", a.Result.String()), zap.Bool("final", a.Final)}
			if a.Err != nil {
				fields = append(fields, zap.Error(a.Err))
			}
			clog.Info("callback attempt", fields...)
			if failed {
				if err := gw.Store.AppendRecord(rec); err != nil {
					bridge.LogRecordError(clog, err)
				}
			}
		}),
		Logger: printfLogger{clog.Sugar()},
	})
	if err != nil {
		return nil, err
	}
	gw.SetCallback(svc.CallbackFunc())
	return svc, nil
}

// mountPProf serves Go's runtime profiles under /debug/pprof/ ([metrics]
// pprof = true): `go tool pprof http://HOST:PORT/debug/pprof/profile`
// for 30 s of CPU, .../heap for memory, .../goroutine?debug=1 for stacks.
func mountPProf(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
