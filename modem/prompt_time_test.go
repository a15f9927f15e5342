package modem

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// loginDialer prompts for a login, then (unless pwPrompt is false) for a
// password, reports how the prompts ended on results, waits after, and
// connects.
func loginDialer(pwPrompt bool, after time.Duration, results chan<- error) Dialer {
	return DialerFunc(func(ctx context.Context, tg Target) (Call, error) {
		p, _ := PrompterFrom(ctx)
		u, err := p.Prompt(ctx, "login: ", true, 0)
		if err == nil {
			clear(u)
			if pwPrompt {
				var pw []byte
				pw, err = p.Prompt(ctx, "Password: ", false, 0)
				clear(pw)
			}
		}
		results <- err
		if err != nil {
			return nil, err
		}
		time.Sleep(after)
		a, b := net.Pipe()
		go func() { b.Write([]byte("welcome")); b.Close() }()
		return pipeCall{Conn: a, info: ConnectInfo{Rate: 2400, LAPM: true}}, nil
	})
}

// TestPromptTimeoutBoundsBothLines: the prompts of one dial wait
// PromptTimeout together: a login typed after 30 s leaves the password
// 15 s, and the dial is abandoned with NO CARRIER when they are up.
func TestPromptTimeoutBoundsBothLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		results := make(chan error, 2)
		h := startModem(t, Options{Dialer: loginDialer(true, 0, results)})
		h.cmd(t, "ATE0X4", "OK\r\n")
		h.send(t, "ATDTgw\r")
		h.exp.expect(t, "login: ")
		start := time.Now()
		time.Sleep(30 * time.Second)
		h.send(t, "bob\r")
		h.exp.expect(t, "Password: ")
		time.Sleep(PromptTimeout - time.Since(start) - time.Millisecond)
		synctest.Wait()
		select {
		case err := <-results:
			t.Fatalf("the prompt ended after %v: %v", time.Since(start), err)
		default:
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		select {
		case err := <-results:
			if !errors.Is(err, ErrPromptAborted) {
				t.Fatalf("the prompt failed with %v, want ErrPromptAborted", err)
			}
		default:
			t.Fatalf("the prompt still waits after %v", time.Since(start))
		}
		h.exp.expect(t, "the login was not typed in time\r\n\r\nNO CARRIER\r\n")
		h.cmd(t, "AT", "OK\r\n")
	})
}

// TestPromptPausesS7: S7 does not run while the user types, and starts
// again once the line is typed: with S7=5 a login typed after 20 s, and a
// call up 3 s later, connects.
func TestPromptPausesS7(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		results := make(chan error, 1)
		h := startModem(t, Options{Dialer: loginDialer(false, 3*time.Second, results)})
		h.cmd(t, "ATE0X4S7=5", "OK\r\n")
		h.send(t, "ATDTgw\r")
		h.exp.expect(t, "login: ")
		time.Sleep(20 * time.Second)
		h.send(t, "bob\r")
		if err := <-results; err != nil {
			t.Fatalf("the prompt failed: %v", err)
		}
		h.exp.expect(t, "bob\r\n")
		got := h.exp.expect(t, "CONNECT 2400/LAPM\r\n")
		if len(got) > len("CONNECT 2400/LAPM\r\n")+4 {
			t.Errorf("before CONNECT: %q", got)
		}
		h.exp.expect(t, "welcome")
		h.exp.expect(t, "NO CARRIER\r\n")
	})
}

// TestPromptShowsPrintableASCII: the prompt's text reaches the DTE as
// printable ASCII (a gateway's name cannot send control codes, C1 in
// UTF-8 included); a line is bounded by the Prompt call; at a hidden
// prompt "ath" is a password, not a hang-up.
func TestPromptShowsPrintableASCII(t *testing.T) {
	type login struct{ user, pw string }
	logins := make(chan login, 1)
	dialer := DialerFunc(func(ctx context.Context, tg Target) (Call, error) {
		p, _ := PrompterFrom(ctx)
		u, err := p.Prompt(ctx, "\r\n\u00db2J\u00db1m\x1b[5mEVIL\x07 login: ", true, 3)
		if err != nil {
			return nil, err
		}
		pw, err := p.Prompt(ctx, "Password: ", false, 0)
		if err != nil {
			return nil, err
		}
		logins <- login{string(u), string(pw)}
		a, b := net.Pipe()
		go func() { b.Close() }()
		return pipeCall{Conn: a, info: ConnectInfo{Rate: 2400, LAPM: true}}, nil
	})
	h := startModem(t, Options{Dialer: dialer})
	h.cmd(t, "ATE0X4", "OK\r\n")
	h.send(t, "ATDTgw\r")
	h.exp.expect(t, "\r\n?2J?1m?[5mEVIL? login: ") // one ? per character (Û is two octets)
	h.send(t, "bobby\r")
	h.exp.expect(t, "bob\a\a\r\nPassword: ")
	h.send(t, "a t h\r")
	h.exp.expect(t, "CONNECT 2400/LAPM\r\n")
	if l := <-logins; l != (login{"bob", "a t h"}) {
		t.Fatalf("login %+v", l)
	}
}

// TestPromptWaitEndsWithRun: a Prompt whose request is still queued when
// Run ends (nobody will answer it) leaves no goroutine behind once its
// context has ended.
func TestPromptWaitEndsWithRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mctx, mcancel := context.WithCancel(t.Context())
		m := &modem{ctx: mctx, events: make(chan event, 1)}
		ctx, cancel := context.WithCancel(mctx)
		cancel()
		if _, err := (dialPrompter{m: m, gen: 1}).Prompt(ctx, "login: ", true, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("Prompt: %v", err)
		}
		mcancel() // Run ends with the request queued
		synctest.Wait()
		// synctest.Test fails if the goroutine waiting for the answer
		// is still there.
	})
}
