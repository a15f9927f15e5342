package config

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/transport"
)

func TestParseMinimal(t *testing.T) {
	c, err := Parse("min.toml", []byte(`
state_dir = "/var/lib/dialgate"
[[listener]]
name = "modem"
address = "telnet://0.0.0.0:2323"
`))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners[0]
	if l.V42 != V42Detect || l.Security != SecurityOptional || l.TextLogin != TextLoginSecure || l.Backend != "demo" {
		t.Errorf("listener defaults: %+v", l)
	}
	if !l.TelnetOn() || l.Loopback() || l.Secure() || l.TextLoginAllowed(transport.LineInfo{}) {
		t.Errorf("listener predicates wrong: %+v", l)
	}
	if c.UsersFile != "/var/lib/dialgate/users.toml" {
		t.Errorf("users_file default = %q", c.UsersFile)
	}
	if c.Lines.Holdoff.Duration != 2*time.Second || c.Security.LoginTries != 3 {
		t.Errorf("defaults: %+v %+v", c.Lines, c.Security)
	}
}

func TestExplicitZeroWins(t *testing.T) {
	c, err := Parse("z.toml", []byte(`
[lines]
holdoff = "0s"
[[listener]]
name = "a"
address = "tcp://127.0.0.1:1"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Lines.Holdoff.Duration != 0 {
		t.Errorf("holdoff = %v, want 0", c.Lines.Holdoff)
	}
	if c.Listeners[0].TelnetOn() || !c.Listeners[0].TextLoginAllowed(transport.LineInfo{}) {
		t.Errorf("tcp loopback listener: %+v", c.Listeners[0])
	}
}

// TestLAPMOffer: without lapm_* keys a listener offers the big values
// (4096/127, FCS-32, SREJ) unless it is paced by line_rate; keys written
// down win, also false.
func TestLAPMOffer(t *testing.T) {
	c, err := Parse("l.toml", []byte(`
[[listener]]
name = "fast"
address = "telnet://127.0.0.1:2323"
[[listener]]
name = "slow"
address = "telnet://127.0.0.1:2324"
line_rate = 33600
[[listener]]
name = "set"
address = "telnet://127.0.0.1:2325"
lapm_n401 = 512
lapm_k = 7
lapm_fcs32 = false
lapm_srej = false
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []LAPM{
		{N401: 4096, K: 127, FCS32: true, SREJ: true},
		{N401: 256, K: 15, FCS32: true, SREJ: true},
		{N401: 512, K: 7},
	} {
		if got := c.Listeners[i].LAPM(); got != want {
			t.Errorf("listener %s: LAPM() = %+v, want %+v", c.Listeners[i].Name, got, want)
		}
	}
	// A Listener built in code without Parse gets the same defaults.
	if got := (Listener{LineRate: 9600}).LAPM(); got != DefaultLAPM(9600) {
		t.Errorf("unparsed listener: %+v", got)
	}
	if got := Demo().Listeners[0].LAPM(); got != DefaultLAPM(0) {
		t.Errorf("demo listener: %+v", got)
	}
}

// TestErrorPositions checks that every kind of problem names
// file:line:column.
func TestErrorPositions(t *testing.T) {
	const head = "[[listener]]\nname = \"a\"\naddress = \"telnet://127.0.0.1:2323\"\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"syntax", "state_dir = \n", "x.toml:1:"},
		// The decoder puts an error at a line end on the next line.
		{"unclosed header", "gateway_name = \"x\"\n[lines\nmax_concurrent = 1\n", "x.toml:2:7: expected '.' or ']'"},
		// Not under the table before it (operator trial: an unclosed
		// [lines after the [[backend]] blocks said "backend:").
		{"unclosed header after a table", "[[backend]]\nname = \"b\"\ntype = \"demo\"\n[lines\nmax_concurrent = 1\n", "x.toml:4:7: expected '.' or ']'"},
		{"unclosed array", "gateway_name = \"x\"\n[lines]\nmax_concurrent = [1,\n", "x.toml:3:"},
		// Where the syntax goes wrong, not where its table's key is
		// (operator trial: column 1 under the table's name).
		{"junk after a value", "[lines]\nmax_concurrent = 3 ]\n", "x.toml:2:19: lines: expected a top-level item to end"},
		{"missing value", "[lines]\nmax_concurrent = 3\nper_source = ]\n", "x.toml:3:14: lines.per_source: expected value"},
		{"unknown top key", "bogus = 1\n" + head, "x.toml:1:1: bogus: "},
		{"unknown nested key", head + "v42_mode = \"lapm\"\n", "x.toml:4:1: listener[0].v42_mode: "},
		{"unknown table key", head + "[lines]\n  max_concurent = 3\n", "x.toml:5:3: lines.max_concurent: "},
		{"bad duration", "[lines]\nholdoff = \"2 seconds\"\n" + head, "x.toml:2:1: lines.holdoff: "},
		{"bad enum", head + "v42 = \"auto\"\n", "x.toml:4:1: "},
		{"wrong type", "[lines]\nmax_concurrent = \"many\"\n" + head, "x.toml:2:1: "},
		// Operator trial: the index was lost ("listener.line_rate"),
		// and keys in an inline table had no line.
		{"wrong type in the second listener", head + "[[listener]]\nname = \"b\"\naddress = \"telnet://127.0.0.1:2324\"\nline_rate = \"fast\"\n", "x.toml:7:1: listener[1].line_rate: wrong type"},
		{"inline table", "lines = { max_concurrent = 4, holdoff = \"x\" }\n" + head, "x.toml:1:31: lines.holdoff: "},
		{"range", "[lines]\nmax_concurrent = 0\n" + head, "x.toml:2:1: lines.max_concurrent: "},
		{"bad address", "[[listener]]\nname = \"a\"\naddress = \"gopher://h:1\"\n", "x.toml:3:1: listener[0].address: "},
		{"second listener", head + "[[listener]]\nname = \"b\"\n  address = \"telnet://127.0.0.1:2323\"\n", "x.toml:6:3: listener[1].address: "},
		{"unknown backend", head + "backend = \"bbs\"\n", "x.toml:4:1: listener[0].backend: "},
		{"pty without command", head + "[[backend]]\nname = \"p\"\ntype = \"pty\"\n", "x.toml:4:1: backend[0].command: "},
		{"proxy on telnet", head + "trusted_proxies = [\"127.0.0.1\"]\n", "x.toml:4:1: listener[0].trusted_proxies: "},
		{"charset on telnet", head + "charset = \"cp437\"\n", "x.toml:4:1: listener[0].charset: charset is the browser page's"},
		{"unknown charset", "[[listener]]\nname = \"w\"\naddress = \"ws://127.0.0.1:8080/line\"\ncharset = \"latin1\"\n", "x.toml:4:1: listener[0].charset: charset \"latin1\": want"},
		{"proxy_protocol without proxies", head + "proxy_protocol = true\n", "x.toml:4:1: listener[0].proxy_protocol: "},
		{"metrics on a listener's port", "[metrics]\nlisten = \"127.0.0.1:2323\"\n" + head, "x.toml:2:1: metrics.listen: 127.0.0.1:2323 is already used by listener \"a\""},
		{"metrics on every address, a listener's port", "[metrics]\nlisten = \":2323\"\n" + head, "x.toml:2:1: metrics.listen: :2323 is already used by listener \"a\""},
		// [::] takes IPv4 too: beside 0.0.0.0 on the port, serve
		// stopped with "already in use" after check said ok (IPv6 trial).
		{"0.0.0.0 and [::]", "[[listener]]\nname = \"v4\"\naddress = \"telnet://0.0.0.0:2323\"\n[[listener]]\nname = \"v6\"\naddress = \"telnet://[::]:2323\"\n",
			"x.toml:6:1: listener[1].address: [::]:2323 is already used by listener \"v4\" (0.0.0.0:2323): a listener on [::] takes IPv4 calls too"},
		// Second review: these passed check and failed serve.
		{"two ws listeners on one port", "[[listener]]\nname = \"a\"\naddress = \"ws://127.0.0.1:8080/line\"\n[[listener]]\nname = \"b\"\naddress = \"ws://127.0.0.1:8080/v42\"\n",
			"x.toml:6:1: listener[1].address: 127.0.0.1:8080 is already used by listener \"a\""},
		{"metrics by name beside 0.0.0.0", "[metrics]\nlisten = \"localhost:2323\"\n[[listener]]\nname = \"v4\"\naddress = \"telnet://0.0.0.0:2323\"\n",
			"x.toml:2:1: metrics.listen: localhost:2323 is already used by listener \"v4\""},
		{"0.0.0.0 and 127.0.0.1", "[[listener]]\nname = \"v4\"\naddress = \"telnet://0.0.0.0:2323\"\n[[listener]]\nname = \"lo\"\naddress = \"tcp://127.0.0.1:2323\"\n",
			"x.toml:6:1: listener[1].address: 127.0.0.1:2323 is already used by listener \"v4\" (0.0.0.0:2323)"},
		{"proxy_protocol on ws", "[[listener]]\nname = \"w\"\naddress = \"ws://127.0.0.1:80/line\"\nproxy_protocol = true\ntrusted_proxies = [\"10.0.0.1\"]\n", "x.toml:4:1: listener[0].proxy_protocol: "},
		{"bad proxy", "[[listener]]\nname = \"w\"\naddress = \"ws://127.0.0.1:80/line\"\ntrusted_proxies = [\"10.0.0.0/33\"]\n", "x.toml:4:1: listener[0].trusted_proxies: "},
		{"required without v42", head + "v42 = \"off\"\nsecurity = \"required\"\n", "x.toml:5:1: listener[0].security: "},
		{"lapm_n401 too big", head + "lapm_n401 = 8192\n", "x.toml:4:1: listener[0].lapm_n401: "},
		{"lapm_k too big", head + "lapm_k = 128\n", "x.toml:4:1: listener[0].lapm_k: "},
		{"lapm_k negative", head + "lapm_k = -1\n", "x.toml:4:1: listener[0].lapm_k: "},
		{"lapm_srej not bool", head + "lapm_srej = \"yes\"\n", "x.toml:4:1: "},
		{"no listener", "", "x.toml: listener: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tc.text))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant prefix\n  %s", err, tc.want)
			}
		})
	}
}

// TestListenersPerFamily: 0.0.0.0 listens on IPv4 only, so an IPv6
// listener on the same port beside it is fine, as are the metrics there.
func TestListenersPerFamily(t *testing.T) {
	_, err := Parse("x.toml", []byte("[metrics]\nlisten = \"[::1]:2323\"\n[[listener]]\nname = \"v4\"\naddress = \"telnet://0.0.0.0:2323\"\n[[listener]]\nname = \"v6\"\naddress = \"ws://[2001:db8::10]:2323/line\"\n"))
	if err != nil {
		t.Error(err)
	}
}

func TestAllProblemsReported(t *testing.T) {
	_, err := Parse("x.toml", []byte("[lines]\nmax_concurrent = 0\nper_source = -1\n[[listener]]\nname = \"bad name\"\naddress = \"tcp://:1\"\n"))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 4 {
		t.Fatalf("want 4 problems, got %v", err)
	}
}

func TestDemoIsLoopbackOnly(t *testing.T) {
	c := Demo()
	if len(c.Listeners) != 2 {
		t.Fatalf("demo listeners: %+v", c.Listeners)
	}
	for _, l := range c.Listeners {
		if !l.Loopback() {
			t.Errorf("demo listener %s not on loopback", l.Address)
		}
		if !l.TextLoginAllowed(transport.LineInfo{}) {
			t.Errorf("demo listener %s refuses text login", l.Address)
		}
	}
	if c.Listeners[1].Address != "ws://127.0.0.1:8080/line" || c.Listeners[0].Address != "telnet://127.0.0.1:2323" {
		t.Errorf("demo addresses: %+v", c.Listeners)
	}
	if ps := c.validate(newLocator("")); len(ps) > 0 {
		t.Errorf("demo config invalid: %v", ps)
	}
}

// TestExampleConfig keeps config.toml.example valid and complete: it must
// pass Load, and every key the file accepts (Keys, from the toml tags)
// must be shown in its own table, as `key = value` (or commented out,
// `# key = value`, for keys whose example value cannot be valid
// everywhere, such as TLS files).
func TestExampleConfig(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(self), "..", "..", "config.toml.example")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(path, data); err != nil {
		t.Fatalf("config.toml.example does not pass: %v", err)
	}
	shown := map[string]map[string]bool{} // table -> keys
	table := ""
	for _, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			table = strings.Trim(l, "[]")
			continue
		}
		l = strings.TrimSpace(strings.TrimPrefix(l, "#"))
		if k, _, ok := strings.Cut(l, " = "); ok && !strings.Contains(k, " ") {
			if shown[table] == nil {
				shown[table] = map[string]bool{}
			}
			shown[table][k] = true
		}
	}
	keys := Keys()
	for tbl, ks := range keys {
		for _, k := range ks {
			if _, isTable := keys[k]; isTable {
				continue
			}
			if !shown[tbl][k] {
				t.Errorf("config.toml.example does not show %q in %s", k, cmp.Or(tbl, "the top level"))
			}
		}
	}
}

// TestKeys: Keys follows the toml tags, tables included.
func TestKeys(t *testing.T) {
	k := Keys()
	for table, key := range map[string]string{"": "state_dir", "lines": "max_concurrent", "listener": "lapm_srej", "backend": "connect_timeout", "metrics": "pprof"} {
		if !slices.Contains(k[table], key) {
			t.Errorf("Keys()[%q] = %q, lacks %q", table, k[table], key)
		}
	}
	for _, table := range []string{"log", "metrics", "lines", "security", "callback", "listener", "backend"} {
		if !slices.Contains(k[""], table) || len(k[table]) == 0 {
			t.Errorf("table %q missing from Keys", table)
		}
	}
}

// TestNewUserMistakes: the mistakes a new operator makes in the file are
// told with what was probably meant.
func TestNewUserMistakes(t *testing.T) {
	const head = "[[listener]]\nname = \"a\"\naddress = \"telnet://127.0.0.1:2323\"\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"typo in a key", "[lines]\nmax_concurent = 3\n" + head, `x.toml:2:1: lines.max_concurent: unknown key (did you mean max_concurrent?)`},
		{"typo in a backend name", head + "backend = \"demoo\"\n", `x.toml:4:1: listener[0].backend: no backend named "demoo" (did you mean "demo"?)`},
		{"typo in a table", "[line]\nmax_concurrent = 3\n" + head, `x.toml:1:1: line: unknown key (did you mean [lines]?)`},
		{"key in the wrong table", "[security]\nidle_timeout = \"5m\"\n" + head, `x.toml:2:1: security.idle_timeout: unknown key (idle_timeout belongs in [[listener]] or [lines])`},
		{"typo in a listener key", head + "[[listener]]\nname = \"b\"\naddress = \"telnet://127.0.0.1:2324\"\ntxt_login = \"off\"\n", `x.toml:7:1: listener[1].txt_login: unknown key (did you mean text_login?)`},
		{"unknown key, no guess", head + "colour = \"blue\"\n", `x.toml:4:1: listener[0].colour: unknown key`},
		{"single brackets", "[listener]\nname = \"a\"\naddress = \"telnet://127.0.0.1:2323\"\n", `x.toml:1:1: listener: write [[listener]], with double brackets`},
		{"address without scheme", "[[listener]]\nname = \"a\"\naddress = \"0.0.0.0:2323\"\n", `(did you mean telnet://0.0.0.0:2323?)`},
		{"telnets listener", "[[listener]]\nname = \"a\"\naddress = \"telnets://0.0.0.0:992\"\n", `address "telnets://0.0.0.0:992": a listener with TLS is telnet://0.0.0.0:992 with tls_cert and tls_key (telnets:// is what callers dial)`},
		{"tls listener", "[[listener]]\nname = \"a\"\naddress = \"tls://0.0.0.0:992\"\n", `a listener with TLS is tcp://0.0.0.0:992 with tls_cert and tls_key`},
		{"escape in gateway_name", "gateway_name = \"BBS\\u001b[2J\"\n" + head, `gateway_name: control character U+001B at octet 4: want printable characters`},
		{"missing address", "[[listener]]\nname = \"a\"\n", `x.toml:1:1: listener[0].address: missing address: a line URL such as "telnet://0.0.0.0:2323"`},
		{"missing TLS file", "[[listener]]\nname = \"a\"\naddress = \"telnet://127.0.0.1:992\"\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"config_test.go\"\n",
			`x.toml:4:1: listener[0].tls_cert: /nonexistent/cert.pem (the PEM certificate chain) does not exist`},
		{"TLS files that are not PEM", "[[listener]]\nname = \"a\"\naddress = \"telnet://127.0.0.1:992\"\ntls_cert = \"config_test.go\"\ntls_key = \"config_test.go\"\n",
			`x.toml:4:1: listener[0].tls_cert: cannot load tls_cert and tls_key as a PEM certificate chain and its private key: tls: failed to find any PEM data`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tc.text))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want Problems", err)
			}
			if len(ps) != 1 || !strings.Contains(ps[0].Error(), tc.want) {
				t.Errorf("problems:\n%v\nwant one with\n%s", err, tc.want)
			}
		})
	}
}

// TestBadValueReportedOnce: a backend address that is not host:port is
// one problem, not also "needs address".
func TestBadValueReportedOnce(t *testing.T) {
	_, err := Parse("x.toml", []byte("[[listener]]\nname = \"a\"\naddress = \"telnet://127.0.0.1:2323\"\nbackend = \"b\"\n[[backend]]\nname = \"b\"\ntype = \"telnet\"\naddress = \"localhost\"\n"))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("want one problem, got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[[listener]]\nname = \"a\"\naddress = \"telnet://127.0.0.1:2323\"\n"))
	f.Add([]byte("[lines]\nholdoff = \"1s\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.toml", data)
		if err == nil && len(c.Listeners) == 0 {
			t.Fatal("valid config without listeners")
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error does not wrap ErrInvalid: %v", err)
		}
		var ps Problems
		if err != nil && (!errors.As(err, &ps) || len(ps) == 0) {
			t.Fatalf("error is not a non-empty Problems: %v", err)
		}
	})
}

// TestEveryProblemInOneGo: bad values (durations, enumerations,
// addresses) do not stop the check: unknown keys, bad values and
// cross-key problems are all listed, in file order, each once, in the
// form "file:line:column: key: what is wrong".
func TestEveryProblemInOneGo(t *testing.T) {
	const text = `gateway_name = "x"
stat_dir = "oops"
[lines]
max_concurrent = -1
holdoff = "2 seconds"
[metrics]
listen = "localhost"
[security]
mode = "strict"
[[listener]]
name = "modem"
address = "telnet//127.0.0.1:2323"
v42 = "maybe"
[[listener]]
name = "modem"
address = "ws://127.0.0.1:8080/line"
backend = "nope"
[[backend]]
name = "bbs"
type = "gopher"
connect_timeout = "-1s"
`
	_, err := Parse("x.toml", []byte(text))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v, want Problems", err)
	}
	want := []string{
		`x.toml:2:1: stat_dir: unknown key (did you mean state_dir?)`,
		`x.toml:4:1: lines.max_concurrent: -1 out of range 1..1000000`,
		`x.toml:5:1: lines.holdoff: duration "2 seconds": want a number with a unit, like "750ms" or "30s"`,
		`x.toml:7:1: metrics.listen: address "localhost": want host:port`,
		`x.toml:9:1: security.mode: security mode "strict": want one of "required", "optional", "off"`,
		`x.toml:12:1: listener[0].address: address "telnet//127.0.0.1:2323": want telnet://host:port, tcp://host:port, ws://host:port/path or wss://host:port/path`,
		`x.toml:13:1: listener[0].v42: v42 mode "maybe": want one of "detect", "lapm", "off"`,
		`x.toml:15:1: listener[1].name: listener "modem" defined twice`,
		`x.toml:17:1: listener[1].backend: no backend named "nope"`,
		`x.toml:20:1: backend[0].type: backend type "gopher": want one of "tcp", "telnet", "pty", "demo"`,
		`x.toml:21:1: backend[0].connect_timeout: duration "-1s" must not be negative`,
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Error())
		if !errors.Is(p, ErrInvalid) {
			t.Errorf("%v does not wrap ErrInvalid", p)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWrongTypeMessage: a type mismatch names the key and the types in
// words, once.
func TestWrongTypeMessage(t *testing.T) {
	_, err := Parse("x.toml", []byte("[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\n[lines]\nmax_concurrent = \"8\"\n"))
	want := `x.toml:5:1: lines.max_concurrent: wrong type: the value is a TOML string, want integer`
	if err == nil || err.Error() != want {
		t.Errorf("err =\n  %v\nwant\n  %s", err, want)
	}
}

// TestWrongTypeWithOtherProblems: a value of the wrong type does not hide
// the problems before and after it (new-user trial: a typo above it
// showed only once the type was fixed), and its key is not reported
// again as missing.
func TestWrongTypeWithOtherProblems(t *testing.T) {
	text := "[[listener]]\nname = \"m\"\naddress = 2323\n[lines]\nmax_concurent = 16\nper_source = \"2\"\nholdoff = \"soon\"\n"
	_, err := Parse("x.toml", []byte(text))
	want := []string{
		`x.toml:3:1: listener[0].address: wrong type: the value is a TOML integer, want string`,
		`x.toml:5:1: lines.max_concurent: unknown key (did you mean max_concurrent?)`,
		`x.toml:6:1: lines.per_source: wrong type: the value is a TOML string, want integer`,
		`x.toml:7:1: lines.holdoff: duration "soon": want a number with a unit, like "750ms" or "30s"`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("err =\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	// A wrong type inside an inline table is not blanked with the
	// table (review: a spurious "no [[listener]]").
	_, err = Parse("x.toml", []byte("listener = [{name = \"m\", address = \"telnet://127.0.0.1:2323\", line_rate = \"x\"}]\n"))
	if err == nil || strings.Contains(err.Error(), "no [[listener]]") || !strings.Contains(err.Error(), "line_rate") {
		t.Errorf("wrong type in an inline table: %v", err)
	}
	// A syntax error still stops the check where it is.
	_, err = Parse("x.toml", []byte("[lines]\nper_source = \"2\"\nmax_concurrent = = 3\n"))
	if err == nil || strings.Contains(err.Error(), "per_source") || !strings.Contains(err.Error(), "x.toml:3:") {
		t.Errorf("syntax error after a wrong type: %v", err)
	}
}

// TestWarnings: a pty program that is missing or not executable and text
// login in clear beyond loopback, or on loopback behind trusted proxies,
// are warned about, a good setup is not.
func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "door.txt")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.toml")
	if err := os.WriteFile(users, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	text := `users_file = "` + users + `"
[[listener]]
name = "net"
address = "telnet://0.0.0.0:2323"
text_login = "allow"
backend = "missing"
[[listener]]
name = "lo"
address = "telnet://127.0.0.1:2324"
text_login = "allow"
backend = "sh"
[[listener]]
name = "proxied"
address = "ws://127.0.0.1:8080/line"
text_login = "allow"
trusted_proxies = ["127.0.0.1"]
backend = "sh"
[[listener]]
name = "proxied-secure"
address = "ws://127.0.0.1:8081/line"
trusted_proxies = ["127.0.0.1"]
backend = "sh"
[[listener]]
name = "any-origin"
address = "ws://0.0.0.0:8082/line"
allowed_origins = ["*"]
backend = "sh"
[[listener]]
name = "any-origin-lo"
address = "ws://127.0.0.1:8083/line"
allowed_origins = ["*"]
backend = "sh"
[[listener]]
name = "any-origin-proxied"
address = "ws://127.0.0.1:8084/line"
allowed_origins = ["*"]
trusted_proxies = ["127.0.0.1"]
backend = "sh"
[[listener]]
name = "no-way-in"
address = "telnet://127.0.0.1:2325"
v42 = "off"
text_login = "off"
backend = "sh"
[[listener]]
name = "plain-secure"
address = "telnet://0.0.0.0:2326"
v42 = "off"
text_login = "secure"
backend = "sh"
[[listener]]
name = "plain-secure-lo"
address = "telnet://127.0.0.1:2327"
v42 = "off"
backend = "sh"
[[listener]]
name = "lapm-unused"
address = "telnet://127.0.0.1:2329"
v42 = "off"
lapm_k = 7
backend = "sh"
[[listener]]
name = "v42-no-text"
address = "telnet://0.0.0.0:2328"
text_login = "off"
backend = "sh"
[[listener]]
name = "required-text"
address = "telnet://127.0.0.1:2330"
security = "required"
backend = "sh"
[[listener]]
name = "required-lapm"
address = "telnet://127.0.0.1:2331"
security = "required"
v42 = "lapm"
backend = "sh"
[[listener]]
name = "required-no-text"
address = "telnet://127.0.0.1:2332"
security = "required"
text_login = "off"
backend = "sh"
[[backend]]
name = "missing"
type = "pty"
command = ["` + filepath.Join(dir, "nope") + `"]
[[backend]]
name = "plain"
type = "pty"
command = ["` + notExec + `"]
[[backend]]
name = "sh"
type = "pty"
command = ["/bin/sh"]
`
	c, err := Parse("w.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{`backend "missing": program ` + filepath.Join(dir, "nope") + `: no such file or directory`,
		`backend "plain": program ` + notExec + ` is not executable`,
		`listener "net": text_login = "allow" on telnet://0.0.0.0:2323: passwords cross the network in clear`,
		`listener "proxied": text_login = "allow" on ws://127.0.0.1:8080/line behind trusted_proxies: callers the proxy passes on from elsewhere over plain connections send their passwords in clear`,
		`listener "any-origin": allowed_origins = ["*"] on ws://0.0.0.0:8082/line: any web page`,
		`listener "any-origin-proxied": allowed_origins = ["*"] on ws://127.0.0.1:8084/line: any web page`,
		`listener "no-way-in": v42 = "off" and text_login = "off": it refuses every caller`,
		`listener "plain-secure": v42 = "off" and text_login = "secure" on telnet://0.0.0.0:2326, a line without TLS: it refuses every caller`,
		`listener "lapm-unused": lapm_n401, lapm_k, lapm_fcs32 and lapm_srej do nothing with v42 = "off"`,
		`listener "required-text": security = "required" holds for V.42 callers only: callers without V.42 get the text login here (text_login = "secure"); set text_login = "off" to require Access Security of every caller`} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings\n%s\nlack\n%s", w, want)
		}
	}
	if n := len(c.Warnings()); n != 10 {
		t.Errorf("%d warnings, want 10:\n%s", n, w)
	}

	// No users file yet: every login would be denied.
	missing := filepath.Join(dir, "none", "users.toml")
	c, err = Parse("w.toml", []byte("users_file = \""+missing+"\"\n[[listener]]\nname = \"lo\"\naddress = \"telnet://127.0.0.1:2323\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "users_file " + missing + " does not exist: every login will be denied until you add a user (gateway user add --config w.toml NAME)"
	if w := c.Warnings(); len(w) != 1 || w[0] != want {
		t.Errorf("warnings %q, want %q", w, want)
	}
}

// TestPProfWarnings: runtime profiles on a non-loopback metrics address,
// or pprof without an address, are warned about; on loopback they are not.
func TestPProfWarnings(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.toml")
	if err := os.WriteFile(users, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ metrics, want string }{
		{"[metrics]\nlisten = \"127.0.0.1:9464\"\npprof = true\n", ""},
		{"[metrics]\nlisten = \"localhost:9464\"\npprof = true\n", ""},
		{"[metrics]\nlisten = \"0.0.0.0:9464\"\npprof = true\n", "metrics.pprof = true on 0.0.0.0:9464: runtime profiles"},
		{"[metrics]\npprof = true\n", "metrics.pprof = true without metrics.listen"},
		{"[metrics]\nlisten = \"0.0.0.0:9464\"\n", "metrics.listen = 0.0.0.0:9464: the call counts"},
		{"[metrics]\nlisten = \"127.0.0.1:9464\"\n", ""},
	} {
		c, err := Parse("p.toml", []byte("users_file = \""+users+"\"\n"+tc.metrics+"[[listener]]\nname = \"lo\"\naddress = \"telnet://127.0.0.1:2323\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		w := strings.Join(c.Warnings(), "\n")
		if tc.want == "" && w != "" || !strings.Contains(w, tc.want) {
			t.Errorf("%q: warnings %q, want %q", tc.metrics, w, tc.want)
		}
	}
}

// TestSessionLimits: [lines] idle_timeout defaults to 30 minutes and
// max_session to none; a listener's own keys win, also "0s" (off); a bad
// value names the listener's key.
func TestSessionLimits(t *testing.T) {
	c, err := Parse("s.toml", []byte(`
[lines]
max_session = "4h"
[[listener]]
name = "a"
address = "telnet://127.0.0.1:2323"
[[listener]]
name = "b"
address = "telnet://127.0.0.1:2324"
idle_timeout = "0s"
max_session = "10m"
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Listeners[0].SessionLimits(c.Lines), (SessionLimits{Idle: DefaultIdleTimeout, Max: 4 * time.Hour}); got != want {
		t.Errorf("listener a: %+v, want %+v", got, want)
	}
	if got, want := c.Listeners[1].SessionLimits(c.Lines), (SessionLimits{Idle: 0, Max: 10 * time.Minute}); got != want {
		t.Errorf("listener b: %+v, want %+v", got, want)
	}
	if got := Demo().Listeners[0].SessionLimits(Demo().Lines); got != (SessionLimits{Idle: DefaultIdleTimeout}) {
		t.Errorf("demo: %+v", got)
	}

	_, err = Parse("s.toml", []byte("[lines]\nidle_timeout = \"soon\"\n[[listener]]\nname = \"a\"\naddress = \"tcp://127.0.0.1:1\"\nmax_session = \"-1m\"\n"))
	want := "s.toml:2:1: lines.idle_timeout: duration \"soon\": want a number with a unit, like \"750ms\" or \"30s\"\n" +
		"s.toml:6:1: listener[0].max_session: duration \"-1m\" must not be negative"
	if err == nil || err.Error() != want {
		t.Errorf("err =\n%v\nwant\n%s", err, want)
	}
}

// TestHTTPConnLimits: a ws listener's http_max_conns and
// http_max_conns_per_source are read (0 when absent: the transport's
// defaults), and negative ones are refused with the key named.
func TestHTTPConnLimits(t *testing.T) {
	c, err := Parse("h.toml", []byte(`
[[listener]]
name = "web"
address = "ws://127.0.0.1:8080/line"
http_max_conns = 300
http_max_conns_per_source = 40
[[listener]]
name = "plain"
address = "ws://127.0.0.1:8081/line"
`))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Listeners[0]; l.HTTPMaxConns != 300 || l.HTTPMaxConnsPerSource != 40 {
		t.Errorf("web: %d / %d, want 300 / 40", l.HTTPMaxConns, l.HTTPMaxConnsPerSource)
	}
	if l := c.Listeners[1]; l.HTTPMaxConns != 0 || l.HTTPMaxConnsPerSource != 0 {
		t.Errorf("plain: %d / %d, want the defaults (0)", l.HTTPMaxConns, l.HTTPMaxConnsPerSource)
	}
	_, err = Parse("h.toml", []byte(`
[[listener]]
name = "web"
address = "ws://127.0.0.1:8080/line"
http_max_conns_per_source = -1
`))
	if err == nil || !strings.Contains(err.Error(), "http_max_conns_per_source") {
		t.Errorf("negative http_max_conns_per_source: %v", err)
	}
}

// TestCallbackHandshakeTimeout: [callback] handshake_timeout defaults to
// 30 s, is read, and a value below 1 s or past the expiry, or not a
// duration, is one problem naming the key.
func TestCallbackHandshakeTimeout(t *testing.T) {
	const head = "[[listener]]\nname = \"a\"\naddress = \"telnet://127.0.0.1:2323\"\n"
	c, err := Parse("c.toml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Callback.HandshakeTimeout.Duration; got != 30*time.Second {
		t.Errorf("default %v, want 30s", got)
	}
	c, err = Parse("c.toml", []byte("[callback]\nhandshake_timeout = \"45s\"\n"+head))
	if err != nil || c.Callback.HandshakeTimeout.Duration != 45*time.Second {
		t.Errorf("45s: %v, %v", c.Callback.HandshakeTimeout, err)
	}
	for _, tc := range []struct{ value, want string }{
		{`"0s"`, `c.toml:2:1: callback.handshake_timeout: 0s out of range 1s..callback.expiry (2m0s)`},
		{`"500ms"`, `c.toml:2:1: callback.handshake_timeout: 500ms out of range 1s..callback.expiry (2m0s)`},
		{`"5m"`, `c.toml:2:1: callback.handshake_timeout: 5m0s out of range 1s..callback.expiry (2m0s)`},
		{`"-1s"`, `c.toml:2:1: callback.handshake_timeout: duration "-1s" must not be negative`},
		{`"30"`, `c.toml:2:1: callback.handshake_timeout: duration "30": want a number with a unit, like "750ms" or "30s"`},
		// A number, not a string (new-user trial: reported quoted).
		{`30`, `c.toml:2:1: callback.handshake_timeout: duration 30 is a number: write a string with a unit, like "30s" or "750ms"`},
		{`true`, `c.toml:2:1: callback.handshake_timeout: duration true is a boolean: write a string with a unit, like "30s" or "750ms"`},
		{`[1]`, `c.toml:2:1: callback.handshake_timeout: duration [...] is an array: write a string with a unit, like "30s" or "750ms"`},
	} {
		_, err := Parse("c.toml", []byte("[callback]\nhandshake_timeout = "+tc.value+"\n"+head))
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Error() != tc.want {
			t.Errorf("handshake_timeout = %s:\n%v\nwant\n%s", tc.value, err, tc.want)
		}
	}
}

// TestTextLoginBehindProxy: under text_login = "secure" a loopback
// listener's exemption is for callers on this machine. A line whose
// address came from a trusted proxy counts as local only when that
// address is loopback, and as encrypted when the proxy said so
// (X-Forwarded-Proto https, LineInfo.Secure).
func TestTextLoginBehindProxy(t *testing.T) {
	l := Listener{Address: "ws://127.0.0.1:8080/line", TextLogin: TextLoginSecure, TrustedProxies: []string{"127.0.0.1"}}
	for _, tc := range []struct {
		info transport.LineInfo
		want bool
	}{
		{transport.LineInfo{RemoteAddr: "127.0.0.1:50000"}, true},                            // direct local caller
		{transport.LineInfo{RemoteAddr: "203.0.113.7:0", Proxied: true}, false},              // forwarded over plain http
		{transport.LineInfo{RemoteAddr: "203.0.113.7:0", Proxied: true, Secure: true}, true}, // X-Forwarded-Proto https
		{transport.LineInfo{RemoteAddr: "127.0.0.1:0", Proxied: true}, true},                 // a browser on this machine, through the proxy
		{transport.LineInfo{RemoteAddr: "[::1]:0", Proxied: true}, true},                     //
		{transport.LineInfo{RemoteAddr: "[::ffff:127.0.0.1]:0", Proxied: true}, true},        //
		{transport.LineInfo{RemoteAddr: "[2001:db8::1]:0", Proxied: true}, false},            //
		{transport.LineInfo{RemoteAddr: "localhost:0", Proxied: true}, false},                // not an address
		{transport.LineInfo{RemoteAddr: "garbage", Proxied: true}, false},                    //
	} {
		if got := l.TextLoginAllowed(tc.info); got != tc.want {
			t.Errorf("%+v: allowed %v, want %v", tc.info, got, tc.want)
		}
	}
	// A listener beyond loopback: a proxied loopback address is a local
	// caller too; a proxied one from elsewhere needs https.
	wide := Listener{Address: "ws://0.0.0.0:8080/line", TextLogin: TextLoginSecure}
	if !wide.TextLoginAllowed(transport.LineInfo{RemoteAddr: "127.0.0.1:0", Proxied: true}) ||
		wide.TextLoginAllowed(transport.LineInfo{RemoteAddr: "203.0.113.7:0", Proxied: true}) ||
		wide.TextLoginAllowed(transport.LineInfo{RemoteAddr: "127.0.0.1:4000"}) {
		t.Error("listener beyond loopback: wrong policy")
	}
	// "allow" and "off" do not look at the line.
	l.TextLogin = TextLoginAllow
	if !l.TextLoginAllowed(transport.LineInfo{RemoteAddr: "203.0.113.7:0", Proxied: true}) {
		t.Error(`"allow" refused a proxied caller`)
	}
	l.TextLogin = TextLoginOff
	if l.TextLoginAllowed(transport.LineInfo{Secure: true}) {
		t.Error(`"off" allowed a secure line`)
	}
}

// TestConnectTimeoutZero: connect_timeout = "0s" is refused with its
// position; it was taken silently as the default 10 s (option trial),
// where an operator who writes "0s", as for idle_timeout, means no
// limit. Left out, it is 10 s.
func TestConnectTimeoutZero(t *testing.T) {
	const head = "[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nbackend = \"b\"\n[[backend]]\nname = \"b\"\ntype = \"tcp\"\naddress = \"127.0.0.1:6400\"\n"
	_, err := Parse("c.toml", []byte(head+"connect_timeout = \"0s\"\n"))
	if err == nil || !strings.Contains(err.Error(), "c.toml:9:1: backend[0].connect_timeout:") {
		t.Errorf("connect_timeout = \"0s\": error %v, want one at c.toml:9:1 naming backend[0].connect_timeout", err)
	}
	c, err := Parse("c.toml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Backends[0].ConnectTimeout.Duration; got != 10*time.Second {
		t.Errorf("connect_timeout left out: %v, want 10s", got)
	}
}

// parseCase is a configuration file and what its Parse error must hold.
type parseCase struct{ file, want string }

// wantParseErrors checks that each file fails Parse with its want in
// the error.
func wantParseErrors(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		_, err := Parse("c.toml", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.file, err, tc.want)
		}
	}
}

// TestRelatedKeyPosition: a problem between two keys, one of them left
// at its default, points at the one written (option trial:
// throttle_base = "10m" was reported as "c.toml: security.throttle_max:
// ...", without a line, naming a key the file did not have).
func TestRelatedKeyPosition(t *testing.T) {
	const tail = "[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\n"
	wantParseErrors(t, []parseCase{
		{"[security]\nthrottle_base = \"10m\"\n" + tail, "c.toml:2:1: security.throttle_max: 5m0s is less than throttle_base 10m0s"},
		{"[callback]\nexpiry = \"20s\"\n" + tail, "c.toml:2:1: callback.handshake_timeout: 30s out of range"},
	})
}

// TestBackendTermChecked: a backend's term must be a terminfo name, as
// a caller's announced terminal type must be (termname.Clean); option
// trial: term = "bad term\n" passed gateway check and became a pty
// program's TERM.
func TestBackendTermChecked(t *testing.T) {
	const head = "[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nbackend = \"b\"\n[[backend]]\nname = \"b\"\ntype = \"pty\"\ncommand = [\"/bin/sh\"]\n"
	for _, term := range []string{`bad term\n`, `../../tmp/x`, `unknown`, `-vt100`} {
		_, err := Parse("c.toml", []byte(head+"term = \""+term+"\"\n"))
		if err == nil || !strings.Contains(err.Error(), "c.toml:9:1: backend[0].term:") {
			t.Errorf("term = %q: error %v, want one at c.toml:9:1 naming backend[0].term", term, err)
		}
	}
	for _, term := range []string{"ansi", "xterm-256color", "vt100", "screen.xterm"} {
		if _, err := Parse("c.toml", []byte(head+"term = \""+term+"\"\n")); err != nil {
			t.Errorf("term = %q: %v", term, err)
		}
	}
}

// TestKeysOfOtherKinds: keys that one kind of backend or listener
// alone reads are refused on the others, as telnet on a ws:// listener
// and echo on a pty backend are; option trial: env and dir on a tcp
// backend and http_max_conns on a telnet:// listener passed gateway
// check and did nothing.
func TestKeysOfOtherKinds(t *testing.T) {
	wantParseErrors(t, []parseCase{
		{"[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nbackend = \"b\"\n[[backend]]\nname = \"b\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\nenv = [\"A=b\"]\n", "c.toml:9:1: backend[0].env:"},
		{"[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nbackend = \"b\"\n[[backend]]\nname = \"b\"\ntype = \"telnet\"\naddress = \"127.0.0.1:1\"\ndir = \"/tmp\"\n", "c.toml:9:1: backend[0].dir:"},
		{"[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nhttp_max_conns = 10\n", "c.toml:4:1: listener[0].http_max_conns:"},
		{"[[listener]]\nname = \"m\"\naddress = \"tcp://127.0.0.1:2323\"\nhttp_max_conns_per_source = 10\n", "c.toml:4:1: listener[0].http_max_conns_per_source:"},
		{"[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nbackend = \"b\"\n[[backend]]\nname = \"b\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\nterm = \"ansi\"\n", "c.toml:9:1: backend[0].term:"},
		{"[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\nbackend = \"b\"\n[[backend]]\nname = \"b\"\ntype = \"demo\"\nterm = \"ansi\"\n", "c.toml:8:1: backend[0].term:"},
	})
}

// TestRequiredDefaultOnListenerWithoutV42: [security] mode = "required"
// is the default of listeners with V.42; a v42 = "off" listener, which
// has no V.42 callers, takes no policy from it. Option trial: the
// shipped example with mode = "required" was refused at its "web"
// listener (v42 = "off"), as "listener[1].security: security =
// \"required\" needs V.42", a key the listener did not have. Written on
// the listener itself it is still refused.
func TestRequiredDefaultOnListenerWithoutV42(t *testing.T) {
	const global = "[security]\nmode = \"required\"\n[[listener]]\nname = \"web\"\naddress = \"ws://127.0.0.1:8080/line\"\nv42 = \"off\"\n"
	if _, err := Parse("c.toml", []byte(global)); err != nil {
		t.Errorf("global mode = \"required\" with a v42 = \"off\" listener: %v", err)
	}
	_, err := Parse("c.toml", []byte(global+"security = \"required\"\n"))
	if err == nil || !strings.Contains(err.Error(), "c.toml:7:1: listener[0].security:") {
		t.Errorf("listener security = \"required\" with v42 = \"off\": error %v, want one at c.toml:7:1", err)
	}
}

// TestThrottleZero: throttle_base and throttle_max of "0s" are refused;
// the throttle took them silently as its defaults, 1 s and 5 min
// (option trial), where an operator who writes "0s" means no back-off.
func TestThrottleZero(t *testing.T) {
	const tail = "[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\n"
	wantParseErrors(t, []parseCase{
		{"[security]\nthrottle_base = \"0s\"\n" + tail, "c.toml:2:1: security.throttle_base: must be more than 0"},
		{"[security]\nthrottle_base = \"0s\"\nthrottle_max = \"0s\"\n" + tail, "c.toml:3:1: security.throttle_max: must be more than 0"},
	})
}

// TestCallbackBackoffZero: backoff = "0s" is refused; the callback
// service took it silently as its default, 10 s between attempts
// (option trial: attempts 10 s apart with backoff = "0s").
func TestCallbackBackoffZero(t *testing.T) {
	_, err := Parse("c.toml", []byte("[callback]\nbackoff = \"0s\"\n[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\n"))
	if err == nil || !strings.Contains(err.Error(), "c.toml:2:1: callback.backoff: must be more than 0") {
		t.Errorf("backoff = \"0s\": error %v", err)
	}
}

// TestPerUserChecked: [lines] per_user is a number of calls, 0 for no
// limit; a negative one is refused with its line.
func TestPerUserChecked(t *testing.T) {
	const tail = "[[listener]]\nname = \"m\"\naddress = \"telnet://127.0.0.1:2323\"\n"
	wantParseErrors(t, []parseCase{
		{"[lines]\nper_user = -1\n" + tail, "c.toml:2:1: lines.per_user: -1: want a number of sessions (0: no limit)"},
	})
	c, err := Parse("c.toml", []byte("[lines]\nper_user = 2\n"+tail))
	if err != nil || c.Lines.PerUser != 2 {
		t.Fatalf("per_user = 2: %v, %+v", err, c)
	}
}
