package modem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestLineEditor: typed characters, BS and DEL erasing, the bound, CR,
// Ctrl-C, no echo for a password.
func TestLineEditor(t *testing.T) {
	run := func(echo bool, in string) (string, string, editResult) {
		e := lineEditor{echo: echo}
		var out []byte
		r := editMore
		for i := 0; i < len(in) && r == editMore; i++ {
			var o []byte
			o, r = e.feed(in[i])
			out = append(out, o...)
		}
		return string(e.buf), string(out), r
	}
	for _, c := range []struct {
		echo      bool
		in        string
		line, out string
		res       editResult
	}{
		{true, "bob\r", "bob", "bob\r\n", editDone},
		{true, "bp\bob\r", "bob", "bp\b \bob\r\n", editDone},
		{true, "\b\x7fa\x7f\r", "", "a\b \b\r\n", editDone},
		{false, "secret\b!\r", "secre!", "\r\n", editDone},
		{true, "x\x03", "x", "x^C\r\n", editAbort},
		{true, "\n\x01a\r", "a", "\aa\r\n", editDone},
		// Backspace takes a UTF-8 character whole (charset trial).
		{false, "p\xc3\xa9\x7f1\r", "p1", "\r\n", editDone},
	} {
		line, out, res := run(c.echo, c.in)
		if line != c.line || out != c.out || res != c.res {
			t.Errorf("%q (echo %v): line %q echo %q result %v; want %q %q %v", c.in, c.echo, line, out, res, c.line, c.out, c.res)
		}
	}
	long := make([]byte, maxPromptLine+5)
	for i := range long {
		long[i] = 'a'
	}
	line, _, _ := run(false, string(long)+"\r")
	if len(line) != maxPromptLine {
		t.Errorf("bound: %d octets kept", len(line))
	}
	if !isHangup([]byte("ath")) || !isHangup([]byte("AT H0")) || isHangup([]byte("athena")) {
		t.Error("isHangup")
	}
}

// TestRunPromptDuringDial: a Dialer asks for a login through the dial's
// Prompter: the DTE's typing answers it (what is typed between two
// prompts is kept for the second, not taken for a key that abandons the
// dial), the password is not echoed, and ATH or Ctrl-C typed at a prompt
// abandons the dial with NO CARRIER.
func TestRunPromptDuringDial(t *testing.T) {
	testutil.CheckGoroutines(t)
	type login struct{ user, pw string }
	logins := make(chan login, 1)
	dialer := DialerFunc(func(ctx context.Context, tg Target) (Call, error) {
		p, ok := PrompterFrom(ctx)
		if !ok {
			return nil, errors.New("no prompter")
		}
		u, err := p.Prompt(ctx, "login: ", true, 0)
		if err != nil {
			return nil, err
		}
		pw, err := p.Prompt(ctx, "Password: ", false, 0)
		if err != nil {
			return nil, err
		}
		logins <- login{string(u), string(pw)}
		a, b := net.Pipe()
		go func() { b.Write([]byte("welcome")); b.Close() }()
		return pipeCall{Conn: a, info: ConnectInfo{Rate: 2400, LAPM: true}}, nil
	})
	h := startModem(t, Options{Dialer: dialer})
	h.cmd(t, "ATE0X4", "OK\r\n")
	h.send(t, "ATDTgw\r")
	h.exp.expect(t, "login: ")
	h.send(t, "bob\rsecret\r") // typed ahead of the second prompt
	h.exp.expect(t, "bob\r\nPassword: \r\n")
	if l := <-logins; l != (login{"bob", "secret"}) {
		t.Fatalf("login %+v", l)
	}
	h.exp.expect(t, "CONNECT 2400/LAPM\r\n")
	h.exp.expect(t, "welcome")
	h.exp.expect(t, "NO CARRIER\r\n")

	h.send(t, "ATDTgw\r")
	h.exp.expect(t, "login: ")
	h.send(t, "ATH\r")
	h.exp.expect(t, "ATH\r\n\r\nNO CARRIER\r\n")
	h.cmd(t, "AT", "OK\r\n")

	h.send(t, "ATDTgw\r")
	h.exp.expect(t, "login: ")
	h.send(t, "bob\r")
	h.exp.expect(t, "Password: ")
	h.send(t, "sec\x03")
	h.exp.expect(t, "^C\r\n\r\nNO CARRIER\r\n")
	h.cmd(t, "AT", "OK\r\n")
}

// TestPromptNotShownAfterHangUp: a prompt asked for on a context that has
// ended (the gateway hung up while the previous line was typed) is not
// shown: the DTE gets the failure, not a "Password: " for a dead call.
func TestPromptNotShownAfterHangUp(t *testing.T) {
	testutil.CheckGoroutines(t)
	dialer := DialerFunc(func(ctx context.Context, tg Target) (Call, error) {
		p, _ := PrompterFrom(ctx)
		if _, err := p.Prompt(ctx, "login: ", true, 0); err != nil {
			return nil, err
		}
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := p.Prompt(gone, "Password: ", false, 0); !errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("prompt on an ended context: %v", err)
		}
		return nil, errors.New("the gateway stopped waiting for the login")
	})
	h := startModem(t, Options{Dialer: dialer})
	h.cmd(t, "ATE0X4", "OK\r\n")
	h.send(t, "ATDTgw\r")
	h.exp.expect(t, "login: ")
	h.send(t, "bob\r")
	if out := h.exp.expect(t, "NO CARRIER\r\n"); strings.Contains(out, "Password") {
		t.Errorf("a prompt was shown after the call ended: %q", out)
	}
	h.cmd(t, "AT", "OK\r\n")
}

// TestPromptKeystrokesWiped: the loop wipes the keystrokes it was handed
// once the prompt has taken them (a password's).
func TestPromptKeystrokesWiped(t *testing.T) {
	m := &modem{ip: NewInterp(Config{}), now: time.Now, ctx: t.Context(), dteOut: make(chan dteChunk, 8)}
	m.prompt = &prompting{gen: 1, req: &promptReq{gen: 1, reply: make(chan promptReply, 1)}}
	data := []byte("secret")
	if err := m.handle(event{kind: evDTE, data: data}); err != nil {
		t.Fatal(err)
	}
	if string(data) != string(make([]byte, len(data))) {
		t.Errorf("the keystrokes stay: %q", data)
	}
	m.prompt.ed.wipe()
}
