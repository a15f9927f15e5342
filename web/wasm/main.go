//go:build js && wasm

// Command wasm is the browser terminal's V.42 caller, built with
// GOOS=js GOARCH=wasm into web/static/dialgate.wasm (web/ui/build.mjs). It
// runs web/v42caller (LAPM, Access Security, sealed data phase) over the
// page's WebSocket and exposes one function to the page's script:
//
//	const h = dialgateV42.call({
//	  user, host,                     // host: the gateway's host:port (known-hosts name)
//	  password,                       // Uint8Array (UTF-8); copied, and the property deleted from the object
//	                                  // (the caller zeroes the array; the copy is zeroed after the handshake)
//	  detect,                         // run V.42 detection first (else LAPM at once)
//	  send(bytes),                    // write octets to the WebSocket
//	  hangUp(),                       // close the WebSocket (the link hung up)
//	  checkHostKey(host, fingerprint),// '' accepts the key; any other string refuses it (before the password is sent)
//	  onReady({session, gateway, fingerprint}),
//	  onData(bytes),                  // session octets for the terminal
//	  onWritable(),                   // write takes input again (optional)
//	  onStall({stalled, silent, left}), // the gateway stopped answering the link (silent: s since it
//	                                  // last answered), or answers again (optional; v42caller.WatchStall)
//	  onEnd({state, detail, unconfirmed}), // state: denied, busy, hostkey, nov42, callback, hungup, error;
//	                                  // unconfirmed: octets write took that the gateway's link never acknowledged
//	});
//	h.feed(bytes); h.peerHungUp(); h.close();
//	h.write(bytes)  // true: taken (or the call is over); false: not now (the session is
//	                // not up yet, or queueLen writes wait for the link): offer it again later
//	h.sendBreak()   // a break to the gateway (UI BRK, V.42 §8.13), once the session is up
package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/web/v42caller"
)

// setupTimeout bounds detection, LAPM set-up and Access Security.
const setupTimeout = 60 * time.Second

// queueLen bounds the writes (each at most one piece of the page's
// outbox, 32 KiB) waiting for the link; more wait in the page, which
// offers them again (see write).
const queueLen = 16

// errHostKey marks a host key the page refused.
var errHostKey = errors.New("host key refused")

func main() {
	js.Global().Set("dialgateV42", js.ValueOf(map[string]any{
		"call": js.FuncOf(call),
	}))
	select {} // keep the functions alive for the page's lifetime
}

func bytesFromJS(v js.Value) []byte {
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}

func bytesToJS(b []byte) js.Value {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

func call(_ js.Value, args []js.Value) any {
	if len(args) != 1 || args[0].Type() != js.TypeObject {
		return js.ValueOf("dialgateV42.call: want one options object")
	}
	o := args[0]
	send, onData, onEnd, onReady, check := o.Get("send"), o.Get("onData"), o.Get("onEnd"), o.Get("onReady"), o.Get("checkHostKey")
	host := o.Get("host").String()
	var password []byte
	if pw := o.Get("password"); pw.InstanceOf(js.Global().Get("Uint8Array")) {
		password = bytesFromJS(pw)
	}
	o.Delete("password")
	onWritable := o.Get("onWritable")
	onStall := o.Get("onStall")
	cfg := v42caller.Config{
		UserID: o.Get("user").String(), Password: password, Host: host,
		SkipDetection: !o.Get("detect").Truthy(),
		CheckHostKey: func(pub []byte) error {
			if msg := check.Invoke(host, auth.Fingerprint(pub)).String(); msg != "" {
				return errors.Join(errHostKey, errors.New(msg))
			}
			return nil
		},
	}
	hangUp := o.Get("hangUp")
	line := v42caller.NewLine(func(p []byte) error {
		send.Invoke(bytesToJS(p))
		return nil
	}, func() {
		if hangUp.Type() == js.TypeFunction {
			hangUp.Invoke()
		}
	}, transport.LineInfo{Transport: "ws"})

	writes := make(chan []byte, queueLen)
	ended := make(chan struct{})
	var sess *v42caller.Session
	ready := make(chan struct{})
	// taken counts the octets write took in the session. What of it the
	// gateway's link never acknowledged when the call ends (queued here,
	// in the link, or in flight) may not have reached it, and the page
	// says so rather than lose it silently (browser trial).
	var taken atomic.Int64

	end := func(state, detail string, unconfirmed int64) {
		select {
		case <-ended:
			return
		default:
		}
		close(ended)
		onEnd.Invoke(js.ValueOf(map[string]any{"state": state, "detail": detail, "unconfirmed": float64(max(unconfirmed, 0))}))
	}

	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		s, err := v42caller.Call(ctx, line, cfg) // zeroes cfg.Password
		cancel()
		if err != nil {
			state, detail := classify(err)
			end(state, detail, 0)
			return
		}
		sess = s
		close(ready)
		onReady.Invoke(js.ValueOf(map[string]any{
			"session": float64(s.SessionNumber), "gateway": s.GatewayName, "fingerprint": auth.Fingerprint(s.HostKey),
		}))
		if onWritable.Type() == js.TypeFunction {
			onWritable.Invoke() // input typed during the handshake waits in the page
		}
		if onStall.Type() == js.TypeFunction {
			go v42caller.WatchStall(s.Link, ended, func(st v42caller.Stall) {
				onStall.Invoke(js.ValueOf(map[string]any{
					"stalled": st.Stalled, "silent": st.Silent.Seconds(), "left": st.Left.Seconds(),
				}))
			})
		}
		go func() {
			for {
				select {
				case p := <-writes:
					if _, err := s.Link.Write(p); err != nil {
						return
					}
				case <-ended:
					return
				}
			}
		}()
		buf := make([]byte, 4096)
		for {
			n, err := s.Link.Read(buf)
			if n > 0 {
				onData.Invoke(bytesToJS(buf[:n]))
			}
			if err != nil {
				s.Link.Close()
				end("hungup", v42caller.EndDetail(err), taken.Load()-s.Link.Delivered())
				return
			}
		}
	}()

	handle := map[string]any{
		"feed": js.FuncOf(func(_ js.Value, a []js.Value) any {
			if len(a) == 1 {
				_ = line.Feed(bytesFromJS(a[0]))
			}
			return nil
		}),
		"peerHungUp": js.FuncOf(func(js.Value, []js.Value) any {
			line.PeerHungUp()
			return nil
		}),
		"write": js.FuncOf(func(_ js.Value, a []js.Value) any {
			if len(a) != 1 {
				return true
			}
			select {
			case <-ended:
				return true // the call is over: nothing to type into
			case <-ready:
			default:
				return false // the session is not up yet: the page keeps the input
			}
			select {
			case writes <- bytesFromJS(a[0]):
				taken.Add(int64(a[0].Get("length").Int()))
				return true
			default: // the link is behind: the page keeps the input and offers it again
				return false
			}
		}),
		"sendBreak": js.FuncOf(func(js.Value, []js.Value) any {
			select {
			case <-ready:
				go func() { _ = sess.Link.Break() }()
			default:
			}
			return nil
		}),
		"close": js.FuncOf(func(js.Value, []js.Value) any {
			go func() {
				select {
				case <-ready:
					sess.Link.Close()
				default:
					line.Close()
				}
			}()
			return nil
		}),
	}
	return js.ValueOf(handle)
}

// callbackWords is the status of a call to an account the gateway calls
// back. The page takes no callbacks and offers none, so the gateway
// refuses the login (REJECT callback-unavailable), or, were it to
// confirm one, would call the account's registered line, not the page.
const callbackWords = "this account is called back by the gateway, which a browser cannot answer: call with gateway dial --answer, or a modem"

// classify turns a failed call into the page's status.
func classify(err error) (state, detail string) {
	if r, ok := auth.RejectReason(err); ok {
		switch r {
		case auth.ReasonDenied:
			return "denied", "access denied"
		case auth.ReasonBusy:
			return "busy", "the gateway is busy; try again later"
		case auth.ReasonCallbackUnavailable:
			// Sent for an account with a callback address to a caller
			// that offers no callback, as the page never does
			// (auth: the other case needs a caller that offered one).
			return "callback", callbackWords
		case auth.ReasonNotOffered:
			return "nov42", "the gateway does not run Access Security on this line (its listener has security = \"off\"); use the text login (?mode=text)"
		}
		return "hungup", "the gateway refused the call: " + r.String()
	}
	switch {
	case errors.Is(err, errHostKey):
		msg := err.Error()
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return "hostkey", msg
	case errors.Is(err, v42caller.ErrBusy):
		// The gateway's reason, without its name, when it gave one
		// (short printable ASCII: v42caller bounds it).
		if be := (*v42caller.BusyError)(nil); errors.As(err, &be) && be.Hint() != "" {
			return "busy", be.Hint()
		}
		return "busy", "all lines are busy; try again later"
	case errors.Is(err, v42caller.ErrNoV42):
		return "nov42", "the gateway answered without V.42; use the text login"
	case errors.Is(err, v42caller.ErrCallback):
		return "callback", callbackWords
	case errors.Is(err, context.DeadlineExceeded):
		return "hungup", "no answer from the gateway (V.42 set-up timed out)"
	case errors.Is(err, v42caller.ErrNoLink):
		return "nov42", "the gateway did not start V.42 on this line (its listener may have v42 = \"off\"); use the text login (?mode=text)"
	}
	return "error", err.Error()
}
