package auth

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/flynn/noise"
	"golang.org/x/crypto/curve25519"
)

// This file checks the test vectors of docs/access-security.md §9 against
// the document's own prose, independently of the package: every token is
// rebuilt here with the Noise library directly, from the layouts, prologue
// strings and HKDF labels read out of the document, and the package's
// constants are compared with what the document says. TestSpecVectors only
// shows that the code reproduces the vectors it printed; this test shows
// that the vectors (and so the code) follow the text.

// specDoc is the text of docs/access-security.md.
func specDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// specVectors parses the vector block into scenario -> label -> value. The
// callback call of the callback scenario is the scenario "callback call".
func specVectors(t *testing.T, doc string) map[string]map[string][]byte {
	t.Helper()
	i, j := strings.Index(doc, vectorsBegin), strings.Index(doc, vectorsEnd)
	if i < 0 || j < i {
		t.Fatal("vector markers missing")
	}
	out := map[string]map[string][]byte{}
	cur := ""
	for _, line := range strings.Split(doc[i+len(vectorsBegin):j], "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line == "```":
			continue
		case line == "# common inputs":
			cur = "common"
		case strings.HasPrefix(line, "# scenario "):
			cur = strings.TrimSuffix(strings.Fields(line)[2], ":")
		case strings.HasSuffix(line, " call (NNpsk0)"):
			cur = strings.TrimSuffix(strings.TrimPrefix(line, "# "), " (NNpsk0)")
		case strings.HasPrefix(line, "#"):
			t.Fatalf("unknown vector section %q", line)
		default:
			k := strings.LastIndexByte(line, ' ')
			v, err := hex.DecodeString(line[k+1:])
			if k < 0 || err != nil {
				t.Fatalf("vector line %q", line)
			}
			if out[cur] == nil {
				out[cur] = map[string][]byte{}
			}
			out[cur][strings.TrimSpace(line[:k])] = v
		}
	}
	return out
}

// specLabels reads the HKDF label table of §3.
func specLabels(t *testing.T, doc string) (psk, ticket string, pskN, ticketN int) {
	t.Helper()
	re := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| (\\d+) \\| ([^|]+) \\|$")
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		n := 0
		for _, c := range m[2] {
			n = n*10 + int(c-'0')
		}
		switch {
		case strings.Contains(m[3], "pre-shared key"):
			psk, pskN = m[1], n
		case strings.Contains(m[3], "ticket ID"):
			ticket, ticketN = m[1], n
		}
	}
	if psk == "" || ticket == "" {
		t.Fatal("HKDF label table not found in the spec")
	}
	return psk, ticket, pskN, ticketN
}

// specDataLabel reads the HKDF label of §3's table whose use mentions
// both "AES-256-GCM" and dir ("caller to gateway", "gateway to caller").
func specDataLabel(t *testing.T, doc, dir string) (string, int) {
	t.Helper()
	re := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| (\\d+) \\| ([^|]+) \\|$")
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		if strings.Contains(m[3], "AES-256-GCM") && strings.Contains(m[3], dir) {
			n := 0
			for _, c := range m[2] {
				n = n*10 + int(c-'0')
			}
			return m[1], n
		}
	}
	t.Fatalf("no AES-256-GCM label %q in the spec", dir)
	return "", 0
}

// specAESData checks a scenario's AES-256-GCM data payloads (two each
// way, counters 0 and 1) against §3: key(dir) = HKDF-SHA256(IKM = k_c→g ‖
// k_g→c, salt = h, info = the direction's label), sealed as Noise's
// AESGCM cipher (§12.4) with empty associated data.
func specAESData(t *testing.T, doc string, v map[string][]byte, kc2g, kg2c [32]byte, h []byte) {
	t.Helper()
	ikm := append(kc2g[:], kg2c[:]...)
	cipher := func(dir string) noise.Cipher {
		label, n := specDataLabel(t, doc, dir)
		b, err := hkdf.Key(sha256.New, ikm, h, label, n)
		if err != nil || len(b) != 32 {
			t.Fatalf("HKDF %q: %v", label, err)
		}
		var k [32]byte
		copy(k[:], b)
		return noise.CipherAESGCM.Cipher(k)
	}
	c2g, g2c := cipher("caller to gateway"), cipher("gateway to caller")
	mustEqual(t, "data c->g (AES-256-GCM, counter 0)", c2g.Encrypt(nil, 0, nil, []byte("hello gateway")), v[`C->G data "hello gateway"`])
	mustEqual(t, "data g->c (AES-256-GCM, counter 0)", g2c.Encrypt(nil, 0, nil, []byte("hello caller")), v[`G->C data "hello caller"`])
	mustEqual(t, "data c->g (AES-256-GCM, counter 1)", c2g.Encrypt(nil, 1, nil, []byte("again")), v[`C->G data "again"`])
	mustEqual(t, "data g->c (AES-256-GCM, counter 1)", g2c.Encrypt(nil, 1, nil, []byte("again")), v[`G->C data "again"`])
}

// specPrologue finds the quoted string that starts a prologue diagram.
func specPrologue(t *testing.T, doc, next string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^"([a-z-]+)" \| 0x00 \| version \(1\) \| ` + regexp.QuoteMeta(next))
	m := re.FindStringSubmatch(doc)
	if m == nil {
		t.Fatalf("prologue diagram followed by %q not found in the spec", next)
	}
	return m[1]
}

func specSuite() noise.CipherSuite {
	return noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)
}

func mustEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s per the spec's text:\n got  %x\n want %x (vector)", what, got, want)
	}
}

func lenPrefixed16(b []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

// specNX runs phases i-ii of one scenario and checks INITIATE and
// CHALLENGE; it returns the caller's and gateway's states after message 2.
func specNX(t *testing.T, v, common map[string][]byte, prologueName string, caps byte) (h []byte, callerSend, callerRecv, gwSend, gwRecv *noise.CipherState) {
	t.Helper()
	prologue := append([]byte(prologueName), 0x00, 1)
	prologue = append(prologue, lenPrefixed16(common["transcript"])...)
	pub, err := curve25519.X25519(common["host static private"], curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "host static public", pub, common["host static public"])
	caller, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: specSuite(), Random: bytes.NewReader(v["caller random"]),
		Pattern: noise.HandshakeNX, Initiator: true, Prologue: prologue,
	})
	if err != nil {
		t.Fatal(err)
	}
	gwRand := v["gateway random"]
	if len(gwRand) != 64 {
		t.Fatalf("gateway random has %d octets, the spec says challenge (32) then ephemeral (32)", len(gwRand))
	}
	gw, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: specSuite(), Random: bytes.NewReader(gwRand[32:]),
		Pattern: noise.HandshakeNX, Prologue: prologue,
		StaticKeypair: noise.DHKey{Private: common["host static private"], Public: pub},
	})
	if err != nil {
		t.Fatal(err)
	}
	m1, _, _, err := caller.WriteMessage(nil, []byte{caps})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "INITIATE", append([]byte{0x01, 0x01}, m1...), v["C->G INITIATE"])
	if _, _, _, err := gw.ReadMessage(nil, m1); err != nil {
		t.Fatal(err)
	}
	name := "dialgate-test"
	payload := append(append(append([]byte(nil), gwRand[:32]...), byte(len(name))), name...)
	m2, g1, g2, err := gw.WriteMessage(nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "CHALLENGE", append([]byte{0x01, 0x02}, m2...), v["G->C CHALLENGE"])
	got, c1, c2, err := caller.ReadMessage(nil, m2)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("caller reading CHALLENGE: %v", err)
	}
	if !bytes.Equal(caller.ChannelBinding(), gw.ChannelBinding()) {
		t.Fatal("handshake hashes differ")
	}
	return caller.ChannelBinding(), c1, c2, g2, g1
}

// specResponse builds RESPONSE per §2/§3 and checks it.
func specResponse(t *testing.T, v map[string][]byte, h []byte, send *noise.CipherState, caps byte, user, pw string) {
	t.Helper()
	plain := []byte{caps, byte(len(user))}
	plain = append(plain, user...)
	plain = append(plain, lenPrefixed16([]byte(pw))...)
	for len(plain)%128 != 0 {
		plain = append(plain, 0)
	}
	hdr := []byte{0x01, 0x03}
	tok, err := send.Encrypt(append([]byte(nil), hdr...), append(append([]byte(nil), hdr...), h...), plain)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "RESPONSE", tok, v["C->G RESPONSE"])
}

func TestSpecVectorsFollowTheText(t *testing.T) {
	doc := specDoc(t)
	vec := specVectors(t, doc)
	common := vec["common"]
	nxName := specPrologue(t, doc, "transcript length (2)")
	cbName := specPrologue(t, doc, "ticket ID (16)")
	pskLabel, ticketLabel, pskN, ticketN := specLabels(t, doc)

	// The package's constants are the document's.
	if nxName != prologueNX || cbName != prologueCallback {
		t.Errorf("prologues: spec %q, %q; code %q, %q", nxName, cbName, prologueNX, prologueCallback)
	}
	if pskLabel != labelCallbackPSK || ticketLabel != labelTicketID || pskN != pskLen || ticketN != ticketIDLen {
		t.Errorf("HKDF labels: spec %q/%d, %q/%d; code %q/%d, %q/%d",
			pskLabel, pskN, ticketLabel, ticketN, labelCallbackPSK, pskLen, labelTicketID, ticketIDLen)
	}
	if want := "Noise_NX_25519_ChaChaPoly_SHA256"; !strings.Contains(doc, "`"+want+"`") {
		t.Errorf("spec does not name %s", want)
	}

	t.Run("direct", func(t *testing.T) {
		v := vec["direct"]
		h, cs, _, gs, _ := specNX(t, v, common, nxName, 0x02)
		specResponse(t, v, h, cs, 0x02, "bob", "battery staple")
		plain := binary.BigEndian.AppendUint64(nil, 42)
		plain = append(plain, 0)
		plain = binary.BigEndian.AppendUint64(plain, 0)
		hdr := []byte{0x01, 0x04}
		tok, _ := gs.Encrypt(append([]byte(nil), hdr...), append(append([]byte(nil), hdr...), h...), plain)
		mustEqual(t, "CONFIRM", tok, v["G->C CONFIRM"])
		c2g, _ := cs.Encrypt(nil, nil, []byte("hello gateway"))
		mustEqual(t, "first data payload c->g (nonce 1)", c2g, v[`C->G data "hello gateway"`])
		g2c, _ := gs.Encrypt(nil, nil, []byte("hello caller"))
		mustEqual(t, "first data payload g->c (nonce 1)", g2c, v[`G->C data "hello caller"`])
	})

	t.Run("aes", func(t *testing.T) {
		v := vec["aes"]
		c2gLabel, c2gN := specDataLabel(t, doc, "caller to gateway")
		g2cLabel, g2cN := specDataLabel(t, doc, "gateway to caller")
		if c2gLabel != labelDataC2G || g2cLabel != labelDataG2C || c2gN != 32 || g2cN != 32 {
			t.Errorf("data labels: spec %q/%d, %q/%d; code %q, %q", c2gLabel, c2gN, g2cLabel, g2cN, labelDataC2G, labelDataG2C)
		}
		// caps = SEALED | AESGCM; CONFIRM flags = AESGCM.
		h, cs, _, gs, _ := specNX(t, v, common, nxName, 0x06)
		specResponse(t, v, h, cs, 0x06, "bob", "battery staple")
		plain := binary.BigEndian.AppendUint64(nil, 42)
		plain = append(plain, 0x02)
		plain = binary.BigEndian.AppendUint64(plain, 0)
		hdr := []byte{0x01, 0x04}
		tok, _ := gs.Encrypt(append([]byte(nil), hdr...), append(append([]byte(nil), hdr...), h...), plain)
		mustEqual(t, "CONFIRM", tok, v["G->C CONFIRM"])
		// Data keys: HKDF-SHA256, IKM = k_c->g || k_g->c, salt = h; the
		// AESGCM cipher of Noise §12.4 from counter 0.
		specAESData(t, doc, v, cs.UnsafeKey(), gs.UnsafeKey(), h)
	})

	t.Run("denied", func(t *testing.T) {
		v := vec["denied"]
		h, cs, _, gs, _ := specNX(t, v, common, nxName, 0x02)
		specResponse(t, v, h, cs, 0x02, "mallory", "guess")
		hdr := []byte{0x01, 0x05, 0x01}
		tok, _ := gs.Encrypt(append([]byte(nil), hdr...), append(append([]byte(nil), hdr...), h...), []byte{byte(ReasonDenied)})
		mustEqual(t, "sealed REJECT denied", tok, v["G->C REJECT"])
		if len(tok) != 20 {
			t.Errorf("sealed REJECT is %d octets, spec says 20", len(tok))
		}
	})

	for _, sc := range []struct {
		name        string
		caps, flags byte
	}{{"callback", 0x03, 0x01}, {"callback-aes", 0x07, 0x03}} {
		t.Run(sc.name, func(t *testing.T) {
			v := vec[sc.name]
			h, cs, cr, gs, _ := specNX(t, v, common, nxName, sc.caps)
			specResponse(t, v, h, cs, sc.caps, "alice", "correct horse")
			// CONFIRM: open it as the caller and check the layout.
			conf := v["G->C CONFIRM"]
			plain, err := cr.Decrypt(nil, append([]byte{0x01, 0x04}, h...), conf[2:])
			if err != nil || len(plain) != 17 {
				t.Fatalf("opening CONFIRM: %v (%d octets)", err, len(plain))
			}
			session := binary.BigEndian.Uint64(plain)
			if plain[8] != sc.flags || binary.BigEndian.Uint64(plain[9:]) != 120 {
				t.Fatalf("CONFIRM plaintext %x: want callback 1, TTL 120", plain)
			}
			// Callback secrets: HKDF-SHA256, IKM = k_c->g || k_g->c, salt = h.
			k1, k2 := cs.UnsafeKey(), gs.UnsafeKey()
			ikm := append(k1[:], k2[:]...)
			psk, err := hkdf.Key(sha256.New, ikm, h, pskLabel, pskN)
			if err != nil {
				t.Fatal(err)
			}
			id, err := hkdf.Key(sha256.New, ikm, h, ticketLabel, ticketN)
			if err != nil {
				t.Fatal(err)
			}
			cb := vec[sc.name+" call"]
			tok := cb["G->C CALLBACK"]
			if len(tok) < 18 {
				t.Fatalf("CALLBACK vector of %d octets", len(tok))
			}
			mustEqual(t, "CALLBACK ticket ID", tok[2:18], id)

			prologue := append([]byte(cbName), 0x00, 1)
			prologue = append(prologue, id...)
			prologue = append(prologue, lenPrefixed16(common["callback transcript"])...)
			gw, err := noise.NewHandshakeState(noise.Config{
				CipherSuite: specSuite(), Random: bytes.NewReader(cb["gateway random"]),
				Pattern: noise.HandshakeNN, Initiator: true, Prologue: prologue,
				PresharedKey: psk, PresharedKeyPlacement: 0,
			})
			if err != nil {
				t.Fatal(err)
			}
			caller, err := noise.NewHandshakeState(noise.Config{
				CipherSuite: specSuite(), Random: bytes.NewReader(cb["caller random"]),
				Pattern: noise.HandshakeNN, Prologue: prologue,
				PresharedKey: psk, PresharedKeyPlacement: 0,
			})
			if err != nil {
				t.Fatal(err)
			}
			payload := binary.BigEndian.AppendUint64(nil, session)
			payload = binary.BigEndian.AppendUint64(payload, 1767225720)
			payload = append(append(payload, byte(len("alice"))), "alice"...)
			m1, _, _, err := gw.WriteMessage(nil, payload)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "CALLBACK", append(append([]byte{0x01, 0x06}, id...), m1...), tok)
			if _, _, _, err := caller.ReadMessage(nil, m1); err != nil {
				t.Fatal(err)
			}
			m2, a1, a2, err := caller.WriteMessage(nil, binary.BigEndian.AppendUint64(nil, session))
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "ACCEPT", append([]byte{0x01, 0x07}, m2...), cb["C->G ACCEPT"])
			if sc.flags&0x02 == 0 {
				// The gateway (initiator) sends with the first CipherState.
				g2c, _ := a1.Encrypt(nil, nil, []byte("hello caller"))
				mustEqual(t, "callback data g->c", g2c, cb[`G->C data "hello caller"`])
				c2g, _ := a2.Encrypt(nil, nil, []byte("hello gateway"))
				mustEqual(t, "callback data c->g", c2g, cb[`C->G data "hello gateway"`])
				return
			}
			// AES-256-GCM on the callback: §3's derivation on the NNpsk0
			// session: IKM = k_c->g (second CipherState) || k_g->c (first),
			// salt = the NNpsk0 h, counters from 0.
			kg, kc := a1.UnsafeKey(), a2.UnsafeKey()
			specAESData(t, doc, cb, kc, kg, caller.ChannelBinding())
		})
	}
}
