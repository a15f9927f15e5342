// Package config reads and checks the gateway's TOML configuration
// (config.toml): listeners, line slots, security, callback, backends, users
// file, state directory, logging and metrics.
//
// Parsing is strict. A key the gateway does not know, a value of the wrong
// type and a value out of range are all errors that name the file, line
// and column (file:line:column), so that a typo never silently turns a
// setting off. Durations are strings in Go syntax ("750ms", "30s").
//
// Load returns a Config with every default filled in; Demo returns the safe
// configuration `gateway serve` runs without a file (loopback only). The
// file format is documented key by key in config.toml.example at the root of
// the repository; a test keeps that file valid.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/dialgate/dialgate/transport"
)

// ErrInvalid is wrapped by every error about the content of a configuration.
var ErrInvalid = errors.New("config: invalid configuration")

// Config is the whole gateway configuration.
type Config struct {
	// File is the path the configuration was read from ("" for Demo).
	File string `toml:"-"`

	GatewayName    string `toml:"gateway_name"`
	StateDir       string `toml:"state_dir"`
	UsersFile      string `toml:"users_file"`
	DefaultBackend string `toml:"default_backend"`

	Log       Log        `toml:"log"`
	Metrics   Metrics    `toml:"metrics"`
	Lines     Lines      `toml:"lines"`
	Security  Security   `toml:"security"`
	Callback  Callback   `toml:"callback"`
	Listeners []Listener `toml:"listener"`
	Backends  []Backend  `toml:"backend"`

	// readTLSFiles: validation loads the listeners' TLS files (Load,
	// not LoadSettings or LoadReload); readBanners: it reads their
	// banner_file (Load and LoadReload).
	readTLSFiles, readBanners bool
}

// Log configures the daemon's log.
type Log struct {
	Format LogFormat `toml:"format"` // "console" (default) or "json"
	Level  LogLevel  `toml:"level"`  // "debug", "info" (default), "warn", "error"
	// File is a file the log is appended to instead of stderr ("":
	// stderr), reopened by its name on SIGHUP when it was rotated.
	File string `toml:"file"`
}

// Metrics configures the Prometheus /metrics and /healthz endpoint.
type Metrics struct {
	// Listen is host:port for the HTTP endpoint; "" disables it.
	Listen HostPort `toml:"listen"`
	// PProf also serves Go's runtime profiles (net/http/pprof) under
	// /debug/pprof/ on that endpoint, for profiling a running gateway.
	PProf bool `toml:"pprof"`
}

// Lines configures the line slots.
type Lines struct {
	MaxConcurrent int `toml:"max_concurrent"` // calls at once; more get BUSY
	PerSource     int `toml:"per_source"`     // calls at once from one remote address; 0 = no limit
	// PerUser bounds the calls logged in as one account at once
	// (sessions, backends being dialled, callbacks' sessions); a login
	// past it is refused. 0 = no limit.
	PerUser     int  `toml:"per_user"`
	Maintenance bool `toml:"maintenance"` // answer every call with BUSY
	// Holdoff: after a call from an address hangs up, further calls from
	// that address get BUSY for this long (anti-bot). 0 disables.
	Holdoff Duration `toml:"holdoff"`
	// DrainTimeout bounds how long SIGTERM waits for calls to finish.
	DrainTimeout Duration `toml:"drain_timeout"`
	// IdleTimeout ends a bridged session after this long without an octet
	// in either direction; 0 = never. Listeners may override it.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxSession ends a bridged session this long after it was bridged,
	// busy or not; 0 = no limit. Listeners may override it.
	MaxSession Duration `toml:"max_session"`
}

// DefaultIdleTimeout is [lines] idle_timeout when the file does not set
// it: long enough for a caller reading a long message, short enough that
// a forgotten session does not hold a line for a day.
const DefaultIdleTimeout = 30 * time.Minute

// Security configures authentication.
type Security struct {
	Mode      SecurityMode `toml:"mode"`       // default for listeners without their own
	TextLogin TextLogin    `toml:"text_login"` // default for listeners without their own

	HandshakeDeadline Duration `toml:"handshake_deadline"` // whole Access Security handshake or text login
	LoginTries        int      `toml:"login_tries"`        // text-login attempts per call

	Argon2Time      uint32 `toml:"argon2_time"`       // argon2id passes for new hashes
	Argon2MemoryKiB uint32 `toml:"argon2_memory_kib"` // argon2id memory for new hashes
	Argon2Threads   uint8  `toml:"argon2_threads"`    // argon2id lanes for new hashes
	MaxHashing      int    `toml:"max_hashing"`       // password hashes computed at once
	HashQueue       int    `toml:"hash_queue"`        // verifications waiting; more are shed (busy)

	ThrottleBase        Duration `toml:"throttle_base"`          // first back-off after a failure
	ThrottleMax         Duration `toml:"throttle_max"`           // back-off cap
	MaxPendingPerSource int      `toml:"max_pending_per_source"` // handshakes at once per address
}

// Callback configures callbacks (issue 5, callbackd).
type Callback struct {
	Delay         Duration `toml:"delay"`          // wait after hanging up before dialling back
	Attempts      int      `toml:"attempts"`       // dial attempts
	Backoff       Duration `toml:"backoff"`        // wait between attempts (doubles each time)
	Expiry        Duration `toml:"expiry"`         // a pending callback is dropped after this
	MaxConcurrent int      `toml:"max_concurrent"` // callbacks in progress at once
	// HandshakeTimeout bounds proving one callback on the answered line
	// (the text confirmation, or V.42 detection and phases v/vi); the
	// attempt holds a callback slot meanwhile.
	HandshakeTimeout Duration `toml:"handshake_timeout"`
}

// Listener is one line the gateway answers on.
type Listener struct {
	Name string `toml:"name"`
	// Address is a line URL: telnet://host:port (telnet-modem),
	// tcp://host:port (raw octets), ws://host:port/path, wss://host:port/path.
	Address string `toml:"address"`
	// Telnet overrides the scheme's telnet handling for tcp and telnet
	// addresses (nil: telnet:// speaks telnet, tcp:// does not).
	Telnet   *bool   `toml:"telnet"`
	LineRate int     `toml:"line_rate"` // bit/s cap on the line; 0 = none
	V42      V42Mode `toml:"v42"`
	// LAPM parameters the answerer offers in XID negotiation (V.42
	// clause 8.10; the caller's offer may lower them). Zero and nil
	// take the defaults for the listener's LineRate (DefaultLAPM); read
	// them through LAPM.
	LAPMN401  int          `toml:"lapm_n401"`  // largest I field, octets (PI 5/6)
	LAPMK     int          `toml:"lapm_k"`     // window, frames (PI 7/8)
	LAPMFCS32 *bool        `toml:"lapm_fcs32"` // offer FCS-32 (optional function 17)
	LAPMSREJ  *bool        `toml:"lapm_srej"`  // offer SREJ (optional function 3)
	Security  SecurityMode `toml:"security"`
	// TextLogin: "" takes [security].text_login.
	TextLogin      TextLogin `toml:"text_login"`
	TLSCert        string    `toml:"tls_cert"`
	TLSKey         string    `toml:"tls_key"`
	AllowedOrigins []string  `toml:"allowed_origins"`
	// TrustedProxies are reverse proxies (IP addresses or CIDR prefixes)
	// in front of a ws/wss listener whose X-Forwarded-For (the caller's
	// address, for per_source, throttling and records) and
	// X-Forwarded-Proto ("https": the line counts as encrypted) are
	// believed.
	TrustedProxies []string `toml:"trusted_proxies"`
	// ProxyProtocol: a tcp:// or telnet:// listener behind a TCP proxy
	// (HAProxy send-proxy / send-proxy-v2, nginx stream proxy_protocol
	// on): a connection from one of TrustedProxies must begin with a
	// PROXY protocol header (v1 or v2), whose source address is the
	// caller's. Connections from elsewhere are callers themselves.
	ProxyProtocol bool `toml:"proxy_protocol"`
	// AllowedSources, when set, are the only caller addresses (IP
	// addresses or CIDR prefixes) the listener answers; a call from
	// elsewhere is hung up with a line saying so and recorded refused.
	// The caller's address is the one the gateway knows: a trusted
	// proxy's PROXY header or X-Forwarded-For gives it.
	AllowedSources []string `toml:"allowed_sources"`
	// HTTPMaxConns and HTTPMaxConnsPerSource bound a ws/wss listener's
	// HTTP connections that are not (yet) lines: in all, and from one
	// address (IPv4, or an IPv6 /64); 0 takes the defaults
	// (ws.DefaultMaxConns 1024, ws.DefaultMaxConnsPerSource 128).
	HTTPMaxConns          int `toml:"http_max_conns"`
	HTTPMaxConnsPerSource int `toml:"http_max_conns_per_source"`
	// Charset is a ws/wss listener's browser page's default character
	// set: "utf-8" ("" is the same) or "cp437" (IBM PC, ANSI BBS art).
	// A user's own choice on the page, or ?charset=, overrides it.
	Charset string `toml:"charset"`
	// Backend is the backend for users without one of their own ("" takes
	// default_backend).
	Backend string `toml:"backend"`
	// IdleTimeout and MaxSession override [lines] idle_timeout and
	// max_session for this listener's calls (nil: take them; "0s": off).
	// Read them through SessionLimits.
	IdleTimeout *Duration `toml:"idle_timeout"`
	MaxSession  *Duration `toml:"max_session"`
	// BannerFile is a file whose text the text login shows before its
	// prompt (as telnetd shows /etc/issue.net): plain text or ANSI art,
	// at most MaxBanner octets. Banner is its content as sent (a bare
	// LF as CR LF), read with the configuration: at the start and at
	// every reload.
	BannerFile string `toml:"banner_file"`
	Banner     []byte `toml:"-"`
}

// MaxBanner bounds a listener's banner_file: 4 KiB is 17 s at 2,400
// bit/s before the login prompt.
const MaxBanner = 4096

// SessionLimits bound a bridged session's life (see Listener.SessionLimits).
type SessionLimits struct {
	Idle time.Duration // no octet either way for this long ends it; 0 = never
	Max  time.Duration // it ends this long after it was bridged; 0 = never
}

// SessionLimits are the limits of the listener's bridged sessions: its
// own idle_timeout and max_session where set, else those of lines.
func (l Listener) SessionLimits(lines Lines) SessionLimits {
	lim := SessionLimits{Idle: lines.IdleTimeout.Duration, Max: lines.MaxSession.Duration}
	if l.IdleTimeout != nil {
		lim.Idle = l.IdleTimeout.Duration
	}
	if l.MaxSession != nil {
		lim.Max = l.MaxSession.Duration
	}
	return lim
}

// Backend is a service sessions are bridged to.
type Backend struct {
	Name string      `toml:"name"`
	Type BackendType `toml:"type"`
	// Address is host:port for tcp and telnet backends.
	Address HostPort `toml:"address"`
	// ProxyProtocol sends a PROXY protocol v2 header first (tcp, telnet),
	// so the backend sees the caller's address.
	ProxyProtocol bool `toml:"proxy_protocol"`
	// Command is the program and its arguments for pty backends.
	Command []string `toml:"command"`
	Dir     string   `toml:"dir"` // working directory for pty backends
	Env     []string `toml:"env"` // extra KEY=VALUE environment for pty backends
	// Term is the TERM for pty backends and the terminal type offered to
	// telnet backends when the caller announced none.
	Term           string   `toml:"term"`
	ConnectTimeout Duration `toml:"connect_timeout"`
	// Echo says who echoes what a telnet caller types, for tcp
	// backends: EchoService (default: the service echoes, as a BBS does,
	// and the gateway keeps the echo it took for the login) or
	// EchoCaller (the service does not echo, as a line-based one does
	// not: the caller's terminal echoes locally).
	Echo string `toml:"echo"`
}

// Who echoes a telnet caller's typing on a tcp backend (Backend.Echo).
const (
	EchoService = "service"
	EchoCaller  = "caller"
)

// Position is where a problem sits in a file; zero fields are unknown.
type Position struct {
	File         string
	Line, Column int
}

func (p Position) String() string {
	switch {
	case p.Line > 0 && p.Column > 0:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	case p.Line > 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}

// Problem is one error found in a configuration file.
type Problem struct {
	Pos Position
	Key string // dotted key, "" when not known
	Err error
}

// Error reads like a compiler's message, "file:line:column: key: what is
// wrong"; the position is what an operator needs first. errors.Is still
// finds ErrInvalid through Unwrap.
func (p Problem) Error() string {
	key := ""
	if p.Key != "" {
		key = p.Key + ": "
	}
	msg := strings.TrimPrefix(fmt.Sprint(p.Err), ErrInvalid.Error()+": ")
	return fmt.Sprintf("%s: %s%s", p.Pos, key, msg)
}

func (p Problem) Unwrap() error { return p.Err }

// Problems is every error found in one file; Load returns it (as error)
// when the file is not valid.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.Is(err, ErrInvalid) see through.
func (ps Problems) Unwrap() []error {
	out := make([]error, len(ps))
	for i := range ps {
		out[i] = ps[i]
	}
	return out
}

// Load reads, decodes, fills defaults into and validates a configuration
// file. The error is a Problems listing every problem with its position,
// or a plain error when the file cannot be read.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// LoadSettings is Load without reading the listeners' TLS files and
// banners: for the commands that use the configuration's paths and
// settings but serve no listener (gateway user, calls, hangup, keygen),
// which may run as a user who cannot read the private key, and need not
// find the banner (review: gateway user failed on a missing one).
func LoadSettings(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, data, false, false)
}

// LoadReload is Load for a reload: the banners are read again, the TLS
// files are not (the listeners keep serving the files they were opened
// with, and the gateway reads their renewed contents itself).
func LoadReload(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, data, false, true)
}

// Parse is Load for content already in memory; name is used in positions.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, true, true)
}

// maxSetAside bounds the values of the wrong type parse sets aside to
// report the rest of the file.
const maxSetAside = 32

func parse(name string, data []byte, readTLSFiles, readBanners bool) (*Config, error) {
	text := string(data)
	// A value of the wrong TOML type stops the decoder. Its line is set
	// aside (blanked, so that every other line keeps its number) and
	// the file decoded again, so that the problems before and after it
	// are reported too (new-user trial: a typo above a wrong type showed
	// only once the type was fixed). A syntax error stops the check.
	var aside Problems
	for {
		c := base()
		c.File = name
		c.readTLSFiles, c.readBanners = readTLSFiles, readBanners
		loc := newLocator(text)
		md, err := toml.NewDecoder(strings.NewReader(text)).Decode(c)
		if err != nil {
			p := decodeProblem(name, loc, err)
			var pe toml.ParseError
			if !errors.As(err, &pe) && len(aside) < maxSetAside {
				if t, ok := blankLine(text, p.Pos.Line, p.Key); ok {
					aside = append(aside, p)
					text = t
					continue
				}
			}
			ps := append(aside, p)
			sortProblems(ps)
			return nil, dedupe(ps)
		}
		return check(c, loc, md, aside)
	}
}

// blankLine returns text with its line n (from 1) emptied, if that line
// is key's alone ("per_source = ..." for lines.per_source) and what is
// left is still TOML: a one-line value. A line of a value that spans
// lines, a table header ([listener] for [[listener]]: its problem says
// what to write, and without it its keys would be reported as
// misplaced) and an inline table holding the key (whose other keys
// would go with it) are not blanked.
func blankLine(text string, n int, key string) (string, bool) {
	lines := strings.SplitAfter(text, "\n")
	if n < 1 || n > len(lines) || key == "" {
		return "", false
	}
	name := key[strings.LastIndex(key, ".")+1:]
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(lines[n-1]), name)
	if !ok || !strings.HasPrefix(strings.TrimSpace(rest), "=") {
		return "", false
	}
	nl := ""
	if strings.HasSuffix(lines[n-1], "\n") {
		nl = "\n"
	}
	lines[n-1] = nl
	t := strings.Join(lines, "")
	var doc map[string]any
	if _, err := toml.Decode(t, &doc); err != nil {
		return "", false
	}
	return t, true
}

// check checks a decoded configuration; aside are the problems of the
// values parse set aside, whose keys are not reported again (as missing).
func check(c *Config, loc *locator, md toml.MetaData, aside Problems) (*Config, error) {
	name := c.File
	ps := unknownKeys(name, loc, md.Undecoded())
	// Bad values are reported and replaced by defaults, so that the
	// checks below see the rest of the file and every problem is listed
	// in one go.
	ps = append(ps, c.checkValues(loc)...)
	c.fillDefaults()
	ps = append(ps, c.validate(loc)...)
	ps = slices.DeleteFunc(ps, func(p Problem) bool {
		return p.Key != "" && slices.ContainsFunc(aside, func(a Problem) bool { return a.Key == p.Key })
	})
	ps = append(ps, aside...)
	if len(ps) > 0 {
		sortProblems(ps)
		return nil, dedupe(ps)
	}
	return c, nil
}

// dedupe keeps the first of several problems about the same key at the
// same place: a bad value is reported where it is read, and the check
// that finds it missing afterwards (it was cleared) adds nothing.
func dedupe(ps Problems) Problems {
	out := ps[:0]
	for _, p := range ps {
		if !slices.ContainsFunc(out, func(q Problem) bool { return q.Key == p.Key && q.Pos == p.Pos && p.Key != "" }) {
			out = append(out, p)
		}
	}
	return out
}

// unknownKeys reports the keys the decoder did not take, each where it
// is written, with a hint at what was meant (unknownKeyHint). A key of an
// array of tables is named with its element ("listener[1].adress"); the
// keys inside an unknown table are not reported again.
func unknownKeys(name string, loc *locator, undecoded []toml.Key) Problems {
	var ps Problems
	var unknownTables [][]string
	seen := map[string]int{} // occurrences of a path so far
	for _, k := range undecoded {
		path := []string(k)
		if slices.ContainsFunc(unknownTables, func(t []string) bool {
			return len(t) < len(path) && slices.Equal(t, path[:len(t)])
		}) {
			continue
		}
		unknownTables = append(unknownTables, path)
		n := seen[k.String()]
		seen[k.String()]++
		pos, arr := loc.occurrence(path, n)
		pos.File = name
		key := k.String()
		if arr >= 0 && len(path) > 1 {
			key = fmt.Sprintf("%s[%d].%s", path[0], arr, strings.Join(path[1:], "."))
		}
		msg := "unknown key"
		if hint := unknownKeyHint(path); hint != "" {
			msg += " (" + hint + ")"
		}
		ps = append(ps, Problem{Pos: pos, Key: key, Err: fmt.Errorf("%w: %s", ErrInvalid, msg)})
	}
	return ps
}

// sortProblems orders problems by position; those without a line go last.
func sortProblems(ps Problems) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		la, lb := a.Pos.Line, b.Pos.Line
		if la == 0 {
			la = math.MaxInt
		}
		if lb == 0 {
			lb = math.MaxInt
		}
		if la != lb {
			return cmp.Compare(la, lb)
		}
		return cmp.Compare(a.Pos.Column, b.Pos.Column)
	})
}

// checkValues checks the values decoding kept aside (enumerations,
// durations, addresses), with their positions, and clears the bad ones.
func (c *Config) checkValues(loc *locator) Problems {
	var ps Problems
	add := func(pos Position, key string, err error) {
		if err != nil {
			pos.File = c.File
			ps = append(ps, Problem{Pos: pos, Key: key, Err: err})
		}
	}
	at := func(key string) Position { return loc.find(strings.Split(key, "."), -1) }
	in := func(table string, i int, key string) Position {
		p := loc.find([]string{table, key}, i)
		if p.Line == 0 {
			p = loc.findTable(table, i)
		}
		return p
	}
	add(at("log.format"), "log.format", c.Log.Format.check())
	add(at("log.level"), "log.level", c.Log.Level.check())
	add(at("metrics.listen"), "metrics.listen", c.Metrics.Listen.check())
	for key, d := range map[string]*Duration{
		"lines.holdoff": &c.Lines.Holdoff, "lines.drain_timeout": &c.Lines.DrainTimeout,
		"lines.idle_timeout": &c.Lines.IdleTimeout, "lines.max_session": &c.Lines.MaxSession,
		"security.handshake_deadline": &c.Security.HandshakeDeadline,
		"security.throttle_base":      &c.Security.ThrottleBase, "security.throttle_max": &c.Security.ThrottleMax,
		"callback.delay": &c.Callback.Delay, "callback.backoff": &c.Callback.Backoff, "callback.expiry": &c.Callback.Expiry,
		"callback.handshake_timeout": &c.Callback.HandshakeTimeout,
	} {
		add(at(key), key, d.check())
	}
	add(at("security.mode"), "security.mode", c.Security.Mode.check())
	add(at("security.text_login"), "security.text_login", c.Security.TextLogin.check())
	for i := range c.Listeners {
		l := &c.Listeners[i]
		key := fmt.Sprintf("listener[%d].", i)
		add(in("listener", i, "v42"), key+"v42", l.V42.check())
		add(in("listener", i, "security"), key+"security", l.Security.check())
		add(in("listener", i, "text_login"), key+"text_login", l.TextLogin.check())
		if l.IdleTimeout != nil {
			add(in("listener", i, "idle_timeout"), key+"idle_timeout", l.IdleTimeout.check())
		}
		if l.MaxSession != nil {
			add(in("listener", i, "max_session"), key+"max_session", l.MaxSession.check())
		}
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		key := fmt.Sprintf("backend[%d].", i)
		add(in("backend", i, "type"), key+"type", b.Type.check())
		add(in("backend", i, "address"), key+"address", b.Address.check())
		if err := b.ConnectTimeout.check(); err != nil {
			add(in("backend", i, "connect_timeout"), key+"connect_timeout", err)
		} else if p := loc.find([]string{"backend", "connect_timeout"}, i); p.Line > 0 && b.ConnectTimeout.Duration == 0 {
			// "0s" elsewhere means no limit; here it would be taken
			// as the default, 10 s.
			add(p, key+"connect_timeout", fmt.Errorf("%w: must be more than 0 (leave it out for the default, 10s)", ErrInvalid))
		}
	}
	sortProblems(ps) // the durations came in map order
	return ps
}

func decodeProblem(name string, loc *locator, err error) Problem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.Usage != "" {
			msg += " (" + strings.TrimSpace(pe.Usage) + ")"
		}
		inner := fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(msg, ErrInvalid.Error()+": "))
		pos := Position{File: name, Line: pe.Position.Line, Column: pe.Position.Col}
		if line, col, ok := loc.position(pe.Position.Start); ok && pe.Position.Len > 0 {
			pos.Line, pos.Column = line, col
		}
		if pe.LastKey != "" && pe.Position.Len == 0 {
			// Value errors: point at the key as written (for array
			// tables the decoder only knows the line). A syntax error
			// has its own position (operator trial: "max_concurrent =
			// 3 ]" was reported at column 1).
			if p := loc.findLine(pe.Position.Line); p > 0 {
				pos.Column = p
			}
		}
		key := loc.indexKey(pe.LastKey, pos.Line)
		if loc.isHeader(pos.Line) {
			// The decoder's last key is the table before the header
			// it could not read (an unclosed "[lines" after the
			// [[backend]] blocks was reported as "backend").
			key = ""
		}
		return Problem{Pos: pos, Key: key, Err: inner}
	}
	// Type mismatches carry only `line N (last key "K"): ...` in the
	// text: take the line and key from it and keep the rest.
	var line int
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	if i := strings.Index(msg, "line "); i >= 0 {
		_, _ = fmt.Sscanf(msg[i:], "line %d", &line)
	}
	key := ""
	if m := typeErr.FindStringSubmatch(msg); m != nil {
		key, msg = m[1], m[2]
	}
	msg = strings.Replace(msg, "incompatible types: TOML value has type ", "wrong type: the value is a TOML ", 1)
	msg = strings.Replace(msg, "; destination has type ", ", want ", 1)
	msg = strings.Replace(msg, "TOML int64,", "TOML integer,", 1)
	msg = strings.Replace(msg, "TOML float64,", "TOML float,", 1)
	if (key == "listener" || key == "backend") && strings.Contains(msg, "TOML map") {
		// [listener] where [[listener]] was meant.
		msg = fmt.Sprintf("write [[%s]], with double brackets: one [[%s]] block per %s (an array of tables), not a single [%s] table", key, key, key, key)
	}
	pos := Position{File: name, Line: line}
	if line > 0 {
		pos.Column = loc.findLine(line)
	}
	return Problem{Pos: pos, Key: loc.indexKey(key, line), Err: fmt.Errorf("%w: %s", ErrInvalid, msg)}
}

// typeErr matches the decoder's type-mismatch text.
var typeErr = regexp.MustCompile(`^line \d+ \(last key "([^"]*)"\): (.*)$`)

// Listener looks up a listener by name.
func (c *Config) Listener(name string) (Listener, bool) {
	for _, l := range c.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// Backend looks up a backend by name.
func (c *Config) Backend(name string) (Backend, bool) {
	for _, b := range c.Backends {
		if b.Name == name {
			return b, true
		}
	}
	return Backend{}, false
}

// TelnetOn reports whether the listener speaks telnet (RFC 854).
func (l Listener) TelnetOn() bool {
	if l.Telnet != nil {
		return *l.Telnet
	}
	return strings.HasPrefix(l.Address, "telnet://")
}

// Scheme is the URL scheme of the listener's address.
func (l Listener) Scheme() string {
	s, _, _ := strings.Cut(l.Address, "://")
	return s
}

// Secure reports whether the listener's lines are encrypted by the
// transport itself: wss, or tcp and telnet with TLS files configured (a
// ws:// listener never uses TLS; Validate refuses TLS files on one).
func (l Listener) Secure() bool {
	switch l.Scheme() {
	case "wss":
		return true
	case "tcp", "telnet":
		return l.TLSCert != "" && l.TLSKey != ""
	}
	return false
}

// Loopback reports whether the listener is bound to a loopback address only.
func (l Listener) Loopback() bool {
	u, err := url.Parse(l.Address)
	return err == nil && LoopbackHost(u.Hostname())
}

// LoopbackHost reports whether host (a name or an IP address, without a
// port) is this machine's loopback: "localhost" or a loopback address.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TextLoginAllowed applies the listener's text-login policy to a line.
// Under "secure" the text login is allowed on an encrypted line
// (info.Secure: TLS, wss, or a trusted proxy's X-Forwarded-Proto https)
// and to a caller on this machine. A caller on this machine is one on a
// listener bound to loopback, unless the line's address came from a
// trusted proxy (info.Proxied): a proxy on loopback passes on callers
// from anywhere, over plain HTTP as well, so such a line counts as local
// only when the forwarded address is itself a loopback address.
func (l Listener) TextLoginAllowed(info transport.LineInfo) bool {
	switch l.TextLogin {
	case TextLoginAllow:
		return true
	case TextLoginOff:
		return false
	}
	if info.Secure {
		return true
	}
	if info.Proxied {
		return loopbackAddr(info.RemoteAddr)
	}
	return l.Secure() || l.Loopback()
}

// loopbackAddr reports whether a host:port (or a bare host) is a loopback
// IP address.
func loopbackAddr(hostport string) bool {
	h := hostport
	if sh, _, err := net.SplitHostPort(hostport); err == nil {
		h = sh
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

// DefaultStateDir is where state lives when the configuration names no
// state_dir: $XDG_STATE_HOME/dialgate, else ~/.local/state/dialgate, else
// a directory under the system temporary directory.
func DefaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "dialgate")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", "dialgate")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("dialgate-%d", os.Getuid()))
}

// Demo is the configuration `gateway serve` runs with no file at all:
// telnet-modem on 127.0.0.1:2323, WebSocket on 127.0.0.1:8080/line, the
// built-in demo backend, state under DefaultStateDir. Nothing listens
// beyond loopback.
func Demo() *Config {
	c := base()
	c.Listeners = []Listener{
		{Name: "telnet", Address: "telnet://127.0.0.1:2323"},
		{Name: "web", Address: "ws://127.0.0.1:8080/line"},
	}
	c.Backends = []Backend{{Name: "demo", Type: BackendDemo}}
	c.fillDefaults()
	return c
}

// base returns a Config holding every default that does not depend on
// other keys; the file is decoded over it, so a value written down (even
// zero) wins.
func base() *Config {
	c := &Config{GatewayName: "dialgate", DefaultBackend: "demo"}
	c.Log = Log{Format: LogConsole, Level: "info"}
	c.Lines = Lines{
		MaxConcurrent: 16,
		Holdoff:       Duration{Duration: 2 * time.Second},
		DrainTimeout:  Duration{Duration: 30 * time.Second},
		IdleTimeout:   Duration{Duration: DefaultIdleTimeout},
	}
	c.Security = Security{
		Mode:                SecurityOptional,
		TextLogin:           TextLoginSecure,
		HandshakeDeadline:   Duration{Duration: 60 * time.Second},
		LoginTries:          3,
		Argon2Time:          3,
		Argon2MemoryKiB:     64 * 1024,
		Argon2Threads:       1,
		MaxHashing:          2,
		HashQueue:           32,
		ThrottleBase:        Duration{Duration: time.Second},
		ThrottleMax:         Duration{Duration: 5 * time.Minute},
		MaxPendingPerSource: 4,
	}
	c.Callback = Callback{
		Delay:         Duration{Duration: 3 * time.Second},
		Attempts:      3,
		Backoff:       Duration{Duration: 10 * time.Second},
		Expiry:        Duration{Duration: 2 * time.Minute},
		MaxConcurrent: 4,
		// callbackd.DefaultHandshakeTimeout
		HandshakeTimeout: Duration{Duration: 30 * time.Second},
	}
	return c
}

// fillDefaults fills the defaults that depend on other keys or sit in
// array elements.
func (c *Config) fillDefaults() {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	}
	if c.UsersFile == "" {
		c.UsersFile = filepath.Join(c.StateDir, "users.toml")
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.V42 == "" {
			l.V42 = V42Detect
		}
		if l.Security == "" {
			l.Security = c.Security.Mode
		}
		if l.TextLogin == "" {
			l.TextLogin = c.Security.TextLogin
		}
		if l.Backend == "" {
			l.Backend = c.DefaultBackend
		}
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		if b.Term == "" {
			b.Term = "vt100"
		}
		if b.ConnectTimeout.Duration == 0 {
			b.ConnectTimeout.Duration = 10 * time.Second
		}
	}
}

// LAPM is what a listener's answerer offers in LAPM parameter negotiation
// (V.42 clause 8.10, XID group 0x80).
type LAPM struct {
	N401  int  // largest I field, octets (1..MaxLAPMN401)
	K     int  // window, frames (1..MaxLAPMK)
	FCS32 bool // offer the 32-bit FCS
	SREJ  bool // offer selective reject
}

// Limits of the LAPM listener keys: N401 as package lapm implements it
// (lapm.MaxN401), k by the modulo-128 numbering (V.42 clause 8.1.2).
const (
	MaxLAPMN401 = 4096
	MaxLAPMK    = 127
)

// Slow-line offer: see DefaultLAPM.
const (
	slowLineN401 = 256
	slowLineK    = 15
)

// DefaultLAPM is the offer of a listener that sets no lapm_* keys. Without
// a line_rate the line is as fast as the network: N401 4096 and k 127
// (the most modulo 128 allows) keep a bulk transfer from waiting on
// acknowledgements (with the V.42 defaults 128/15 it is window-bound at a
// few MB/s on loopback; with k 63, 252 KiB in flight, the sender still
// waited for the window at 300 MB/s, and k 127 cost about 6 % less CPU per
// octet on both ends, scripts/bench). On a
// paced line (line_rate set) one 4096-octet frame holds the line for
// about a second at 33,600 bit/s, so a keystroke echo waits behind it and
// a bit error costs a whole second of retransmission: N401 256 and k 15
// keep frames under ~80 ms there while the window still covers the
// round trip. FCS-32 and SREJ are offered on both: they cost nothing and
// help on error-prone lines.
func DefaultLAPM(lineRate int) LAPM {
	if lineRate > 0 {
		return LAPM{N401: slowLineN401, K: slowLineK, FCS32: true, SREJ: true}
	}
	return LAPM{N401: MaxLAPMN401, K: MaxLAPMK, FCS32: true, SREJ: true}
}

// LAPM is the listener's LAPM offer: its lapm_* keys, and for those not
// set (zero, nil) the defaults for its line_rate (DefaultLAPM).
func (l Listener) LAPM() LAPM {
	def := DefaultLAPM(l.LineRate)
	p := LAPM{N401: l.LAPMN401, K: l.LAPMK, FCS32: def.FCS32, SREJ: def.SREJ}
	if p.N401 == 0 {
		p.N401 = def.N401
	}
	if p.K == 0 {
		p.K = def.K
	}
	if l.LAPMFCS32 != nil {
		p.FCS32 = *l.LAPMFCS32
	}
	if l.LAPMSREJ != nil {
		p.SREJ = *l.LAPMSREJ
	}
	return p
}
