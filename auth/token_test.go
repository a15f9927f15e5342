package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/testutil"
)

func TestTokenTypeAndReasonStrings(t *testing.T) {
	testutil.CheckGoroutines(t)
	if TypeCallback.String() != "CALLBACK" || TokenType(0x99).String() != "type(0x99)" {
		t.Error("TokenType.String")
	}
	for r, want := range map[Reason]string{ReasonDenied: "denied", ReasonBusy: "busy", ReasonCallbackUnavailable: "callback-unavailable",
		ReasonProtocolError: "protocol-error", ReasonTimeout: "timeout", ReasonVersion: "version", ReasonNotOffered: "not-offered", 77: "reason(77)"} {
		if r.String() != want {
			t.Errorf("Reason(%d) = %q, want %q", r, r.String(), want)
		}
	}
	err := fmt.Errorf("dial: %w", &RejectError{Reason: ReasonBusy, Authenticated: true})
	if r, ok := RejectReason(err); !ok || r != ReasonBusy {
		t.Error("RejectReason through a wrap")
	}
	if _, ok := RejectReason(errors.New("x")); ok {
		t.Error("RejectReason on a plain error")
	}
	if !strings.HasPrefix(err.(interface{ Unwrap() error }).Unwrap().Error(), "auth: ") {
		t.Error("RejectError message lacks the package prefix")
	}
}

func TestPlaintextRoundTrips(t *testing.T) {
	testutil.CheckGoroutines(t)
	long := strings.Repeat("u", MaxUserIDLen)
	for _, p := range []responsePlain{
		{caps: CapSealed, userID: "a", password: nil},
		{caps: CapSealed | CapCallback, userID: long, password: bytes.Repeat([]byte{0xff}, MaxPasswordLen)},
		{caps: CapSealed, userID: "bob", password: make([]byte, padQuantum-6)}, // exactly one quantum
	} {
		b := p.append(nil)
		if len(b)%padQuantum != 0 {
			t.Fatalf("RESPONSE plaintext of %d octets is not padded", len(b))
		}
		q, err := parseResponsePlain(b)
		if err != nil || q.caps != p.caps || q.userID != p.userID || !bytes.Equal(q.password, p.password) {
			t.Fatalf("RESPONSE round trip: %+v, %v", q, err)
		}
		checkPrefixes(t, "RESPONSE plaintext", b, func(b []byte) error { _, err := parseResponsePlain(b); return err })
	}
	for _, p := range []confirmPlain{{session: 1}, {session: 1<<64 - 1, callback: true, callbackTTL: maxCallbackTTL}} {
		b := p.append(nil)
		if q, err := parseConfirmPlain(b); err != nil || q != p {
			t.Fatalf("CONFIRM round trip: %+v, %v", q, err)
		}
		checkPrefixes(t, "CONFIRM plaintext", b, func(b []byte) error { _, err := parseConfirmPlain(b); return err })
	}
	for _, p := range []challengePayload{{}, {name: strings.Repeat("n", MaxNameLen)}} {
		b := p.append(nil)
		if q, err := parseChallengePayload(b); err != nil || q != p {
			t.Fatalf("CHALLENGE payload round trip: %+v, %v", q, err)
		}
		checkPrefixes(t, "CHALLENGE payload", b, func(b []byte) error { _, err := parseChallengePayload(b); return err })
	}
	for _, p := range []callbackPayload{{session: 7, expiry: 1767225600, userID: "a"}, {userID: long}} {
		b := p.append(nil)
		if q, err := parseCallbackPayload(b); err != nil || q != p {
			t.Fatalf("CALLBACK payload round trip: %+v, %v", q, err)
		}
		checkPrefixes(t, "CALLBACK payload", b, func(b []byte) error { _, err := parseCallbackPayload(b); return err })
	}
}

// checkPrefixes asserts every strict prefix and one trailing octet fail.
func checkPrefixes(t *testing.T, what string, b []byte, parse func([]byte) error) {
	t.Helper()
	checkStrictPrefixes(t, what, b, parse)
	if err := parse(append(append([]byte(nil), b...), 0x01)); err == nil {
		t.Fatalf("%s: trailing octet accepted", what)
	}
}

// checkStrictPrefixes asserts every strict prefix fails. For tokens whose
// length is only known inside the ciphertext (CHALLENGE, CALLBACK) trailing
// octets are caught by the AEAD (TestEveryPrefixAndBitFlip).
func checkStrictPrefixes(t *testing.T, what string, b []byte, parse func([]byte) error) {
	t.Helper()
	for n := 0; n < len(b); n++ {
		if err := parse(b[:n:n]); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnexpected) {
			t.Fatalf("%s: prefix of %d/%d octets: %v", what, n, len(b), err)
		}
	}
}

func TestPlaintextFieldErrors(t *testing.T) {
	testutil.CheckGoroutines(t)
	ok := responsePlain{caps: CapSealed, userID: "bob", password: []byte("pw")}.append(nil)
	for name, mutate := range map[string]func([]byte){
		"empty user":      func(b []byte) { b[1] = 0 },
		"long user":       func(b []byte) { b[1] = MaxUserIDLen + 1 },
		"long password":   func(b []byte) { b[5], b[6] = 0x04, 0x01 },
		"nonzero padding": func(b []byte) { b[len(b)-1] = 1 },
	} {
		b := append([]byte(nil), ok...)
		mutate(b)
		if _, err := parseResponsePlain(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("RESPONSE %s: %v", name, err)
		}
	}
	// A whole extra block of padding is refused (one encoding only).
	if _, err := parseResponsePlain(append(append([]byte(nil), ok...), make([]byte, padQuantum)...)); !errors.Is(err, ErrMalformed) {
		t.Errorf("RESPONSE extra padding block: %v", err)
	}
	for name, b := range map[string][]byte{
		"ttl without callback": confirmPlain{session: 1, callbackTTL: 5}.append(nil),
		"zero ttl":             confirmPlain{session: 1, callback: true}.append(nil),
		"huge ttl":             confirmPlain{session: 1, callback: true, callbackTTL: maxCallbackTTL + 1}.append(nil),
	} {
		if _, err := parseConfirmPlain(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("CONFIRM %s: %v", name, err)
		}
	}
	for _, flags := range []byte{0x04, 0x80, 0xFF} {
		bad := confirmPlain{session: 1}.append(nil)
		bad[8] = flags
		if _, err := parseConfirmPlain(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("CONFIRM flags 0x%02x: %v", flags, err)
		}
	}
	for _, p := range []confirmPlain{
		{session: 7, aes: true},
		{session: 8, callback: true, aes: true, callbackTTL: 60},
		{session: 9, callback: true, callbackTTL: 60},
	} {
		if got, err := parseConfirmPlain(p.append(nil)); err != nil || got != p {
			t.Errorf("CONFIRM %+v round trip: %+v %v", p, got, err)
		}
	}
}

func TestTokenFraming(t *testing.T) {
	testutil.CheckGoroutines(t)
	init := appendInitiate(nil, append(make([]byte, keyLen), CapSealed))
	if _, err := parseInitiate(init); err != nil {
		t.Fatal(err)
	}
	checkPrefixes(t, "INITIATE", init, func(b []byte) error { _, err := parseInitiate(b); return err })
	for caps, want := range map[uint8]error{0: ErrMalformed, CapCallback: ErrMalformed, 0x80 | CapSealed: nil, CapSealed | CapCallback: nil} {
		b := append([]byte(nil), init...)
		b[len(b)-1] = caps
		if _, err := parseInitiate(b); !errors.Is(err, want) && (want != nil || err != nil) {
			t.Errorf("INITIATE caps 0x%02x: %v", caps, err)
		}
	}
	if _, _, err := peekHeader(make([]byte, MaxTokenSize+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized token: %v", err)
	}
	rej := appendRejectClear(nil, ReasonBusy)
	if r, err := parseReject(rej); err != nil || r.reason != ReasonBusy || r.sealed {
		t.Fatalf("clear REJECT: %+v %v", r, err)
	}
	checkPrefixes(t, "REJECT", rej, func(b []byte) error { _, err := parseReject(b); return err })
	rej[2] = 7
	if _, err := parseReject(rej); !errors.Is(err, ErrMalformed) {
		t.Errorf("REJECT form 7: %v", err)
	}
	acc := append(header(TypeAccept), make([]byte, acceptLen-headerLen)...)
	checkPrefixes(t, "ACCEPT", acc, func(b []byte) error { _, err := parseAccept(b); return err })
	var id [ticketIDLen]byte
	cb := appendCallback(nil, id, make([]byte, callbackMinLen-headerLen-ticketIDLen))
	checkStrictPrefixes(t, "CALLBACK", cb, func(b []byte) error { _, err := parseCallback(b); return err })
	if _, err := parseCallback(append(cb, make([]byte, MaxUserIDLen)...)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized CALLBACK: %v", err)
	}
	conf := append(header(TypeConfirm), make([]byte, confirmLen-headerLen)...)
	checkPrefixes(t, "CONFIRM", conf, func(b []byte) error { _, err := parseSealed(b, TypeConfirm); return err })
	resp := append(header(TypeResponse), make([]byte, padQuantum+tagLen)...)
	checkPrefixes(t, "RESPONSE", resp, func(b []byte) error { _, err := parseSealed(b, TypeResponse); return err })
	chal := append(header(TypeChallenge), make([]byte, challengeMinLen-headerLen)...)
	checkStrictPrefixes(t, "CHALLENGE", chal, func(b []byte) error { _, err := parseChallenge(b); return err })
	if _, err := parseChallenge(append(chal, make([]byte, MaxNameLen+1)...)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized CHALLENGE: %v", err)
	}
}

// The fuzz targets below take any octets as a token (and as a plaintext of
// the same family): decoders must never panic, and whatever they accept
// must re-encode to the same octets. Seeds are under testdata/fuzz/<name>/.

func FuzzParseInitiate(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := parseInitiate(b); err == nil {
			if !bytes.Equal(appendInitiate(nil, p.msg), b) {
				t.Fatalf("INITIATE %x does not round-trip", b)
			}
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if msg, err := parseChallenge(b); err == nil && !bytes.Equal(append(header(TypeChallenge), msg...), b) {
			t.Fatalf("CHALLENGE %x does not round-trip", b)
		}
		if p, err := parseChallengePayload(b); err == nil && !bytes.Equal(p.append(nil), b) {
			t.Fatalf("CHALLENGE payload %x does not round-trip", b)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseSealed(b, TypeResponse)
		if p, err := parseResponsePlain(b); err == nil && !bytes.Equal(p.append(nil), b) {
			t.Fatalf("RESPONSE plaintext %x does not round-trip", b)
		}
	})
}

func FuzzParseConfirm(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseSealed(b, TypeConfirm)
		if p, err := parseConfirmPlain(b); err == nil && !bytes.Equal(p.append(nil), b) {
			t.Fatalf("CONFIRM plaintext %x does not round-trip", b)
		}
	})
}

func FuzzParseReject(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseReject(b)
		if err == nil && !r.sealed && r.version == Version && !bytes.Equal(appendRejectClear(nil, r.reason), b) {
			t.Fatalf("REJECT %x does not round-trip", b)
		}
	})
}

func FuzzParseCallback(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := parseCallback(b); err == nil && !bytes.Equal(appendCallback(nil, c.ticketID, c.msg), b) {
			t.Fatalf("CALLBACK %x does not round-trip", b)
		}
		if p, err := parseCallbackPayload(b); err == nil && !bytes.Equal(p.append(nil), b) {
			t.Fatalf("CALLBACK payload %x does not round-trip", b)
		}
	})
}

func FuzzParseAccept(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if msg, err := parseAccept(b); err == nil && !bytes.Equal(append(header(TypeAccept), msg...), b) {
			t.Fatalf("ACCEPT %x does not round-trip", b)
		}
		_, _ = parseAcceptPayload(b)
	})
}

// FuzzAcceptCallback drives the original caller with an arbitrary CALLBACK:
// only the genuine one is accepted; any other is answered with one clear
// REJECT denied and does not use up the ticket (anyone who calls the
// caller can send one): the genuine CALLBACK is still accepted after it.
func FuzzAcceptCallback(f *testing.F) {
	_, ct, cb, _ := callbackFixture(f)
	f.Fuzz(func(t *testing.T, tok []byte) {
		ticket := ct.clone()
		conn := &scriptConn{transcript: testCallbackTranscript}
		_, err := AcceptCallback(context.Background(), conn, tok, ticket)
		if err == nil {
			if !bytes.Equal(tok, cb) {
				t.Fatalf("caller accepted forged CALLBACK %x", tok)
			}
			return
		}
		if !sentClearDenied(conn) {
			t.Fatalf("CALLBACK %x refused (%v) with responses %x, want one clear REJECT denied", tok, err, conn.sentResps)
		}
		if _, gerr := acceptWith(cb, ticket); gerr != nil {
			t.Fatalf("after CALLBACK %x was refused (%v), the genuine one is refused too: %v", tok, err, gerr)
		}
	})
}

// TestWriteFuzzSeeds rewrites the seed corpora from the golden scenarios
// when run with -update; otherwise it checks that every target has seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	testutil.CheckGoroutines(t)
	g := golden(t, scenarioDirect)
	cb := golden(t, scenarioCallback)
	d := golden(t, scenarioDenied)
	a := golden(t, scenarioAES)
	_, _, cbTok, accTok := callbackFixture(t)
	single := map[string][][]byte{
		"FuzzParseInitiate":  {g.init, cb.init, a.init},
		"FuzzParseChallenge": {g.chal, challengePayload{name: "gw"}.append(nil)},
		"FuzzParseResponse":  {g.resp, responsePlain{caps: CapSealed, userID: "bob", password: []byte("pw")}.append(nil)},
		"FuzzParseConfirm":   {g.fin, cb.fin, a.fin, confirmPlain{session: 9, callback: true, callbackTTL: 120}.append(nil), confirmPlain{session: 9, callback: true, aes: true, callbackTTL: 120}.append(nil)},
		"FuzzParseReject":    {d.fin, appendRejectClear(nil, ReasonVersion)},
		"FuzzParseCallback":  {cbTok, callbackPayload{session: 9, expiry: 1, userID: "alice"}.append(nil)},
		"FuzzParseAccept":    {accTok, accTok[headerLen+keyLen:]},
		"FuzzAcceptCallback": {cbTok, accTok},
	}
	pairs := map[string][][2][]byte{
		"FuzzAnswer": {{g.init, g.resp}, {g.init, g.chal}, {d.init, d.resp}, {a.init, a.resp}},
		"FuzzCall":   {{g.chal, g.fin}, {d.chal, d.fin}, {appendRejectClear(nil, ReasonBusy), nil}},
	}
	write := func(name string, i int, content string) {
		dir := filepath.Join("testdata", "fuzz", name)
		path := filepath.Join(dir, fmt.Sprintf("seed%d", i))
		if !*update {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("missing seed corpus file %s (run with -update)", path)
			}
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("go test fuzz v1\n"+content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, seeds := range single {
		for i, s := range seeds {
			write(name, i, fmt.Sprintf("[]byte(%q)\n", s))
		}
	}
	for name, seeds := range pairs {
		for i, s := range seeds {
			write(name, i, fmt.Sprintf("[]byte(%q)\n[]byte(%q)\n", s[0], s[1]))
		}
	}
}

// TestResponsePlainSize: size is the length append produces, so a buffer
// made at that size is filled in place: no grown copy of the password is
// left behind (sendResponse wipes only the buffer it has).
func TestResponsePlainSize(t *testing.T) {
	for _, n := range []int{0, 1, 60, 123, 124, 125, 250, 252, 253, 1000} {
		p := responsePlain{caps: CapSealed, userID: "alice", password: bytes.Repeat([]byte("p"), n)}
		b := make([]byte, 0, p.size())
		out := p.append(b)
		if len(out) != p.size() || &out[0] != &b[:1][0] {
			t.Errorf("password of %d octets: encoding %d octets, size %d, same buffer %v", n, len(out), p.size(), &out[0] == &b[:1][0])
		}
	}
}
