package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/busyline"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/modem"
	"github.com/dialgate/dialgate/transport"
)

// modemV42 is the modem's dialer and callback verifier. It runs the caller
// side of V.42 detection, LAPM (through gateway dial's lapmOpen/lapmStart
// hooks) and Access Security with the phonebook's credentials, or with a
// login typed at the DTE's prompt once the gateway's key is verified. A host
// that does not answer V.42 gets a plain telnet-modem call. While this
// build has no LAPM link (lapmOpen is nil), "auto" targets are called
// plainly without detection and "v42" targets fail with an explanation.
type modemV42 struct {
	rate       int           // CONNECT rate
	term       string        // terminal type announced on telnet lines
	knownHosts string        // known-hosts file
	tofu       bool          // trust a gateway key seen for the first time
	timeout    time.Duration // detection and handshake bound
	answering  bool          // an --answer address exists: callbacks can be accepted
	log        *zap.Logger

	mu     sync.Mutex
	ticket *auth.CallerTicket // pending V.42 callback
}

// logNotice adapts a notice writer (host-key messages) to the log.
type logNotice struct{ log *zap.Logger }

func (l logNotice) Write(p []byte) (int, error) {
	l.log.Warn(strings.TrimSpace(strings.ReplaceAll(string(p), "\r\n", "\n")))
	return len(p), nil
}

// prefixedLine is a line whose first octets (received during detection)
// are delivered before the rest.
type prefixedLine struct {
	transport.Line
	r io.Reader
}

func (p *prefixedLine) Read(b []byte) (int, error) { return p.r.Read(b) }

func withLeftover(l transport.Line, leftover []byte) transport.Line {
	if len(leftover) == 0 {
		return l
	}
	return &prefixedLine{Line: l, r: io.MultiReader(strings.NewReader(string(leftover)), l)}
}

// v42Call is an established V.42 call: data through the link, Close hangs
// up the link and the line.
type v42Call struct {
	v42Link
	line transport.Line
	rate int
}

func (c *v42Call) Info() modem.ConnectInfo { return modem.ConnectInfo{Rate: c.rate, LAPM: true} }

func (c *v42Call) Close() error {
	err := c.v42Link.Close()
	if lerr := c.line.Close(); err == nil {
		err = lerr
	}
	return err
}

func dialErr(r modem.Reason, explain string, err error) error {
	return &modem.DialError{Reason: r, Explain: explain, Err: err}
}

// Dial implements modem.Dialer.
func (d *modemV42) Dial(ctx context.Context, t modem.Target) (modem.Call, error) {
	haveLAPM := lapmOpen != nil && lapmStart != nil
	if t.Mode == modem.ModePlain && t.Name == "" {
		// AT\N0 (a plain call for what is dialed by address) is a
		// standing setting: it must not send a login in clear to a host
		// whose key is pinned, or for a user dialed (review).
		if u, err := url.Parse(t.Address); err == nil {
			if why := whyV42(t, u.Host, d.knownHosts); why != "" {
				return nil, dialErr(modem.ReasonNoCarrier, "AT\\N0 asks for a plain call, but "+why+": dial it with AT\\N3", nil)
			}
		}
	}
	if t.Mode == modem.ModePlain || t.Mode == modem.ModeAuto && !haveLAPM {
		return modem.PlainDialer{Rate: d.rate, TermType: d.term}.Dial(ctx, t)
	}
	if !haveLAPM {
		return nil, dialErr(modem.ReasonNoCarrier, "this build has no V.42 LAPM link yet; use mode = \"plain\"", errNoLAPM)
	}
	u, err := url.Parse(t.Address)
	if err != nil {
		return nil, dialErr(modem.ReasonError, "cannot dial that address", err)
	}
	if len(t.User) > auth.MaxUserIDLen {
		// Access Security would refuse it as a configuration error.
		return nil, dialErr(modem.ReasonNoCarrier, fmt.Sprintf("the login is longer than %d characters", auth.MaxUserIDLen), nil)
	}
	line, err := modem.DialLine(ctx, t)
	if err != nil {
		if errors.Is(err, transport.ErrUnknownScheme) || errors.Is(err, transport.ErrBadAddress) {
			return nil, dialErr(modem.ReasonError, "cannot dial that address", err)
		}
		r, explain := modem.Classify(err)
		return nil, dialErr(r, explain, err)
	}
	modem.AnnounceTerm(line, d.term)
	// A login typed at the DTE (below) may take up to the prompts' time
	// (both lines together). The gateway's own handshake deadline
	// (security.handshake_deadline, 60 s by default) bounds it too: when
	// the gateway stops waiting and hangs up, the prompt ends (line.gone).
	prompter, canPrompt := modem.PrompterFrom(ctx)
	typed := (t.User == "" || t.Password == "") && canPrompt
	bound := d.timeout
	if typed {
		bound += modem.PromptTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	res, leftover, err := detectV42(hctx, line, lapm.Originator)
	if err != nil {
		if errors.Is(err, lapm.ErrNoDeadline) && t.Mode == modem.ModeAuto && !expectsV42(t, u.Host, d.knownHosts) {
			return modem.LineCall(line, modem.ConnectInfo{Rate: d.rate}), nil
		}
		line.Close()
		if errors.Is(err, errBusy) {
			// BUSY: every line in use, the hold-off after a call from
			// this address ([lines] holdoff), maintenance, shutdown.
			// The DTE hears the gateway's reason where it gave one.
			return nil, dialErr(modem.ReasonBusy, cmp.Or(busyReason(err), msgLineBusy), err)
		}
		if r := (*refusedError)(nil); errors.As(err, &r) {
			// The gateway's own words (and a hint for a TLS line
			// called in the clear) say it all.
			return nil, dialErr(modem.ReasonNoCarrier, r.Error(), nil)
		}
		return nil, dialErr(modem.ReasonNoCarrier, "V.42 detection failed", err)
	}
	if res != lapm.DetectLAPM {
		if t.Mode == modem.ModeV42 {
			line.Close()
			return nil, dialErr(modem.ReasonNoCarrier, "the host does not answer V.42", nil)
		}
		if why := whyV42(t, u.Host, d.knownHosts); why != "" {
			line.Close()
			return nil, dialErr(modem.ReasonNoCarrier, "the host answered without V.42, but "+why+": refusing a plain call", nil)
		}
		d.log.Info("modem: the host has no V.42: plain call", zap.String("address", t.Address))
		return modem.LineCall(withLeftover(line, leftover), modem.ConnectInfo{Rate: d.rate}), nil
	}
	if (t.User == "" || t.Password == "") && !typed {
		line.Close()
		return nil, dialErr(modem.ReasonNoCarrier, "the gateway wants a login: put user and password for it in the phonebook", nil)
	}
	watched := &watchedLine{Line: line, gone: make(chan struct{})}
	link, err := lapmOpen(hctx, watched, leftover, lapm.Originator)
	if err != nil {
		line.Close()
		return nil, dialErr(modem.ReasonNoCarrier, "LAPM did not come up", err)
	}
	hk := hostKeyCheck{host: u.Host, knownHosts: d.knownHosts, tofu: d.tofu, notice: logNotice{d.log}}
	cfg := auth.CallerConfig{
		UserID: t.User, Password: t.Password, HostName: u.Host,
		CheckHostKey: hk.check, WantCallback: d.answering,
	}
	if typed {
		// Asked only once the gateway has proved its key (pinned, or
		// recorded with --tofu), as ssh asks.
		cfg.UserID, cfg.Password = "", ""
		cfg.Credentials = typedLogin{p: prompter, user: t.User, gone: watched.gone}.ask
	}
	cr, err := auth.Call(hctx, link, cfg)
	if err != nil {
		// A login typed in time here, after the gateway had hung up
		// (its deadline passed, no REJECT): said as such. Asked before
		// our own Close ends the line.
		reason, rejected := auth.RejectReason(err)
		var de *modem.DialError
		gone := typed && !rejected && !errors.As(err, &de) && isClosed(watched.gone)
		link.Close()
		line.Close()
		if gone {
			return nil, dialErr(modem.ReasonNoCarrier, msgGatewayGone, err)
		}
		if rejected && reason == auth.ReasonCallbackUnavailable {
			if !d.answering {
				return nil, dialErr(modem.ReasonNoCarrier, "this account is called back: start the modem with --answer ADDR", err)
			}
			return nil, dialErr(modem.ReasonNoCarrier, "the gateway cannot place this account's callback now; try again later", err)
		}
		return nil, classifyAuth(err)
	}
	if cr.Callback {
		link.Close()
		line.Close()
		d.mu.Lock()
		if d.ticket != nil {
			d.ticket.Wipe()
		}
		d.ticket = cr.Ticket
		d.mu.Unlock()
		d.log.Info("modem: the gateway will call back", zap.Uint64("session", cr.SessionNumber))
		return newCallbackNotice(d.rate, cr.SessionNumber), nil
	}
	if err := lapmStart(hctx, link, cr.Transform); err != nil {
		link.Close()
		line.Close()
		return nil, dialErr(modem.ReasonNoCarrier, "the data phase did not start", err)
	}
	d.log.Info("modem: V.42 call with Access Security", zap.String("gateway", cr.GatewayName), zap.Uint64("session", cr.SessionNumber), zap.Stringer("cipher", cr.Cipher))
	return &v42Call{v42Link: link, line: line, rate: d.rate}, nil
}

// watchedLine is the line under a dial's LAPM link: gone is closed when
// a read from it fails, that is when the gateway hangs up (its handshake
// deadline passed) or the line drops. The link itself offers no way to
// watch for its end while nobody reads it, as during a typed login.
type watchedLine struct {
	transport.Line
	once sync.Once
	gone chan struct{}

	// keepHeard has Read keep the first octets read (heard), up to
	// busyline.MaxHeard+1: a gateway with no line for a call that skips
	// detection says BUSY in text and hangs up, which LAPM takes for
	// noise.
	keepHeard bool
	mu        sync.Mutex
	heard     []byte
}

func (w *watchedLine) Read(p []byte) (int, error) {
	n, err := w.Line.Read(p)
	if w.keepHeard && n > 0 {
		w.mu.Lock()
		if room := busyline.MaxHeard + 1 - len(w.heard); room > 0 {
			w.heard = append(w.heard, p[:min(n, room)]...)
		}
		w.mu.Unlock()
	}
	if err != nil {
		w.once.Do(func() { close(w.gone) })
	}
	return n, err
}

// busy reports whether the line ended after what a gateway says when it
// has no line for the call (busyline.Parse), and the reason it gave.
// Only with keepHeard.
func (w *watchedLine) busy() (why string, ok bool) {
	if !isClosed(w.gone) {
		return "", false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return busyline.Parse(w.heard)
}

// textHangup reports whether the line ended after a text hang-up, where
// LAPM frames were expected: nothing, or what a dialgate gateway's text
// login says when it hangs up ("NO CARRIER (login cancelled)", returned
// as words). Only with keepHeard.
func (w *watchedLine) textHangup() (words string, ok bool) {
	if !isClosed(w.gone) {
		return "", false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.heard) == 0 {
		return "", true
	}
	i := bytes.LastIndex(w.heard, []byte("NO CARRIER"))
	if i < 0 {
		return "", false
	}
	line, _, _ := bytes.Cut(w.heard[i:], []byte("\r"))
	if string(line) != textLoginCancelled {
		// Other words (a gateway shutting down, a caller held off)
		// are not a text login that took the frames for Ctrl-C
		// (review: they got the advice to call without LAPM).
		return "", false
	}
	return string(line), true
}

// textLoginCancelled is what a dialgate gateway's text login says when
// it takes a caller's LAPM frames for Ctrl-C (bridge's msgCancelled).
const textLoginCancelled = "NO CARRIER (login cancelled)"

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// errGatewayGone ends a typed login whose line failed.
var errGatewayGone = errors.New("the line failed while the login was typed")

// msgGatewayGone is shown before NO CARRIER when the gateway hung up on
// a login being typed.
const msgGatewayGone = "the gateway stopped waiting for the login"

// typedLogin asks the DTE's user for the Access Security login the
// phonebook does not hold: "login:" unless the dial string gave the user
// (user@host), then "Password:" without echo. The prompts end when the
// line fails (gone closed).
type typedLogin struct {
	p    modem.Prompter
	user string
	gone <-chan struct{}
}

func (l typedLogin) ask(ctx context.Context, gateway string) (string, []byte, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-l.gone:
			cancel(errGatewayGone)
		case <-ctx.Done():
		}
	}()
	user := l.user
	if user == "" {
		text := "\r\nlogin: "
		if gateway != "" {
			text = "\r\n" + gateway + " login: " // shown as printable ASCII
		}
		b, err := l.p.Prompt(ctx, text, true, auth.MaxUserIDLen)
		if err != nil {
			return "", nil, promptErr(ctx, err)
		}
		user = string(b)
		clear(b)
		if user == "" {
			return "", nil, dialErr(modem.ReasonNoCarrier, "no login typed", nil)
		}
	}
	// After the login prompt's line the cursor is at the start of a new
	// one; after the dial command's echo only its CR went out, and the
	// prompt would overprint the command.
	text := "Password: "
	if l.user != "" {
		text = "\r\nPassword: "
	}
	pw, err := l.p.Prompt(ctx, text, false, auth.MaxPasswordLen)
	if err != nil {
		return "", nil, promptErr(ctx, err)
	}
	return user, pw, nil // auth.Call zeroes pw
}

// promptErr explains a prompt that failed because the gateway hung up.
func promptErr(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errGatewayGone) {
		return dialErr(modem.ReasonNoCarrier, msgGatewayGone, fmt.Errorf("%w: %w", errGatewayGone, err))
	}
	return err
}

// callbackNotice is the first call of a V.42 callback as the DTE sees it:
// the call connected (CONNECT <rate>/LAPM), the gateway said it will call
// back, and hung up (NO CARRIER). A terminal script that waits for CONNECT
// therefore takes the call as made, not as failed, and does not redial
// over the coming RING. Reads deliver the notice then io.EOF; writes are
// discarded (the line is already down).
type callbackNotice struct {
	r    io.Reader
	rate int
}

func newCallbackNotice(rate int, session uint64) *callbackNotice {
	msg := fmt.Sprintf("\r\nsession %d: the gateway hung up and will call back\r\n", session)
	return &callbackNotice{r: strings.NewReader(msg), rate: rate}
}

func (c *callbackNotice) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *callbackNotice) Write(p []byte) (int, error) { return len(p), nil }
func (c *callbackNotice) Close() error                { return nil }
func (c *callbackNotice) Info() modem.ConnectInfo {
	return modem.ConnectInfo{Rate: c.rate, LAPM: true}
}

// The explanations before BUSY (X4, verbose): the gateway answered
// BUSY without a reason (an older gateway; a newer one's own line is
// shown instead), or it took the call and refused the login for now
// (REJECT busy: too many password checks at once, or the back-off after
// failed logins).
const (
	msgLineBusy  = "all lines busy, or redialed too soon; try again shortly"
	msgLoginBusy = "the gateway is busy with logins, or holds off after failed ones; try again later"
)

// classifyAuth maps an Access Security failure to a result code.
func classifyAuth(err error) error {
	if r, ok := auth.RejectReason(err); ok {
		switch r {
		case auth.ReasonBusy:
			return dialErr(modem.ReasonBusy, msgLoginBusy, err)
		case auth.ReasonDenied:
			return dialErr(modem.ReasonNoCarrier, "access denied", err)
		case auth.ReasonTimeout:
			return dialErr(modem.ReasonNoAnswer, "the gateway timed out", err)
		}
		return dialErr(modem.ReasonNoCarrier, "the gateway rejected the call", err)
	}
	var de *modem.DialError
	switch {
	case errors.As(err, &de):
		return de
	case errors.Is(err, modem.ErrPromptAborted):
		return dialErr(modem.ReasonNoCarrier, "login abandoned", err)
	case errors.Is(err, auth.ErrHostUnknown):
		explain := "unknown gateway host key: check it with the operator, then restart the modem with --tofu (or add it to the known-hosts file)"
		if fp := offeredKeyRE.FindString(err.Error()); fp != "" {
			explain = "unknown gateway host key " + fp + ": check it with the operator, then restart the modem with --tofu (or add it to the known-hosts file)"
		}
		return dialErr(modem.ReasonNoCarrier, explain, err)
	case errors.Is(err, auth.ErrHostKeyChanged):
		return dialErr(modem.ReasonNoCarrier, "the gateway's host key has CHANGED (see the modem's log); not logged in", err)
	case errors.Is(err, errHostKey), errors.Is(err, auth.ErrHostKeyRejected):
		return dialErr(modem.ReasonNoCarrier, "the gateway's host key is not trusted (known hosts)", err)
	case errors.Is(err, context.DeadlineExceeded):
		return dialErr(modem.ReasonNoAnswer, "Access Security timed out", err)
	}
	return dialErr(modem.ReasonNoCarrier, "Access Security failed", err)
}

// verify answers an incoming call. With a V.42 callback pending the call
// must prove the ticket (detection, LAPM, CALLBACK/ACCEPT); anything else is
// refused. Without one the call is answered plainly: a text-mode callback,
// where the gateway asks the user to confirm.
func (d *modemV42) verify(ctx context.Context, line transport.Line) (modem.Call, error) {
	d.mu.Lock()
	tk := d.ticket
	d.mu.Unlock()
	if tk == nil {
		return modem.AnswerPlain(line, modem.ConnectInfo{Rate: d.rate}), nil
	}
	if lapmOpen == nil || lapmStart == nil {
		return nil, errNoLAPM
	}
	hctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	res, leftover, err := lapm.Detect(hctx, line, lapm.Answerer)
	if err != nil {
		return nil, fmt.Errorf("modem: callback detection: %w", err)
	}
	if res != lapm.DetectLAPM {
		if opensTelnet(leftover) {
			// The gateway's callback to a telnet:// address, on a
			// tcp:// answer line: said to the DTE, which refused it.
			return nil, dialErr(modem.ReasonNoCarrier, "the call opened with telnet, not V.42: answer on a telnet:// address (--answer telnet://HOST:PORT)",
				errors.New("modem: the incoming call has no V.42, a callback is expected"))
		}
		return nil, errors.New("modem: the incoming call has no V.42, a callback is expected")
	}
	link, err := lapmOpen(hctx, line, leftover, lapm.Answerer)
	if err != nil {
		return nil, fmt.Errorf("modem: callback LAPM: %w", err)
	}
	first, err := link.AcceptXID(hctx)
	if err != nil {
		link.Close()
		return nil, fmt.Errorf("modem: waiting for CALLBACK: %w", err)
	}
	tr, err := auth.AcceptCallback(hctx, link, first, tk)
	if err != nil {
		link.Close()
		return nil, err
	}
	if err := lapmStart(hctx, link, tr); err != nil {
		link.Close()
		return nil, fmt.Errorf("modem: callback data phase: %w", err)
	}
	d.mu.Lock()
	if d.ticket == tk {
		d.ticket = nil
	}
	d.mu.Unlock()
	d.log.Info("modem: V.42 callback answered", zap.Uint64("session", tk.Session()))
	return &v42Call{v42Link: link, line: line, rate: d.rate}, nil
}

// expectsV42 reports whether a dial to host must not fall back to a plain
// call when the host answers without V.42: its key is pinned in the
// known-hosts file, or the phonebook entry has an Access Security login
// for it. Such a plain answer may come from someone on the path, and the
// retro machine's user would type the password at its prompt.
func expectsV42(t modem.Target, host, knownHosts string) bool {
	return whyV42(t, host, knownHosts) != ""
}

// whyV42 says why expectsV42 holds, for the DTE ("" when it does not).
// Each cause in its own words (modem trial: a user in the dial string
// was told its key was known or the phonebook had a login).
func whyV42(t modem.Target, host, knownHosts string) string {
	switch {
	case (hostKeyCheck{host: host, knownHosts: knownHosts}).pinned():
		return "its host key is known (" + knownHosts + ")"
	case t.Name != "" && (t.User != "" || t.Password != ""):
		return "the phonebook has a login for it"
	case t.User != "":
		return "a user was dialed for it (" + t.User + "@...: only a V.42 call logs in so; dial the address alone for a plain call)"
	}
	return ""
}
