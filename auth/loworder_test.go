package auth

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

// lowOrderPoints are X25519 public keys whose shared secret with any
// private key is all zeros (RFC 7748 §6.1): the points of order 1, 2, 4
// and 8 and their non-canonical encodings.
var lowOrderPoints = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

// TestLowOrderEphemeral: an INITIATE whose e is of low order is a
// malformed INITIATE (docs/access-security.md §4): the gateway answers a
// clear REJECT protocol-error and reports a *RejectError, as for any other
// malformed INITIATE, instead of failing silently while the caller waits
// out its deadline. A CHALLENGE whose e is of low order fails the call
// before RESPONSE, so no password leaves the caller.
func TestLowOrderEphemeral(t *testing.T) {
	testutil.CheckGoroutines(t)
	g := golden(t, scenarioDirect)
	for _, h := range lowOrderPoints {
		pt, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		init := append([]byte(nil), g.init...)
		copy(init[headerLen:], pt)
		_, conn, err := answerWith(scenarioDirect, nil, init)
		var re *RejectError
		if !errors.As(err, &re) || re.Reason != ReasonProtocolError || !re.Sent || !errors.Is(err, ErrMalformed) {
			t.Errorf("INITIATE with e %s…: %v", h[:8], err)
		}
		if len(conn.sentResps) != 1 {
			t.Fatalf("INITIATE with e %s…: %d responses sent", h[:8], len(conn.sentResps))
		}
		if r, err := parseReject(conn.sentResps[0]); err != nil || r.sealed || r.reason != ReasonProtocolError {
			t.Errorf("INITIATE with e %s…: sent % x, not a clear REJECT protocol-error", h[:8], conn.sentResps[0])
		}

		chal := append([]byte(nil), g.chal...)
		copy(chal[headerLen:], pt)
		_, cconn, err := callWith(scenarioDirect, chal)
		if !errors.Is(err, ErrAuthFailed) || len(cconn.sentCmds) != 1 {
			t.Errorf("CHALLENGE with e %s…: %v, %d commands sent", h[:8], err, len(cconn.sentCmds))
		}
	}
}
