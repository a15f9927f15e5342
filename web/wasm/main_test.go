//go:build js && wasm

package main

import (
	"fmt"
	"testing"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/web/v42caller"
)

// TestClassify checks the status line's words for the ways a V.42 call
// fails. Run on the host by web's TestWasmCaller (GOOS=js under node).
func TestClassify(t *testing.T) {
	const wantCallback = "this account is called back by the gateway, which a browser cannot answer: call with gateway dial --answer, or a modem"
	for _, c := range []struct {
		name          string
		err           error
		state, detail string
	}{
		{"denied", &auth.RejectError{Reason: auth.ReasonDenied, Authenticated: true}, "denied", "access denied"},
		// The page offers no callback (it cannot answer a call): the
		// gateway refuses an account with a callback address with
		// REJECT callback-unavailable, which "cannot call back now"
		// made sound like a passing state (browser trial).
		{"callback account", fmt.Errorf("v42caller: %w", &auth.RejectError{Reason: auth.ReasonCallbackUnavailable, Authenticated: true}), "callback", wantCallback},
		{"callback confirmed", v42caller.ErrCallback, "callback", wantCallback},
	} {
		state, detail := classify(c.err)
		if state != c.state || detail != c.detail {
			t.Errorf("%s: classify = %q, %q; want %q, %q", c.name, state, detail, c.state, c.detail)
		}
	}
}
