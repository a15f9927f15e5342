package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Duration is a time.Duration written in the TOML file as a Go duration
// string ("750ms", "30s", "2m"). Negative durations are rejected.
//
// Decoding never fails on a bad value: the value is kept aside (the
// default stays in place) and Parse reports it with its position, together
// with every other problem of the file.
type Duration struct {
	time.Duration
	bad     string // the value as written, when it is not a valid duration
	badKind string // what bad was when not a string: "a number", "a boolean", ...
}

// UnmarshalTOML takes a string as UnmarshalText does, and sets a number
// aside to be reported as one: durations are strings with a unit
// (new-user trial: idle_timeout = 30 was reported as "30", quoted, as
// though a string had been written).
func (d *Duration) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		return d.UnmarshalText([]byte(v))
	case int64, float64:
		d.bad, d.badKind = fmt.Sprint(v), "a number"
	case bool:
		d.bad, d.badKind = fmt.Sprint(v), "a boolean"
	case time.Time:
		d.bad, d.badKind = v.Format(time.RFC3339), "a date-time"
	case []any:
		d.bad, d.badKind = "[...]", "an array"
	case map[string]any:
		d.bad, d.badKind = "{...}", "a table"
	default:
		d.bad, d.badKind = fmt.Sprint(v), "a value of another type"
	}
	return nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	d.badKind = ""
	if _, err := parseDuration(string(b)); err != nil {
		d.bad = string(b)
		return nil
	}
	d.Duration, _ = parseDuration(string(b))
	d.bad = ""
	return nil
}

// check reports a value UnmarshalText set aside.
func (d *Duration) check() error {
	if d.bad == "" {
		return nil
	}
	bad, kind := d.bad, d.badKind
	d.bad, d.badKind = "", ""
	switch kind {
	case "":
	case "a number":
		return fmt.Errorf("%w: duration %s is a number: write a string with a unit, like \"%ss\" or \"750ms\"", ErrInvalid, bad, bad)
	default:
		return fmt.Errorf("%w: duration %s is %s: write a string with a unit, like \"30s\" or \"750ms\"", ErrInvalid, bad, kind)
	}
	_, err := parseDuration(bad)
	return err
}

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: duration %q: want a number with a unit, like \"750ms\" or \"30s\"", ErrInvalid, s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%w: duration %q must not be negative", ErrInvalid, s)
	}
	return v, nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// enum parses one of a fixed set of words.
func enum(kind string, b []byte, allowed ...string) (string, error) {
	s := string(b)
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: %s %q: want one of %s", ErrInvalid, kind, s, strings.Join(quoteAll(allowed), ", "))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// V42Mode says how a listener handles V.42 (ITU-T V.42 clause 8 detection).
type V42Mode string

// V.42 modes of a listener.
const (
	// V42Detect runs the detection phase (ODP/ADP, T400), then LAPM or,
	// on timeout, the text login. The default.
	V42Detect V42Mode = "detect"
	// V42LAPM skips detection: LAPM from the first octet, as a modem
	// configured to skip detection would.
	V42LAPM V42Mode = "lapm"
	// V42Off answers every call with the text login.
	V42Off V42Mode = "off"
)

// UnmarshalText implements encoding.TextUnmarshaler. A value that is not
// one of the words is kept for check, which Parse calls.
func (m *V42Mode) UnmarshalText(b []byte) error {
	*m = V42Mode(b)
	return nil
}

// check reports a value that is not one of the words and clears it (so
// the default applies while the rest of the file is checked).
func (m *V42Mode) check() error {
	if *m == "" {
		return nil
	}
	if _, err := enum("v42 mode", []byte(*m), string(V42Detect), string(V42LAPM), string(V42Off)); err != nil {
		*m = ""
		return err
	}
	return nil
}

// SecurityMode says what a listener demands of V.42 callers.
type SecurityMode string

// Security modes.
const (
	// SecurityRequired: a V.42 caller must run Access Security; a V.42
	// modem that offers none is disconnected with a logged reason.
	SecurityRequired SecurityMode = "required"
	// SecurityOptional: Access Security when offered; otherwise the text
	// login runs over the error-corrected LAPM link.
	SecurityOptional SecurityMode = "optional"
	// SecurityOff: Access Security is not offered; V.42 callers get the
	// text login over LAPM.
	SecurityOff SecurityMode = "off"
)

// UnmarshalText implements encoding.TextUnmarshaler. A value that is not
// one of the words is kept for check, which Parse calls.
func (m *SecurityMode) UnmarshalText(b []byte) error {
	*m = SecurityMode(b)
	return nil
}

// check reports a value that is not one of the words and clears it (so
// the default applies while the rest of the file is checked).
func (m *SecurityMode) check() error {
	if *m == "" {
		return nil
	}
	if _, err := enum("security mode", []byte(*m), string(SecurityRequired), string(SecurityOptional), string(SecurityOff)); err != nil {
		*m = ""
		return err
	}
	return nil
}

// TextLogin is the policy for the text login (user name and password typed
// in clear over the line).
type TextLogin string

// Text-login policies.
const (
	// TextLoginSecure allows the text login only on lines that are
	// encrypted (TLS, wss, sealed LAPM) or whose listener is bound to a
	// loopback address. The default.
	TextLoginSecure TextLogin = "secure"
	// TextLoginAllow allows the text login everywhere, including plain TCP
	// from the internet; the log says so at start-up.
	TextLoginAllow TextLogin = "allow"
	// TextLoginOff never offers the text login.
	TextLoginOff TextLogin = "off"
)

// UnmarshalText implements encoding.TextUnmarshaler. A value that is not
// one of the words is kept for check, which Parse calls.
func (m *TextLogin) UnmarshalText(b []byte) error {
	*m = TextLogin(b)
	return nil
}

// check reports a value that is not one of the words and clears it (so
// the default applies while the rest of the file is checked).
func (m *TextLogin) check() error {
	if *m == "" {
		return nil
	}
	if _, err := enum("text_login policy", []byte(*m), string(TextLoginSecure), string(TextLoginAllow), string(TextLoginOff)); err != nil {
		*m = ""
		return err
	}
	return nil
}

// BackendType names a kind of backend.
type BackendType string

// Backend types.
const (
	BackendTCP    BackendType = "tcp"    // raw TCP, octets as they are
	BackendTelnet BackendType = "telnet" // telnet client (RFC 854) with NAWS
	BackendPTY    BackendType = "pty"    // a program on a pseudo-terminal
	BackendDemo   BackendType = "demo"   // the built-in demo board (no shell)
)

// UnmarshalText implements encoding.TextUnmarshaler. A value that is not
// one of the words is kept for check, which Parse calls.
func (m *BackendType) UnmarshalText(b []byte) error {
	*m = BackendType(b)
	return nil
}

// check reports a value that is not one of the words.
func (m *BackendType) check() error {
	// Unlike the other words, a bad type is kept: "missing type" would
	// otherwise be reported for it as well.
	_, err := enum("backend type", []byte(*m), string(BackendTCP), string(BackendTelnet), string(BackendPTY), string(BackendDemo))
	if *m == "" {
		return nil
	}
	return err
}

// LogFormat is the log encoding.
type LogFormat string

// Log formats.
const (
	LogConsole LogFormat = "console"
	LogJSON    LogFormat = "json"
)

// UnmarshalText implements encoding.TextUnmarshaler. A value that is not
// one of the words is kept for check, which Parse calls.
func (m *LogFormat) UnmarshalText(b []byte) error {
	*m = LogFormat(b)
	return nil
}

// check reports a value that is not one of the words and clears it (so
// the default applies while the rest of the file is checked).
func (m *LogFormat) check() error {
	if *m == "" {
		return nil
	}
	if _, err := enum("log format", []byte(*m), string(LogConsole), string(LogJSON)); err != nil {
		*m = ""
		return err
	}
	return nil
}

// LogLevel is the minimum level logged.
type LogLevel string

// UnmarshalText implements encoding.TextUnmarshaler. A value that is not
// one of the words is kept for check, which Parse calls.
func (m *LogLevel) UnmarshalText(b []byte) error {
	*m = LogLevel(b)
	return nil
}

// check reports a value that is not one of the words and clears it (so
// the default applies while the rest of the file is checked).
func (m *LogLevel) check() error {
	if *m == "" {
		return nil
	}
	if _, err := enum("log level", []byte(*m), "debug", "info", "warn", "error"); err != nil {
		*m = ""
		return err
	}
	return nil
}

// HostPort is a "host:port" address (a TCP backend, the metrics listener).
type HostPort string

// UnmarshalText implements encoding.TextUnmarshaler; check validates.
func (h *HostPort) UnmarshalText(b []byte) error {
	*h = HostPort(b)
	return nil
}

// check reports a value that is not host:port and clears it.
func (h *HostPort) check() error {
	s := string(*h)
	if s == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil || port == "" {
		*h = ""
		return fmt.Errorf("%w: address %q: want host:port", ErrInvalid, s)
	}
	if err := checkPort(port); err != nil {
		*h = ""
		return fmt.Errorf("%w: address %q: %v", ErrInvalid, s, err)
	}
	return nil
}

func checkPort(p string) error {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return fmt.Errorf("port %q is not a number", p)
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return fmt.Errorf("port %q out of range", p)
		}
	}
	return nil
}
