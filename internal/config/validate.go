package config

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/dialgate/dialgate/internal/listenaddr"
	"github.com/dialgate/dialgate/internal/termname"
	"github.com/dialgate/dialgate/internal/tlscert"
)

// validate checks values against each other and against their ranges.
func (c *Config) validate(loc *locator) Problems {
	var ps Problems
	bad := func(pos Position, key, format string, args ...any) {
		pos.File = c.File
		ps = append(ps, Problem{Pos: pos, Key: key, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)})
	}
	at := func(key string) Position { return loc.find(strings.Split(key, "."), -1) }
	// atFirst is the position of the first of keys the file has: a
	// problem between two keys, one left at its default, points at the
	// one written.
	atFirst := func(keys ...string) Position {
		for _, k := range keys {
			if p := at(k); p.Line > 0 {
				return p
			}
		}
		return Position{}
	}
	in := func(table string, i int, key string) Position {
		p := loc.find([]string{table, key}, i)
		if p.Line == 0 {
			p = loc.findTable(table, i)
		}
		return p
	}

	if i := strings.IndexFunc(c.GatewayName, unicode.IsControl); i >= 0 {
		// It goes into every caller's banner and BUSY line.
		bad(at("gateway_name"), "gateway_name", fmt.Sprintf("control character %U at octet %d: want printable characters", []rune(c.GatewayName[i:])[0], i+1))
	} else if c.GatewayName == "" || len(c.GatewayName) > 64 {
		bad(at("gateway_name"), "gateway_name", "want 1 to 64 octets of printable characters")
	}
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) && c.File != "" {
		// Relative paths are taken relative to the configuration file.
		c.StateDir = filepath.Join(filepath.Dir(c.File), c.StateDir)
	}
	if c.UsersFile != "" && !filepath.IsAbs(c.UsersFile) && c.File != "" {
		c.UsersFile = filepath.Join(filepath.Dir(c.File), c.UsersFile)
	}
	// Both made absolute and cleaned once, here, so that every user of
	// the path sees the same one: auth's check (which walks it a name at
	// a time), gateway serve's and store.Open's MkdirAll, and the opens.
	// Left as written, "/B/good/l/../state" with l a link to /B/ww/sub
	// was judged as /B/good/state (".." taken by text) while the kernel
	// took it to /B/ww/state (".." of the link's target): the check
	// passed one directory and the gateway used another. Cleaned, ".."
	// removes the name before it as written (as a shell's cd does) for
	// the check and the kernel alike. Cleaned rather than refused: a
	// relative state_dir such as "../var/dialgate" beside the
	// configuration file is an ordinary layout.
	c.StateDir = CleanPath(c.StateDir)
	c.UsersFile = CleanPath(c.UsersFile)
	c.Log.File = CleanPath(c.resolve(c.Log.File))

	positive := func(key string, v, max int) {
		if v < 1 || v > max {
			bad(at(key), key, "%d out of range 1..%d", v, max)
		}
	}
	positive("lines.max_concurrent", c.Lines.MaxConcurrent, 1_000_000)
	if c.Lines.PerSource < 0 || (c.Lines.MaxConcurrent >= 1 && c.Lines.PerSource > c.Lines.MaxConcurrent) {
		bad(at("lines.per_source"), "lines.per_source", "%d out of range 0..max_concurrent (%d)", c.Lines.PerSource, c.Lines.MaxConcurrent)
	}
	if c.Lines.PerUser < 0 {
		bad(at("lines.per_user"), "lines.per_user", "%d: want a number of sessions (0: no limit)", c.Lines.PerUser)
	}
	positive("security.login_tries", c.Security.LoginTries, 10)
	positive("security.max_hashing", c.Security.MaxHashing, 1024)
	positive("security.hash_queue", c.Security.HashQueue, 1_000_000)
	positive("security.max_pending_per_source", c.Security.MaxPendingPerSource, 1_000_000)
	positive("callback.attempts", c.Callback.Attempts, 100)
	positive("callback.max_concurrent", c.Callback.MaxConcurrent, 1_000_000)
	if c.Security.Argon2Time < 1 || c.Security.Argon2Time > 100 {
		bad(at("security.argon2_time"), "security.argon2_time", "%d out of range 1..100", c.Security.Argon2Time)
	}
	if c.Security.Argon2MemoryKiB < 8*uint32(c.Security.Argon2Threads) || c.Security.Argon2MemoryKiB > 4<<20 {
		bad(at("security.argon2_memory_kib"), "security.argon2_memory_kib", "%d out of range (at least 8 per thread, at most 4 GiB)", c.Security.Argon2MemoryKiB)
	}
	if c.Security.Argon2Threads < 1 {
		bad(at("security.argon2_threads"), "security.argon2_threads", "want at least 1")
	}
	if c.Security.HandshakeDeadline.Duration == 0 {
		bad(at("security.handshake_deadline"), "security.handshake_deadline", "must be more than 0")
	}
	// The throttle takes 0 for its defaults (auth.NewThrottle): written
	// down, it would be read as no back-off.
	if c.Security.ThrottleBase.Duration == 0 {
		bad(at("security.throttle_base"), "security.throttle_base", "must be more than 0 (the back-off cannot be turned off)")
	}
	if c.Security.ThrottleMax.Duration == 0 {
		bad(at("security.throttle_max"), "security.throttle_max", "must be more than 0 (the back-off cannot be turned off)")
	} else if c.Security.ThrottleMax.Duration < c.Security.ThrottleBase.Duration {
		bad(atFirst("security.throttle_max", "security.throttle_base"), "security.throttle_max", "%v is less than throttle_base %v", c.Security.ThrottleMax, c.Security.ThrottleBase)
	}
	if c.Callback.Backoff.Duration == 0 {
		// callbackd takes 0 for its default, 10 s.
		bad(at("callback.backoff"), "callback.backoff", "must be more than 0")
	}
	if c.Callback.Expiry.Duration <= c.Callback.Delay.Duration {
		bad(atFirst("callback.expiry", "callback.delay"), "callback.expiry", "%v must be longer than callback.delay %v", c.Callback.Expiry, c.Callback.Delay)
	}
	if ht := c.Callback.HandshakeTimeout.Duration; ht < time.Second || ht > c.Callback.Expiry.Duration {
		// Below a second no one answering a callback can confirm it; past
		// the expiry the expiry cuts it anyway.
		bad(atFirst("callback.handshake_timeout", "callback.expiry"), "callback.handshake_timeout", "%v out of range 1s..callback.expiry (%v)", c.Callback.HandshakeTimeout, c.Callback.Expiry)
	}

	backends := map[string]bool{}
	for i, b := range c.Backends {
		key := fmt.Sprintf("backend[%d]", i)
		switch {
		case !validName(b.Name):
			bad(in("backend", i, "name"), key+".name", "name %q: want 1 to 32 letters, digits, '-' or '_'", b.Name)
		case backends[b.Name]:
			bad(in("backend", i, "name"), key+".name", "backend %q defined twice", b.Name)
		}
		backends[b.Name] = true
		if b.Term != "" && termname.Clean([]byte(b.Term)) != b.Term {
			// It reaches a pty program as TERM and a telnet backend
			// as the terminal type, as a caller's would.
			bad(in("backend", i, "term"), key+".term", "term %q: want a terminfo name: up to 40 letters, digits and ._+-, starting with a letter or digit, not \"unknown\"", b.Term)
		}
		switch {
		case b.Echo != "" && b.Type != BackendTCP:
			bad(in("backend", i, "echo"), key+".echo", "echo applies to tcp backends only (a telnet backend negotiates it, a pty's terminal echoes)")
		case b.Echo != "" && b.Echo != EchoService && b.Echo != EchoCaller:
			bad(in("backend", i, "echo"), key+".echo", "echo %q: want %q (the service echoes, the default) or %q (the caller's terminal echoes)", b.Echo, EchoService, EchoCaller)
		}
		if b.Type != BackendPTY && b.Type != "" {
			// Read by pty backends alone, like command.
			if len(b.Env) > 0 {
				bad(in("backend", i, "env"), key+".env", "env applies to pty backends only (the program's environment)")
			}
			if b.Dir != "" {
				bad(in("backend", i, "dir"), key+".dir", "dir applies to pty backends only (the program's working directory)")
			}
		}
		if (b.Type == BackendTCP || b.Type == BackendDemo) && loc.find([]string{"backend", "term"}, i).Line > 0 {
			// A raw TCP service and the demo board are told no
			// terminal type (the default, vt100, is filled in for all).
			bad(in("backend", i, "term"), key+".term", "term applies to pty and telnet backends only (the program's TERM, the terminal type offered)")
		}
		switch b.Type {
		case "":
			bad(in("backend", i, "type"), key+".type", "missing type (tcp, telnet, pty or demo)")
		case BackendTCP, BackendTelnet:
			if b.Address == "" {
				bad(in("backend", i, "address"), key+".address", "a %s backend needs address = \"host:port\"", b.Type)
			}
			if len(b.Command) > 0 {
				bad(in("backend", i, "command"), key+".command", "only pty backends run a command")
			}
		case BackendPTY:
			if len(b.Command) == 0 || b.Command[0] == "" {
				bad(in("backend", i, "command"), key+".command", "a pty backend needs command = [\"/path/to/program\", ...]")
			} else if !filepath.IsAbs(b.Command[0]) {
				bad(in("backend", i, "command"), key+".command", "program %q: want an absolute path", b.Command[0])
			}
			if b.Address != "" {
				bad(in("backend", i, "address"), key+".address", "a pty backend has no address")
			}
			if b.ProxyProtocol {
				bad(in("backend", i, "proxy_protocol"), key+".proxy_protocol", "only tcp and telnet backends speak the PROXY protocol")
			}
			for _, e := range b.Env {
				if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
					bad(in("backend", i, "env"), key+".env", "%q: want KEY=VALUE", e)
				}
			}
		case BackendDemo:
			if b.Address != "" || len(b.Command) > 0 || b.ProxyProtocol {
				bad(in("backend", i, "type"), key+".type", "the demo backend takes no address, command or proxy_protocol")
			}
		}
	}
	if !backends[c.DefaultBackend] && !(c.DefaultBackend == "demo") {
		bad(at("default_backend"), "default_backend", "no backend named %q%s", c.DefaultBackend, backendHint(c.DefaultBackend, backends))
	}

	if len(c.Listeners) == 0 {
		bad(Position{}, "listener", "no [[listener]]: the gateway would answer nothing")
	}
	names := map[string]bool{}
	addrs := map[string]int{}
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listener[%d]", i)
		switch {
		case !validName(l.Name):
			bad(in("listener", i, "name"), key+".name", "name %q: want 1 to 32 letters, digits, '-' or '_'", l.Name)
		case names[l.Name]:
			bad(in("listener", i, "name"), key+".name", "listener %q defined twice", l.Name)
		}
		names[l.Name] = true
		if l.Address == "" {
			bad(in("listener", i, "address"), key+".address", "missing address: a line URL such as \"telnet://0.0.0.0:2323\" (or tcp://, ws://host:port/line, wss://)")
		} else if err := checkLineURL(l.Address); err != nil {
			bad(in("listener", i, "address"), key+".address", "%v", err)
		} else {
			u, _ := url.Parse(l.Address)
			// Every listener opens its own socket, WebSocket ones on
			// one host:port with other paths too (serve stopped with
			// "address already in use" after check said ok).
			if j, on, dup := listenerOn(addrs, u.Host); dup {
				bad(in("listener", i, "address"), key+".address", "%s is already used by listener %q (%s)%s", u.Host, c.Listeners[j].Name, on, dualStackHint(u.Host, on))
			} else {
				addrs[u.Host] = i
			}
		}
		if l.Telnet != nil && isWeb(l.Scheme()) {
			bad(in("listener", i, "telnet"), key+".telnet", "telnet applies to tcp:// and telnet:// listeners only")
		}
		if l.LineRate < 0 || (l.LineRate > 0 && l.LineRate < 300) || l.LineRate > 1_000_000_000 {
			bad(in("listener", i, "line_rate"), key+".line_rate", "%d bit/s: want 0 (no cap) or 300..1000000000", l.LineRate)
		}
		if l.LAPMN401 < 0 || l.LAPMN401 > MaxLAPMN401 {
			bad(in("listener", i, "lapm_n401"), key+".lapm_n401", "%d octets: want 1..%d (0: the default for line_rate)", l.LAPMN401, MaxLAPMN401)
		}
		if (l.HTTPMaxConns != 0 || l.HTTPMaxConnsPerSource != 0) && l.Address != "" && !isWeb(l.Scheme()) {
			k := "http_max_conns"
			if l.HTTPMaxConns == 0 {
				k = "http_max_conns_per_source"
			}
			bad(in("listener", i, k), key+"."+k, "%s applies to ws:// and wss:// listeners only (their HTTP connections)", k)
		}
		if l.HTTPMaxConns < 0 {
			bad(in("listener", i, "http_max_conns"), key+".http_max_conns", "%d: want a positive number of connections (0: the default, 1024)", l.HTTPMaxConns)
		}
		if l.HTTPMaxConnsPerSource < 0 {
			bad(in("listener", i, "http_max_conns_per_source"), key+".http_max_conns_per_source", "%d: want a positive number of connections (0: the default, 128)", l.HTTPMaxConnsPerSource)
		}
		if l.LAPMK < 0 || l.LAPMK > MaxLAPMK {
			bad(in("listener", i, "lapm_k"), key+".lapm_k", "%d frames: want 1..%d (0: the default for line_rate)", l.LAPMK, MaxLAPMK)
		}
		if (l.TLSCert == "") != (l.TLSKey == "") {
			bad(in("listener", i, "tls_cert"), key+".tls_cert", "tls_cert and tls_key go together")
		}
		for _, f := range []struct{ k, v, what string }{
			{"tls_cert", l.TLSCert, "the PEM certificate chain"},
			{"tls_key", l.TLSKey, "the PEM private key"},
		} {
			if f.v == "" || !c.readTLSFiles {
				continue
			}
			if _, err := os.Stat(c.resolve(f.v)); errors.Is(err, fs.ErrNotExist) {
				bad(in("listener", i, f.k), key+"."+f.k, "%s (%s) does not exist", c.resolve(f.v), f.what)
			} else if err != nil {
				bad(in("listener", i, f.k), key+"."+f.k, "%v", err)
			}
		}
		if l.TLSCert != "" && l.TLSKey != "" && c.readTLSFiles {
			certFile, keyFile := c.resolve(l.TLSCert), c.resolve(l.TLSKey)
			if _, err := os.Stat(certFile); err == nil {
				if _, err := os.Stat(keyFile); err == nil {
					if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
						bad(in("listener", i, "tls_cert"), key+".tls_cert", "cannot load tls_cert and tls_key as a PEM certificate chain and its private key: %v", err)
					}
				}
			}
		}
		if l.Scheme() == "ws" && (l.TLSCert != "" || l.TLSKey != "") {
			// It would be served in clear, and a policy that trusted
			// the files would offer text logins on it.
			bad(in("listener", i, "address"), key+".address", "a ws:// listener does not use TLS: for TLS with tls_cert and tls_key write wss:// (or remove them)")
		}
		if l.Scheme() == "wss" && l.TLSCert == "" {
			bad(in("listener", i, "address"), key+".address", "a wss:// listener needs tls_cert and tls_key")
		}
		switch l.Charset {
		case "", "utf-8", "cp437":
			if l.Charset != "" && !isWeb(l.Scheme()) {
				bad(in("listener", i, "charset"), key+".charset", "charset is the browser page's: it applies to ws:// and wss:// listeners only (a telnet caller's terminal decides its own)")
			}
		default:
			bad(in("listener", i, "charset"), key+".charset", "charset %q: want \"utf-8\" or \"cp437\"", l.Charset)
		}
		if l.BannerFile != "" {
			c.Listeners[i].BannerFile = c.resolve(l.BannerFile)
		}
		if l.BannerFile != "" && c.readBanners {
			b, err := readBanner(c.Listeners[i].BannerFile)
			if err != nil {
				bad(in("listener", i, "banner_file"), key+".banner_file", "%v", err)
			}
			c.Listeners[i].Banner = b
		}
		if len(l.AllowedOrigins) > 0 && !isWeb(l.Scheme()) {
			bad(in("listener", i, "allowed_origins"), key+".allowed_origins", "allowed_origins applies to ws:// and wss:// listeners only")
		}
		for _, o := range l.AllowedOrigins {
			if o == "*" {
				continue
			}
			// Anything beyond scheme://host[:port] (a path, user,
			// query or fragment) would make an entry the listener
			// never matches: an Origin header has none of them.
			if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.User != nil ||
				(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || strings.Contains(o, "#") {
				bad(in("listener", i, "allowed_origins"), key+".allowed_origins", "origin %q: want scheme://host[:port] or \"*\"", o)
			}
		}
		switch {
		case l.ProxyProtocol && isWeb(l.Scheme()):
			bad(in("listener", i, "proxy_protocol"), key+".proxy_protocol", "proxy_protocol applies to tcp:// and telnet:// listeners; a ws:// or wss:// listener takes the caller's address from its trusted_proxies' X-Forwarded-For")
		case l.ProxyProtocol && len(l.TrustedProxies) == 0:
			bad(in("listener", i, "proxy_protocol"), key+".proxy_protocol", "proxy_protocol = true needs trusted_proxies: the addresses of the proxies whose PROXY header is believed")
		case len(l.TrustedProxies) > 0 && !isWeb(l.Scheme()) && !l.ProxyProtocol:
			bad(in("listener", i, "trusted_proxies"), key+".trusted_proxies", "trusted_proxies on a tcp:// or telnet:// listener needs proxy_protocol = true (the proxies send a PROXY protocol header)")
		}
		for _, p := range l.TrustedProxies {
			if !addrOrPrefix(p) {
				bad(in("listener", i, "trusted_proxies"), key+".trusted_proxies", "%q: want an IP address or a CIDR prefix like 10.0.0.0/8", p)
			}
		}
		for _, p := range l.AllowedSources {
			if !addrOrPrefix(p) {
				bad(in("listener", i, "allowed_sources"), key+".allowed_sources", "%q: want an IP address or a CIDR prefix like 192.168.0.0/16", p)
			}
		}
		if !backends[l.Backend] && l.Backend != "demo" {
			bad(in("listener", i, "backend"), key+".backend", "no backend named %q%s", l.Backend, backendHint(l.Backend, backends))
		}
		if l.Security == SecurityRequired && l.V42 == V42Off && loc.find([]string{"listener", "security"}, i).Line > 0 {
			// Written on the listener; [security] mode is the default
			// of listeners with V.42 and means nothing here.
			bad(in("listener", i, "security"), key+".security", "security = \"required\" needs V.42 (v42 = \"detect\" or \"lapm\")")
		}
	}
	if m := string(c.Metrics.Listen); m != "" {
		// The metrics endpoint would fail to start on a listener's port
		// (and the start-up error named the listener). A host that is
		// empty or unspecified (0.0.0.0, ::) takes the port on every
		// address, so it clashes with any listener on that port.
		if j, on, dup := listenerOn(addrs, m); dup {
			bad(at("metrics.listen"), "metrics.listen", "%s is already used by listener %q (%s)", m, c.Listeners[j].Name, on)
		}
	}
	for i := range c.Listeners {
		c.Listeners[i].TLSCert = c.resolve(c.Listeners[i].TLSCert)
		c.Listeners[i].TLSKey = c.resolve(c.Listeners[i].TLSKey)
	}
	for i := range c.Backends {
		// A pty program's working directory: relative to this file,
		// as every relative path is, not to the gateway's working
		// directory (which under systemd is /).
		if d := c.Backends[i].Dir; d != "" {
			c.Backends[i].Dir = CleanPath(c.resolve(d))
		}
	}
	return ps
}

// resolve makes a path relative to the configuration file absolute.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

func isWeb(scheme string) bool { return scheme == "ws" || scheme == "wss" }

// addrOrPrefix reports whether s is an IP address or a CIDR prefix (a
// listener's trusted_proxies and allowed_sources).
func addrOrPrefix(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// readBanner reads a banner_file as the text login sends it: a bare LF
// as CR LF (a terminal's new line), the rest as it is (ANSI art's
// escapes and CP437 octets included).
func readBanner(path string) ([]byte, error) {
	// Opened without blocking (a FIFO's open would wait for a writer),
	// then judged by what was opened: a look at the path before the open
	// is a race, lost to a FIFO put there in between (review: a reload
	// waited for ever, in the signal loop, and SIGTERM went unheard).
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxBanner+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBanner {
		return nil, fmt.Errorf("%s is longer than %d octets: a banner goes to every caller before the login prompt (4 KiB take 17 s at 2,400 bit/s)", path, MaxBanner)
	}
	out := make([]byte, 0, len(b)+bytes.Count(b, []byte{'\n'}))
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out, nil
}

// checkLineURL checks a listener address without needing the transports
// registered.
func checkLineURL(s string) error {
	if !strings.Contains(s, "://") {
		hint := ""
		if _, _, err := net.SplitHostPort(s); err == nil && !strings.Contains(s, "/") {
			hint = fmt.Sprintf(" (did you mean telnet://%s?)", s)
		}
		return fmt.Errorf("address %q: want telnet://host:port, tcp://host:port, ws://host:port/path or wss://host:port/path%s", s, hint)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("address %q: %v", s, err)
	}
	switch u.Scheme {
	case "tcp", "telnet":
		if u.Path != "" && u.Path != "/" {
			return fmt.Errorf("address %q: a %s:// address has no path", s, u.Scheme)
		}
	case "ws", "wss":
		if u.Path == "" {
			return fmt.Errorf("address %q: a WebSocket address needs a path, like /line", s)
		}
	case "telnets", "tls":
		plain := map[string]string{"telnets": "telnet", "tls": "tcp"}[u.Scheme]
		return fmt.Errorf("address %q: a listener with TLS is %s://%s with tls_cert and tls_key (%s:// is what callers dial)", s, plain, u.Host, u.Scheme)
	default:
		return fmt.Errorf("address %q: unknown scheme %q (tcp, telnet, ws, wss)", s, u.Scheme)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("address %q: no user, query or fragment allowed", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return fmt.Errorf("address %q: want host:port", s)
	}
	if err := checkPort(port); err != nil || port == "" {
		return fmt.Errorf("address %q: bad port", s)
	}
	if host == "" {
		return fmt.Errorf("address %q: give the host to listen on (0.0.0.0 or [::] for every interface)", s)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Warnings lists what is valid but will fail at call time or exposes
// more than the operator may think: a pty backend whose program is not
// an executable file, a users file that does not exist yet (every login
// is denied), text login in clear beyond loopback or behind a proxy.
// `gateway check` prints them and `gateway serve` logs them; neither
// refuses the file.
func (c *Config) Warnings() []string {
	var w []string
	for _, b := range c.Backends {
		if b.Type != BackendPTY || len(b.Command) == 0 {
			continue
		}
		st, err := os.Stat(b.Command[0])
		switch {
		case err != nil:
			w = append(w, fmt.Sprintf("backend %q: program %s: %v; calls to it will fail", b.Name, b.Command[0], errors.Unwrap(err)))
		case st.IsDir() || st.Mode()&0o111 == 0:
			w = append(w, fmt.Sprintf("backend %q: program %s is not executable; calls to it will fail", b.Name, b.Command[0]))
		}
		if b.Dir != "" {
			if st, err := os.Stat(b.Dir); err != nil || !st.IsDir() {
				w = append(w, fmt.Sprintf("backend %q: dir %s is not a directory; calls to it will fail", b.Name, b.Dir))
			}
		}
	}
	host, _, err := net.SplitHostPort(string(c.Metrics.Listen))
	metricsOpen := c.Metrics.Listen != "" && err == nil && !LoopbackHost(host)
	switch {
	case c.Metrics.PProf && c.Metrics.Listen == "":
		w = append(w, "metrics.pprof = true without metrics.listen: no profiles are served")
	case c.Metrics.PProf && metricsOpen:
		w = append(w, fmt.Sprintf("metrics.pprof = true on %s: runtime profiles (stacks, heap, command line) are open to the network", c.Metrics.Listen))
	case metricsOpen:
		w = append(w, fmt.Sprintf("metrics.listen = %s: the call counts, health and process figures are open to the network (bind it to loopback, or firewall it)", c.Metrics.Listen))
	}
	if _, err := os.Stat(c.UsersFile); errors.Is(err, fs.ErrNotExist) {
		add := "gateway user add NAME"
		if c.File != "" {
			add = "gateway user add --config " + c.File + " NAME"
		}
		w = append(w, fmt.Sprintf("users_file %s does not exist: every login will be denied until you add a user (%s)", c.UsersFile, add))
	}
	for _, l := range c.Listeners {
		if l.TLSCert != "" {
			for _, tw := range tlscert.FileWarnings(l.TLSCert, l.TLSKey, time.Now()) {
				w = append(w, fmt.Sprintf("listener %q: %s", l.Name, tw))
			}
		}
		if slices.Contains(l.AllowedOrigins, "*") && (!l.Loopback() || len(l.TrustedProxies) > 0) {
			w = append(w, fmt.Sprintf("listener %q: allowed_origins = [\"*\"] on %s: any web page a user visits can open calls here from their browser (cross-site WebSocket); list your page's origin instead", l.Name, l.Address))
		}
		if l.V42 == V42Off && (l.LAPMN401 != 0 || l.LAPMK != 0 || l.LAPMFCS32 != nil || l.LAPMSREJ != nil) {
			// A warning, not a refusal: v42 = "off" may be a listener's
			// state for a while, its LAPM settings kept for later.
			w = append(w, fmt.Sprintf("listener %q: lapm_n401, lapm_k, lapm_fcs32 and lapm_srej do nothing with v42 = \"off\" (no caller gets LAPM there)", l.Name))
		}
		if len(l.AllowedSources) > 0 && isWeb(l.Scheme()) && len(l.AllowedOrigins) == 0 {
			w = append(w, fmt.Sprintf("listener %q: with allowed_sources the browser page opened by a DNS name gets HTTP 403 unless allowed_origins lists its origin (a DNS-rebinding page could otherwise call through a browser at an allowed address); by IP address or localhost it works as it is", l.Name))
		}
		if l.BannerFile != "" && (l.V42 == V42LAPM || l.TextLogin == TextLoginOff) {
			w = append(w, fmt.Sprintf("listener %q: banner_file does nothing here: the text login shows it, and no caller gets one on this listener", l.Name))
		}
		if d := c.Security.HandshakeDeadline.Duration; l.LineRate > 0 && d > 0 {
			// The login's deadline runs while the banner goes out at
			// the line rate (review: 4 KiB at 300 bit/s took 136 s, and
			// every caller timed out before the prompt).
			if t := time.Duration(len(l.Banner)) * 10 * time.Second / time.Duration(l.LineRate); t > d/2 {
				w = append(w, fmt.Sprintf("listener %q: banner_file takes %s at line_rate %d bit/s, more than half of [security] handshake_deadline (%s) that the login has: shorten it", l.Name, t.Round(time.Second), l.LineRate, d))
			}
		}
		if l.V42 == V42Off {
			// No way in: every caller is refused at the text login.
			switch {
			case l.TextLogin == TextLoginOff:
				w = append(w, fmt.Sprintf("listener %q: v42 = \"off\" and text_login = \"off\": it refuses every caller (let it take V.42 or the text login)", l.Name))
			case l.TextLogin == TextLoginSecure && !l.Secure() && !l.Loopback() && len(l.TrustedProxies) == 0:
				w = append(w, fmt.Sprintf("listener %q: v42 = \"off\" and text_login = \"secure\" on %s, a line without TLS: it refuses every caller (give it tls_cert and tls_key, or v42 = \"detect\")", l.Name, l.Address))
			}
		}
		if l.Security == SecurityRequired && l.V42 != V42LAPM && (l.TextLogin == TextLoginAllow ||
			l.TextLogin == TextLoginSecure && (l.Secure() || l.Loopback() || len(l.TrustedProxies) > 0)) {
			// The word reads as "every caller" (security review: a
			// plain telnet caller logged in by text on such a listener,
			// as documented, but not as the setting suggests).
			w = append(w, fmt.Sprintf("listener %q: security = \"required\" holds for V.42 callers only: callers without V.42 get the text login here (text_login = %q); set text_login = \"off\" to require Access Security of every caller", l.Name, l.TextLogin))
		}
		if l.TextLogin == TextLoginAllow && !l.Secure() && !l.Loopback() {
			w = append(w, fmt.Sprintf("listener %q: text_login = \"allow\" on %s: passwords cross the network in clear", l.Name, l.Address))
		} else if l.TextLogin == TextLoginAllow && !l.Secure() && len(l.TrustedProxies) > 0 {
			// On loopback, but the proxies pass on callers from anywhere.
			w = append(w, fmt.Sprintf("listener %q: text_login = \"allow\" on %s behind trusted_proxies: callers the proxy passes on from elsewhere over plain connections send their passwords in clear (\"secure\" allows only those on this machine or that the proxy says reached it over TLS)", l.Name, l.Address))
		}
	}
	return w
}

// CleanPath makes a configured path absolute (relative to the working
// directory: one relative to the configuration file has been joined to
// its directory already) and lexically clean, "" staying "". Commands
// apply it to paths given as flags too (gateway keygen --state-dir,
// gateway user --users), so that every use of a path sees the same
// directory: with ".." after a symbolic link the kernel and the text
// disagree.
func CleanPath(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs // filepath.Abs cleans
	}
	return filepath.Clean(p)
}

// listenerOn returns the first listener (in file order) among addrs
// (host:port → listener index) whose port listening on hp would take
// too (listenaddr.Overlap), and its host:port.
func listenerOn(addrs map[string]int, hp string) (int, string, bool) {
	first, on := -1, ""
	for a, j := range addrs {
		if listenaddr.Overlap(a, hp) && (first < 0 || j < first) {
			first, on = j, a
		}
	}
	return first, on, first >= 0
}

// dualStackHint explains a clash between an IPv4 listener and one on
// [::], which takes IPv4 calls too.
func dualStackHint(a, b string) string {
	ip := func(hp string) netip.Addr {
		h, _, _ := net.SplitHostPort(hp)
		a, _ := netip.ParseAddr(h)
		return a
	}
	ia, ib := ip(a), ip(b)
	if ia.Is6() && ia.IsUnspecified() && ib.Is4() || ib.Is6() && ib.IsUnspecified() && ia.Is4() {
		return ": a listener on [::] takes IPv4 calls too (dual-stack), so it needs no IPv4 listener beside it on that port"
	}
	return ""
}

// backendHint is " (did you mean NAME?)" for a backend name that is a
// typo of a defined one (or of the built-in "demo"), else "".
func backendHint(name string, defined map[string]bool) string {
	names := []string{"demo"}
	for n := range defined {
		names = append(names, n)
	}
	slices.Sort(names) // the same hint every time
	if best := closest(name, names); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}
