package bridge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/proxyproto"
)

// ErrDenied is what a Verifier returns (wrapped) when the user name and
// password do not open a session. It never says which of the two was
// wrong.
var ErrDenied = errors.New("bridge: access denied")

// ErrThrottled is what a Verifier returns (wrapped) when it will not check
// a password now: back-off after failures, or too many verifications
// queued.
var ErrThrottled = errors.New("bridge: login refused for now")

// ErrChecksBusy is the ErrThrottled a Verifier returns (wrapped) when its
// queue of password checks is full (auth.ErrBusy): the gateway sheds the
// login, whoever the caller is.
var ErrChecksBusy = fmt.Errorf("%w: password checks busy", ErrThrottled)

// errCallerGone is returned by the line editor when the caller hangs up or
// types the interrupt or end-of-file character at a prompt.
var errCallerGone = errors.New("bridge: caller hung up")

// lineFailedError is the errCallerGone of a caller whose line failed at
// a prompt other than by a hang-up: a WebSocket frame the protocol
// forbids, an invalid payload, a message over the limit. The record says
// what failed (hostile-peer trial: such calls were recorded "caller left
// during login").
type lineFailedError struct{ err error }

func (e *lineFailedError) Error() string   { return "bridge: caller line failed: " + e.err.Error() }
func (e *lineFailedError) Unwrap() []error { return []error{errCallerGone, e.err} }

// errLoginCancelled is the errCallerGone of a caller who typed the
// interrupt or end-of-file character (Ctrl-C, Ctrl-D) at a prompt: the
// line is still up, so the caller can be told why it is hung up.
var errLoginCancelled = fmt.Errorf("%w: cancelled with Ctrl-C or Ctrl-D", errCallerGone)

// errTLSClient is the errCallerGone of a caller whose first octets are a
// TLS handshake record (0x16 0x03: a TLS client on a listener without
// TLS). Its ClientHello would otherwise be typed at login: and its 0x03
// taken for Ctrl-C.
var errTLSClient = fmt.Errorf("%w: a TLS client on a line without TLS", errCallerGone)

// errHTTPClient is the errCallerGone of a caller whose first line at the
// login prompt is an HTTP request line (httpRequestLine): a browser, curl
// or a WebSocket client on a telnet or tcp listener. Its request would
// otherwise be a failed login, with the next header line as the password
// (new-user trial: "unknown user", and the address's login back-off).
var errHTTPClient = fmt.Errorf("%w: an HTTP client on a telnet or tcp line", errCallerGone)

// httpRequestLine matches the first line of an HTTP/1 request.
var httpRequestLine = regexp.MustCompile(`^(GET|HEAD|POST|PUT|DELETE|OPTIONS|CONNECT|PATCH|TRACE) \S+ HTTP/1\.[01]$`)

// Account is an authenticated user as the call flow needs it.
type Account struct {
	Name     string
	Backend  string // "" = the listener's backend
	Callback string // line URL to call the user back on; "" = none
}

// Verifier checks credentials: the text login and the Access Security
// RESPONSE use the same one. source is the caller's address (for
// throttling). Errors wrap ErrDenied or ErrThrottled; anything else is an
// internal error.
type Verifier interface {
	Verify(ctx context.Context, user, password, source string) (Account, error)
}

// Limits of the text login: one octet over what `gateway user` and
// Access Security take (auth.MaxUserIDLen, auth.MaxPasswordLen). A
// shorter limit cut an account's password, and the account could never
// log in by text; the limit itself cut a longer one to the account's
// (security review: the password followed by anything logged in). The
// octet over makes the verifier see a name or password too long, which
// it denies.
const (
	maxUserLen     = auth.MaxUserIDLen + 1
	maxPasswordLen = auth.MaxPasswordLen + 1
)

// lineEditor reads lines typed on a terminal at the other end of a line.
// It echoes when the gateway controls echo, handles backspace, and ends a
// line at CR, LF, CR LF or CR NUL (RFC 854 NVT conventions).
type lineEditor struct {
	src  io.Reader // the line
	r    *bufio.Reader
	w    io.Writer
	echo bool
	// refused, if set, reports that the caller refused the gateway's
	// echo (it echoes locally): then the editor does not echo either.
	refused func() bool
	// pendingCR: the last line ended in CR whose LF or NUL may still come.
	pendingCR bool
	started   bool // an octet has been read
}

func newLineEditor(r io.Reader, w io.Writer, echo bool) *lineEditor {
	return &lineEditor{src: r, r: bufio.NewReaderSize(r, 4096), w: w, echo: echo}
}

// echoing reports whether the editor echoes now.
func (e *lineEditor) echoing() bool {
	return e.echo && (e.refused == nil || !e.refused())
}

// TextLoginDrops returns the index of the first octet of s that readLine
// does not take into a line it reads (so a caller could never type s at
// the text login), or -1: control characters and DEL anywhere (they edit
// the line, end it, or are ignored), and a C1 octet (0x80-0x9f) as the
// first octet. gateway user refuses such a password.
func TextLoginDrops(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || (i == 0 && c >= 0x80 && c <= 0x9f) {
			return i
		}
	}
	return -1
}

// readLine reads one line of at most max octets (more are ignored).
// secret lines are never echoed.
func (e *lineEditor) readLine(secret bool, max int) (string, error) {
	var b []byte
	var out []byte
	esc := 0 // 1: after ESC; 2: in a CSI sequence (ECMA-48 5.4); 3: after ESC O
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		_, err := e.w.Write(out)
		out = out[:0]
		return err
	}
	for {
		c, err := e.r.ReadByte()
		if err != nil {
			if errors.Is(err, proxyproto.ErrUnwanted) || errors.Is(err, transport.ErrReadBudget) {
				// Not a caller who left: the call flow refuses it.
				return "", err
			}
			if !callerHungUp(err) && !errors.Is(err, os.ErrDeadlineExceeded) {
				return "", &lineFailedError{err}
			}
			return "", errCallerGone
		}
		echo := e.echoing()
		if !e.started {
			e.started = true
			// A TLS record header: content type 22 (handshake), version
			// 3.x. A person does not type Ctrl-V then Ctrl-C.
			if c == 0x16 {
				if next, err := e.r.Peek(1); err == nil && next[0] == 0x03 {
					return "", errTLSClient
				}
			}
		}
		if e.pendingCR {
			e.pendingCR = false
			if c == '\n' || c == 0 {
				continue
			}
		}
		// Cursor keys and the like send escape sequences; they are not
		// part of names or passwords.
		switch esc {
		case 1:
			switch c {
			case '[':
				esc = 2
			case 'O':
				esc = 3
			default:
				esc = 0
			}
			continue
		case 2:
			if c >= 0x40 && c <= 0x7E {
				esc = 0
			}
			continue
		case 3:
			esc = 0
			continue
		}
		switch {
		case c == 0x1B:
			esc = 1
		case c == '\r' || c == '\n':
			e.pendingCR = c == '\r'
			if echo {
				out = append(out, '\r', '\n')
			}
			if err := flush(); err != nil {
				// The caller left as the line ended (a reset right
				// after the password line): not a gateway fault.
				return "", errCallerGone
			}
			return string(b), nil
		case c == 0x08 || c == 0x7F:
			// A character, not an octet: a UTF-8 one is several.
			if len(b) > 0 {
				b = b[:len(b)-lastCharLen(b)]
				if echo && !secret {
					out = append(out, '\b', ' ', '\b')
				}
			}
		case c == 0x03 || c == 0x04: // ^C, ^D: the caller gives up
			if err := flush(); err != nil {
				return "", errCallerGone
			}
			return "", errLoginCancelled
		case c == 0x15: // ^U: kill the line
			if echo && !secret {
				for range utf8.RuneCount(b) {
					out = append(out, '\b', ' ', '\b')
				}
			}
			b = b[:0]
		case c < 0x20:
			// Other control characters are ignored.
		case len(b) == 0 && c >= 0x80 && c <= 0x9F:
			// Before the first printable character, C1 controls are
			// dropped too. A V.42 caller on a listener without
			// detection (v42 = "off") keeps sending its originator
			// detection pattern, DC1 with even and odd parity (0x11,
			// 0x91; V.42 clause 8.2.1), until T400 expires and its
			// user starts typing: those octets are not part of the
			// name. (0x11 is dropped as a C0 control above.) No
			// UTF-8 character starts with 0x80..0xBF, so no text is
			// lost.
		default:
			if len(b) < max {
				b = append(b, c)
				if echo && !secret {
					out = append(out, c)
				}
			}
		}
		if e.r.Buffered() == 0 {
			if err := flush(); err != nil {
				return "", errCallerGone
			}
		}
	}
}

// rest returns a reader of what the caller typed after the last line,
// then the rest of the line: the typeahead reaches the backend. The
// editor's 4 KiB read buffer is not kept for the session: the typeahead
// is copied out and the line is read directly afterwards. The editor
// must not be used after rest. now is the clock (skipLF).
func (e *lineEditor) rest(now func() time.Time) io.Reader {
	ahead, _ := e.r.Peek(e.r.Buffered())
	if e.pendingCR && len(ahead) > 0 {
		// The LF or NUL of the CR that ended the password line.
		if ahead[0] == '\n' || ahead[0] == 0 {
			ahead = ahead[1:]
		}
		e.pendingCR = false
	}
	var r io.Reader = e.src
	if e.pendingCR {
		r = &skipLF{r: e.src, now: now}
	}
	e.r = nil
	if len(ahead) == 0 {
		return r
	}
	return io.MultiReader(bytes.NewReader(bytes.Clone(ahead)), r)
}

// skipLF drops one LF or NUL at the very start of a stream (the second
// half of a CR LF or CR NUL whose CR ended the password line), if the
// first read returns it within lfAfterCR: one that was waiting (it came
// during the password check or while the backend connected) is returned
// at once; one that the read waits longer for comes from a terminal that
// ends lines with CR alone, and is the caller's first octet of data.
type skipLF struct {
	r    io.Reader
	now  func() time.Time
	done bool
}

// lfAfterCR bounds the first read's wait for the LF or NUL of the password
// line's CR: a character time is 91 ms at 110 bit/s.
const lfAfterCR = time.Second

func (s *skipLF) Read(p []byte) (int, error) {
	var start time.Time
	if !s.done {
		start = s.now()
	}
	n, err := s.r.Read(p)
	if !s.done && n > 0 {
		s.done = true
		if (p[0] == '\n' || p[0] == 0) && s.now().Sub(start) <= lfAfterCR {
			copy(p, p[1:n])
			n--
			if n == 0 && err == nil {
				return s.Read(p)
			}
		}
	}
	return n, err
}

// loginOutcome is how a text login ended.
type loginOutcome struct {
	acct   Account
	tried  string // last user name typed, as recordedName gives it
	result string // store.Result*
	reason string
	tries  int
}

// pendingLimiter is a Verifier that also bounds the logins in progress
// per caller address: AuthVerifier, whose throttle counts the Access
// Security handshakes and text logins of an address together
// ([security] max_pending_per_source).
type pendingLimiter interface {
	Throttle() *auth.Throttle
}

// reasonPending is the record's reason for a text login refused because
// its address already has max_pending_per_source logins in progress.
const reasonPending = "too many logins in progress from this address"

// reasonChecksBusy is the record's reason for a text login shed because
// the queue of password checks was full (ErrChecksBusy).
const reasonChecksBusy = "password checks busy (hash_queue full)"

// unknownUser is what the call record and the log say for a user name
// tried at the text login that names no account.
const unknownUser = "(unknown user)"

// accountLister is a Verifier that can tell which accounts exist:
// AuthVerifier, through its users.
type accountLister interface {
	Auth() *auth.Verifier
}

// recordedName is how a user name tried at the login prompt appears in
// the call record and the log of a failed login.
//
// With a verifier that knows its accounts (accountLister), a name that
// names no account is recorded as unknownUser: callers who type their
// password at the "login:" prompt would otherwise have it written to
// the log in clear (login(1) records such names as UNKNOWN for the same
// reason).
//
// Otherwise a name of user-ID form (auth.ValidUserID) is recorded as
// typed, and any other quoted with every control and non-ASCII
// character escaped (strconv.QuoteToASCII): the line editor drops C0
// controls and escape sequences but keeps octets from 0x80, so a caller
// could put C1 controls (U+009B is CSI), bidirectional overrides or line
// separators into the log, where they act on the terminal of whoever
// reads it; and a quoted name can never pass for an account.
func recordedName(v Verifier, user string) string {
	if al, ok := v.(accountLister); ok {
		if _, found := al.Auth().Users().Lookup(user); !found {
			return unknownUser
		}
	}
	if auth.ValidUserID(user) == nil {
		return user
	}
	return strconv.QuoteToASCII(user)
}

// checkingVerifier is a Verifier that sets checking while a password check
// runs (or waits for its turn), and leaves it set when ctx ended it, as
// textLogin does: the login's deadline watcher then says the login timed
// out waiting for the check (Access Security's RESPONSE).
type checkingVerifier struct {
	Verifier
	checking *atomic.Bool
}

func (v checkingVerifier) Verify(ctx context.Context, user, password, source string) (Account, error) {
	v.checking.Store(true)
	acct, err := v.Verifier.Verify(ctx, user, password, source)
	if ctx.Err() == nil {
		v.checking.Store(false)
	}
	return acct, err
}

// verifyBounded runs v.Verify as one of the logins in progress from
// source when v bounds them (pendingLimiter); bounded reports that source
// already had as many and the check did not run.
func verifyBounded(ctx context.Context, v Verifier, user, pw, source string) (acct Account, bounded bool, err error) {
	if pl, ok := v.(pendingLimiter); ok {
		release, berr := pl.Throttle().BeginHandshake(source)
		if berr != nil {
			return Account{}, true, nil
		}
		defer release()
	}
	acct, err = v.Verify(ctx, user, pw, source)
	return acct, false, err
}

// leftAfter is the outcome of a login that ended with err (the caller hung
// up, cancelled, or the line failed) after failed wrong attempts, the last
// of them as user: with none, err; with some, a denied login, so that a
// caller who guesses one password per call and hangs up at "Login
// incorrect." leaves a denied record with the name tried, not an
// abandoned one without it.
func leftAfter(failed int, user, why string, err error) (loginOutcome, error) {
	if failed == 0 || errors.Is(err, transport.ErrReadBudget) {
		return loginOutcome{}, err
	}
	return loginOutcome{tried: user, result: store.ResultDenied, tries: failed,
		reason: failedAttempts(failed, why) + ", then the caller left"}, nil
}

// textLogin runs the login dialogue: up to tries attempts of user name and
// password, verified by v. When v bounds the logins in progress per
// address (pendingLimiter), a password check is one of them: an attempt
// from an address that already has as many checks running is refused,
// with result throttled. Without the bound one address could run a
// password check on every line at once (the per-address back-off is only
// checked when each attempt starts). The bound covers the check only, not
// the typing before it: callers sharing an address (a NAT, a WiFi-modem
// host) may sit at the prompt together; a connection that never types is
// hung up at the login deadline, and [lines] per_source bounds how many
// lines one address holds.
//
// checking (nil: none) is set while a password check runs or waits for
// its turn, and left set when ctx ended it. A login that ends because
// ctx ended during a check names the user tried (tried).
func textLogin(ctx context.Context, e *lineEditor, v Verifier, source, banner string, tries int, checking *atomic.Bool) (loginOutcome, error) {
	if _, err := io.WriteString(e.w, banner); err != nil {
		return loginOutcome{}, errCallerGone
	}
	// last is the user of the last attempt, why the reason it was
	// denied (the record's, never the caller's: denialReason).
	last, why := "", ""
	for i := 1; i <= tries; i++ {
		user := ""
		for user == "" {
			// A caller that hung up after a denied attempt is
			// recorded with it (operator trial: a script that
			// closed after each password was "abandoned", no user).
			if _, err := io.WriteString(e.w, "login: "); err != nil {
				return leftAfter(i-1, last, why, errCallerGone)
			}
			u, err := e.readLine(false, maxUserLen)
			if err != nil {
				return leftAfter(i-1, last, why, err)
			}
			if i == 1 && httpRequestLine.MatchString(u) {
				return loginOutcome{}, errHTTPClient
			}
			if !e.echoing() {
				// A caller that echoes itself may not have moved
				// to a new line (retest: "login: alice^Mpassword: ").
				if _, err := io.WriteString(e.w, "\r\n"); err != nil {
					return leftAfter(i-1, last, why, errCallerGone)
				}
			}
			user = u
		}
		if _, err := io.WriteString(e.w, "password: "); err != nil {
			return leftAfter(i-1, last, why, errCallerGone)
		}
		pw, err := e.readLine(true, maxPasswordLen)
		if err != nil {
			return leftAfter(i-1, last, why, err)
		}
		if !e.echoing() {
			// The terminal echoed the CR itself, or not: make sure
			// the next output starts on a fresh line.
			_, _ = io.WriteString(e.w, "\r\n")
		}
		if checking != nil {
			checking.Store(true)
		}
		acct, bounded, err := verifyBounded(ctx, v, user, pw, source)
		pw = ""
		if checking != nil && ctx.Err() == nil {
			checking.Store(false)
		}
		if bounded {
			return loginOutcome{result: store.ResultThrottled, reason: reasonPending, tries: i}, nil
		}
		last = recordedName(v, user)
		switch {
		case err == nil:
			if acct.Name == "" {
				acct.Name = user
			}
			return loginOutcome{acct: acct, tries: i}, nil
		case errors.Is(err, ErrChecksBusy):
			return loginOutcome{tried: last, result: store.ResultThrottled, reason: reasonChecksBusy, tries: i}, nil
		case errors.Is(err, ErrThrottled):
			return loginOutcome{tried: recordedName(v, user), result: store.ResultThrottled, reason: "login throttled", tries: i}, nil
		case errors.Is(err, ErrDenied):
			why = denialReason(err)
			if i < tries {
				if _, err := io.WriteString(e.w, "Login incorrect.\r\n\r\n"); err != nil {
					return leftAfter(i, last, why, errCallerGone)
				}
			}
		case ctx.Err() != nil:
			return loginOutcome{tried: last, tries: i}, ctx.Err()
		default:
			return loginOutcome{tries: i}, fmt.Errorf("bridge: verify: %w", err)
		}
	}
	return loginOutcome{tried: last, result: store.ResultDenied, reason: failedAttempts(tries, why), tries: tries}, nil
}

// failedAttempts is a denied text login's record reason: "1 failed login
// attempt", "3 failed login attempts", with the last one's reason when
// the verifier told it: "3 failed login attempts (last: wrong password)".
func failedAttempts(n int, why string) string {
	s := fmt.Sprintf("%d failed login attempts", n)
	if n == 1 {
		s = "1 failed login attempt"
	}
	if why != "" {
		s += " (last: " + why + ")"
	}
	return s
}

// lastCharLen is how many octets the last character of b takes: a whole
// UTF-8 sequence, or one octet of anything else (Latin-1 and other
// single-octet text).
func lastCharLen(b []byte) int {
	if r, n := utf8.DecodeLastRune(b); r != utf8.RuneError || n > 1 {
		return n
	}
	return 1
}
