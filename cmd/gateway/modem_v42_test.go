//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/callbackd"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/lapm"
	"github.com/dialgate/dialgate/modem"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/tcp"
)

// TestModemV42 dials through `gateway modem` on its pty with the full
// caller path: V.42 detection, LAPM (gateway dial's stand-in link until
// package lapm's Link is plugged in) and Access Security with the
// phonebook's credentials; then a wrong password, a busy gateway, a
// telnet BBS without V.42 in auto mode (plain call after detection), and
// the same BBS refused once the entry has a login or the host a known key.
func TestModemV42(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	g := newV42Gateway(t)
	g.verify = func(user, pw string) (auth.User, error) {
		if user == "alice" && pw == "s3cret-Phrase" {
			return auth.User{ID: user}, nil
		}
		return auth.User{}, auth.ErrDenied
	}
	gw := fakeGateway(t, true, g.handle)
	busy := newV42Gateway(t)
	busy.verify = func(string, string) (auth.User, error) { return auth.User{}, auth.ErrBusy }
	busyAddr := fakeGateway(t, true, busy.handle)
	// A gateway with every line in use says BUSY and hangs up before V.42
	// detection.
	lineBusyAddr := fakeGateway(t, true, func(t *testing.T, line *tcp.Line) { line.Write([]byte("BUSY\r\n")) })
	bbs := startBBS(t)

	dir := t.TempDir()
	book := filepath.Join(dir, "phonebook.toml")
	text := fmt.Sprintf(`[[entry]]
name = "gw"
address = %q
user = "alice"
password = "s3cret-Phrase"

[[entry]]
name = "gwbad"
address = %q
user = "alice"
password = "Wr0ng-Passw0rd"

[[entry]]
name = "busy"
address = %q
user = "alice"
password = "right"
mode = "v42"

[[entry]]
name = "linebusy"
address = %q
user = "alice"
password = "right"

[[entry]]
name = "bbs"
address = %q

[[entry]]
name = "bbslogin"
address = %q
user = "alice"
password = "s3cret-Phrase"
`, gw, gw, busyAddr, lineBusyAddr, bbs.addr(), bbs.addr())
	if err := os.WriteFile(book, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book, tofu: true, knownHosts: filepath.Join(dir, "known_hosts"), timeout: 10 * time.Second})
	dte, exp := openDTE(t, m.link)
	defer dte.Close()
	send(t, dte, "ATE0S12=10\r")
	exp.expect(t, "OK\r\n")

	send(t, dte, "ATDTgw\r")
	exp.expect(t, "\r\nCONNECT 115200/LAPM\r\n")
	send(t, dte, "sealed both ways")
	exp.expect(t, "sealed both ways")
	time.Sleep(400 * time.Millisecond)
	send(t, dte, "+++")
	exp.expect(t, "\r\nOK\r\n")
	send(t, dte, "ATH\r")
	exp.expect(t, "NO CARRIER\r\n\r\nOK\r\n")
	if b, err := os.ReadFile(filepath.Join(dir, "known_hosts")); err != nil || len(b) == 0 {
		t.Fatalf("trust on first use did not record the key: %v", err)
	}

	send(t, dte, "ATDTgwbad\r")
	exp.expect(t, "access denied\r\n\r\nNO CARRIER\r\n")

	send(t, dte, "ATDTbusy\r")
	exp.expect(t, "the gateway is busy with logins, or holds off after failed ones; try again later\r\n\r\nBUSY\r\n")

	send(t, dte, "ATDTlinebusy\r")
	exp.expect(t, "all lines busy, or redialed too soon; try again shortly\r\n\r\nBUSY\r\n")

	send(t, dte, "ATDTbbs\r")
	exp.expect(t, "\r\nCONNECT 115200\r\n")
	exp.expect(t, "Welcome to the test BBS\r\n")
	send(t, dte, "plain data")
	exp.expect(t, "plain data")
	time.Sleep(400 * time.Millisecond)
	send(t, dte, "+++")
	exp.expect(t, "\r\nOK\r\n")
	send(t, dte, "ATH\r")
	exp.expect(t, "NO CARRIER\r\n\r\nOK\r\n")

	// No plain call where the entry has an Access Security login for
	// the host, or where the host's key is known: the answer without
	// V.42 may come from someone on the path.
	send(t, dte, "ATDTbbslogin\r")
	exp.expect(t, "the phonebook has a login for it: refusing a plain call\r\n\r\nNO CARRIER\r\n")
	// A user dialed for it, no phonebook login: said so (modem trial:
	// told its key was known or the phonebook had a login).
	send(t, dte, "ATDTzed@"+bbs.addr()+"\r")
	exp.expect(t, "a user was dialed for it (zed@...: only a V.42 call logs in so; dial the address alone for a plain call): refusing a plain call\r\n\r\nNO CARRIER\r\n")
	kh, err := auth.LoadKnownHosts(filepath.Join(dir, "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := kh.Pin(bbs.addr(), auth.Fingerprint(make([]byte, 32))); err != nil {
		t.Fatal(err)
	}
	send(t, dte, "ATDTbbs\r")
	exp.expect(t, "its host key is known (")
	exp.expect(t, "): refusing a plain call\r\n\r\nNO CARRIER\r\n")

	// Passwords never reach the log.
	logged := m.log.String()
	for _, pw := range []string{"s3cret-Phrase", "Wr0ng-Passw0rd"} {
		if strings.Contains(logged, pw) {
			t.Errorf("the log shows a password: %s", logged)
		}
	}
	if !strings.Contains(logged, "V.42 call with Access Security") {
		t.Errorf("log without the V.42 call: %s", logged)
	}
}

// TestModemV42Callback: the gateway confirms with a callback and hangs up;
// an impostor calls the modem's answer address first and is refused after
// RING; callbackd's V.42 placer then calls, the modem (S0=1) answers,
// proves the ticket and the sealed session runs.
func TestModemV42Callback(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	dir := t.TempDir()
	g := newV42Gateway(t)
	answerAddr := make(chan string, 1)
	g.verify = func(user, pw string) (auth.User, error) {
		a := <-answerAddr
		answerAddr <- a
		return auth.User{ID: user, Callback: a}, nil
	}
	placer := testPlacer()
	proceed := make(chan struct{}) // the DTE saw the first call end
	g.callback = func(t *testing.T, tk *auth.Ticket) {
		ctx := t.Context()
		select {
		case <-proceed:
		case <-ctx.Done():
			return
		}
		answer := <-answerAddr
		answerAddr <- answer
		if imp, err := transport.Dial(ctx, answer); err == nil {
			if res, left, err := lapm.Detect(ctx, imp, lapm.Originator); err == nil && res == lapm.DetectLAPM {
				l := newTestLink(imp, left)
				resp, err := l.ExchangeXID(ctx, []byte{1, 5, 0xde, 0xad})
				if err == nil && (len(resp) < 2 || resp[1] != byte(auth.TypeReject)) {
					t.Errorf("the modem answered an impostor's CALLBACK with %x, not REJECT", resp)
				}
			}
			imp.Close()
		}
		// The modem may still be busy with the impostor's call (it refuses
		// calls while answering): retry as callbackd does.
		var conn io.ReadWriteCloser
		for attempt := 0; conn == nil; attempt++ {
			line, err := transport.Dial(ctx, answer)
			if err != nil {
				t.Errorf("calling back: %v", err)
				return
			}
			conn, err = placer.Place(ctx, line, callbackd.Job{Session: tk.Session, User: tk.User.ID, Address: answer, Mode: callbackd.ModeV42, Ticket: tk})
			if err != nil {
				line.Close()
				if attempt == 20 {
					t.Errorf("placing the callback: %v", err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		io.Copy(conn, conn)
		conn.Close()
	}
	gw := fakeGateway(t, true, g.handle)
	book := filepath.Join(dir, "phonebook.toml")
	if err := os.WriteFile(book, []byte(fmt.Sprintf("[[entry]]\nname = \"gw\"\naddress = %q\nuser = \"bob\"\npassword = \"pw\"\n", gw)), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startModemCmd(t, modemFlags{phonebook: book, tofu: true, knownHosts: filepath.Join(dir, "known_hosts"),
		timeout: 10 * time.Second, answer: "telnet://127.0.0.1:0"})
	answerAddr <- m.answer
	dte, exp := openDTE(t, m.link)
	defer dte.Close()
	send(t, dte, "ATE0S0=1\r")
	exp.expect(t, "OK\r\n")
	send(t, dte, "ATDTgw\r")
	// The first call connects, says it will call back, and hangs up.
	exp.expect(t, "\r\nCONNECT 115200/LAPM\r\n")
	exp.expect(t, "session 1200: the gateway hung up and will call back\r\n")
	exp.expect(t, "\r\nNO CARRIER\r\n")
	close(proceed)
	exp.expect(t, "RING\r\n")
	exp.expect(t, "not the expected callback; call refused\r\n\r\nNO CARRIER\r\n")
	exp.expect(t, "RING\r\n")
	exp.expect(t, "\r\nCONNECT 115200/LAPM\r\n")
	send(t, dte, "on the callback")
	exp.expect(t, "on the callback")
}

// TestModemV42LongUser: a user named in the dial string beyond Access
// Security's limit is refused before the call, saying why (it used to
// end as "Access Security failed").
func TestModemV42LongUser(t *testing.T) {
	withTestLAPM(t)
	d := newModemV42(modemFlags{baud: 2400}, zap.NewNop())
	_, err := d.Dial(t.Context(), modem.Target{Address: "telnet://127.0.0.1:1", Mode: modem.ModeV42, User: strings.Repeat("u", auth.MaxUserIDLen+1)})
	var de *modem.DialError
	if !errors.As(err, &de) || de.Explain != "the login is longer than 64 characters" {
		t.Fatalf("Dial: %v", err)
	}
}

// recordingPrompter answers each prompt with a fixed line and notes the
// length bound it was given.
type recordingPrompter struct{ maxes []int }

func (p *recordingPrompter) Prompt(_ context.Context, _ string, _ bool, max int) ([]byte, error) {
	p.maxes = append(p.maxes, max)
	return []byte("x"), nil
}

// TestTypedLoginBounds: the typed login is bounded as the gateway bounds
// it, the user ID at auth.MaxUserIDLen and the password at
// auth.MaxPasswordLen (not the line editor's default).
func TestTypedLoginBounds(t *testing.T) {
	p := &recordingPrompter{}
	if _, pw, err := (typedLogin{p: p}).ask(t.Context(), "gw"); err != nil {
		t.Fatal(err)
	} else {
		clear(pw)
	}
	if want := []int{auth.MaxUserIDLen, auth.MaxPasswordLen}; !slices.Equal(p.maxes, want) {
		t.Errorf("prompt bounds %v, want %v", p.maxes, want)
	}
}

// TestModemPlainSettingKeepsLogins: AT\N0 (plain calls for what is
// dialed by address) does not make a plain call for a user dialed, or to
// a host whose key is pinned: that would send the login in clear to a
// gateway it cannot prove (review). A phonebook entry's own "plain"
// still dials plainly.
func TestModemPlainSettingKeepsLogins(t *testing.T) {
	d := &modemV42{knownHosts: filepath.Join(t.TempDir(), "known_hosts"), timeout: time.Second}
	_, err := d.Dial(t.Context(), modem.Target{Dial: "alice@127.0.0.1:1", Address: "telnet://127.0.0.1:1", User: "alice", Mode: modem.ModePlain})
	var de *modem.DialError
	if !errors.As(err, &de) || de.Reason != modem.ReasonNoCarrier || !strings.Contains(de.Explain, `AT\N0 asks for a plain call, but a user was dialed`) {
		t.Errorf("AT\\N0 with a user: %v", err)
	}
	_, err = d.Dial(t.Context(), modem.Target{Dial: "bbs", Name: "bbs", Address: "telnet://127.0.0.1:1", Mode: modem.ModePlain})
	if errors.As(err, &de) && strings.Contains(de.Explain, "asks for a plain call") {
		t.Errorf("a plain phonebook entry: %v", err)
	}
}

// TestModemCallbackUnavailableExplained: a modem without --answer that
// calls an account with a callback address is told to start with
// --answer (callback trial: it said "the gateway cannot call back", as
// if the gateway were at fault); one with --answer whose callback the
// gateway cannot place now is told that.
func TestModemCallbackUnavailableExplained(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	for _, c := range []struct {
		name   string
		answer string
		full   bool // the gateway cannot schedule the callback
		want   string
	}{
		{"without --answer", "", false, "start the modem with --answer"},
		{"with --answer", "telnet://127.0.0.1:1", true, "the gateway cannot place this account's callback now"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, _ := newV42CallbackGateway(t)
			if c.full {
				g.schedule = func(*auth.Ticket) error { return errors.New("too many pending callbacks") }
			}
			gw := fakeGateway(t, true, g.handle)
			d := newModemV42(modemFlags{baud: 2400, tofu: true, knownHosts: filepath.Join(t.TempDir(), "known_hosts"), timeout: 10 * time.Second, answer: c.answer}, zap.NewNop())
			_, err := d.Dial(t.Context(), modem.Target{Address: gw, Mode: modem.ModeV42, User: "bob", Password: "pw"})
			var de *modem.DialError
			if !errors.As(err, &de) || de.Reason != modem.ReasonNoCarrier || !strings.Contains(de.Explain, c.want) {
				t.Fatalf("Dial: %v, want NO CARRIER explained %q", err, c.want)
			}
		})
	}
}

// TestModemCallbackTelnetOnTCPAnswer: with a V.42 callback pending, an
// incoming call on a tcp:// answer line that opens with telnet
// negotiation (the gateway's callback to a telnet:// address) is refused
// telling the DTE to answer on a telnet:// address, not only "not the
// expected callback".
func TestModemCallbackTelnetOnTCPAnswer(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	g, _ := newV42CallbackGateway(t)
	gw := fakeGateway(t, true, g.handle)
	d := newModemV42(modemFlags{baud: 2400, tofu: true, knownHosts: filepath.Join(t.TempDir(), "known_hosts"), timeout: 10 * time.Second, answer: "tcp://127.0.0.1:0"}, zap.NewNop())
	if _, err := d.Dial(t.Context(), modem.Target{Address: gw, Mode: modem.ModeV42, User: "bob", Password: "pw"}); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	ln, err := transport.Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialled := make(chan transport.Line, 1)
	go func() {
		line, err := callbackd.DialLine(t.Context(), withScheme(ln.Addr(), "telnet"))
		if err != nil {
			t.Errorf("calling: %v", err)
			ln.Close() // ends the Accept below
		}
		dialled <- line
	}()
	line, err := ln.Accept(t.Context())
	caller := <-dialled
	if err != nil || caller == nil {
		t.Fatalf("accept: %v", err)
	}
	defer line.Close()
	defer caller.Close()
	// The caller's side sends its detection pattern after the
	// negotiation, as callbackd does.
	go lapm.Detect(t.Context(), caller, lapm.Originator)
	_, err = d.verify(t.Context(), line)
	var de *modem.DialError
	if !errors.As(err, &de) || de.Reason != modem.ReasonNoCarrier || !strings.Contains(de.Explain, "answer on a telnet:// address") {
		t.Fatalf("verify: %v, want NO CARRIER explained to answer on a telnet:// address", err)
	}
}
