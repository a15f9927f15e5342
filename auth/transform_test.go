package auth

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/flynn/noise"
)

// dataCiphers are the data-phase AEADs every transform test runs with.
var dataCiphers = []DataCipher{CipherChaChaPoly, CipherAESGCM}

// transformPair returns the two ends of a data phase with fixed keys: a is
// the caller, b the gateway.
func transformPair(dc DataCipher) (a, b Transform) {
	var k1, k2 [32]byte
	k1[0], k2[0] = 1, 2
	h := bytes.Repeat([]byte{0x68}, 32)
	a, err := newTransform(dc, noise.UnsafeNewCipherState(cipherSuite, k1, 0), noise.UnsafeNewCipherState(cipherSuite, k2, 0), true, h)
	if err != nil {
		panic(err)
	}
	b, err = newTransform(dc, noise.UnsafeNewCipherState(cipherSuite, k2, 0), noise.UnsafeNewCipherState(cipherSuite, k1, 0), false, h)
	if err != nil {
		panic(err)
	}
	return a, b
}

// forCiphers runs f as a subtest for each data-phase cipher.
func forCiphers(t *testing.T, f func(t *testing.T, dc DataCipher)) {
	for _, dc := range dataCiphers {
		t.Run(dc.String(), func(t *testing.T) { f(t, dc) })
	}
}

func TestTransformRoundTripAndAppend(t *testing.T) {
	forCiphers(t, func(t *testing.T, dc DataCipher) {
		a, b := transformPair(dc)
		prefix := []byte("hdr")
		s := a.Seal(append([]byte(nil), prefix...), []byte("payload"))
		if !bytes.HasPrefix(s, prefix) || len(s) != len(prefix)+len("payload")+a.Overhead() {
			t.Fatalf("Seal did not append: %x", s)
		}
		got, err := b.Open([]byte("x"), s[len(prefix):])
		if err != nil || string(got) != "xpayload" {
			t.Fatalf("Open: %q %v", got, err)
		}
	})
}

func TestTransformRejectsTamperReplayReorder(t *testing.T) {
	forCiphers(t, func(t *testing.T, dc DataCipher) {
		a, b := transformPair(dc)
		s0 := a.Seal(nil, []byte("zero"))
		s1 := a.Seal(nil, []byte("one"))
		// Out of order: s1 under counter 0 fails, and leaves the counter alone.
		if _, err := b.Open(nil, s1); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("reordered payload: %v", err)
		}
		bad := append([]byte(nil), s0...)
		bad[0] ^= 1
		if _, err := b.Open(nil, bad); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("altered payload: %v", err)
		}
		if _, err := b.Open(nil, s0[:tagLen-1]); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("short payload: %v", err)
		}
		if got, err := b.Open(nil, s0); err != nil || string(got) != "zero" {
			t.Fatalf("payload 0 after failures: %q %v", got, err)
		}
		// Replay of payload 0 fails at counter 1.
		if _, err := b.Open(nil, s0); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("replayed payload: %v", err)
		}
		if got, err := b.Open(nil, s1); err != nil || string(got) != "one" {
			t.Fatalf("payload 1: %q %v", got, err)
		}
		// A payload sealed by b does not open at b (reflection).
		if _, err := b.Open(nil, b.Seal(nil, []byte("me"))); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("reflected payload: %v", err)
		}
	})
}

func TestTransformWipe(t *testing.T) {
	forCiphers(t, func(t *testing.T, dc DataCipher) {
		a, _ := transformPair(dc)
		Wipe(a)
		if a.Seal(nil, []byte("x")) != nil {
			t.Error("Seal after Wipe")
		}
		if _, err := a.Open(nil, make([]byte, 32)); !errors.Is(err, ErrTransformClosed) {
			t.Errorf("Open after Wipe: %v", err)
		}
	})
}

func TestTransformCounterExhausted(t *testing.T) {
	forCiphers(t, func(t *testing.T, dc DataCipher) {
		a, b := transformPair(dc)
		a.(*noiseTransform).send.n = noise.MaxNonce
		b.(*noiseTransform).recv.n = noise.MaxNonce
		last := a.Seal(nil, []byte("last"))
		if got, err := b.Open(nil, last); err != nil || string(got) != "last" {
			t.Fatalf("payload under the last counter: %q %v", got, err)
		}
		if a.Seal(nil, []byte("x")) != nil {
			t.Error("Seal past the last counter")
		}
		if _, err := b.Open(nil, last); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("Open past the last counter: %v", err)
		}
	})
}

// TestTransformMatchesNoise holds the transform to Noise transport
// messages as github.com/flynn/noise's CipherState makes them
// (docs/access-security.md §3, "Data phase"): same key, counters
// continuing from the CipherState's (1 after RESPONSE / CONFIRM), empty
// associated data, in both directions and with a failed Open in between.
func TestTransformMatchesNoise(t *testing.T) {
	var k1, k2 [32]byte
	for i := range k1 {
		k1[i], k2[i] = byte(i), byte(0xA0^i)
	}
	tr, err := newTransform(CipherChaChaPoly, noise.UnsafeNewCipherState(cipherSuite, k1, 1), noise.UnsafeNewCipherState(cipherSuite, k2, 1), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if Cipher(tr) != CipherChaChaPoly {
		t.Fatalf("Cipher = %v", Cipher(tr))
	}
	peerRecv := noise.UnsafeNewCipherState(cipherSuite, k1, 1)
	peerSend := noise.UnsafeNewCipherState(cipherSuite, k2, 1)
	for i, size := range []int{0, 1, 111, 4080} {
		plain := bytes.Repeat([]byte{byte(i + 1)}, size)
		sealed := tr.Seal(nil, plain)
		want, err := noise.UnsafeNewCipherState(cipherSuite, k1, peerRecv.Nonce()).Encrypt(nil, nil, plain)
		if err != nil || !bytes.Equal(sealed, want) {
			t.Fatalf("payload %d: Seal differs from noise's Encrypt (%v)", i, err)
		}
		if got, err := peerRecv.Decrypt(nil, nil, sealed); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("payload %d: noise cannot open what Seal made: %v", i, err)
		}
		in, err := peerSend.Encrypt(nil, nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		bad := append([]byte(nil), in...)
		bad[len(bad)-1] ^= 0x80
		if _, err := tr.Open(nil, bad); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("payload %d: altered tag: %v", i, err)
		}
		if got, err := tr.Open(in[:0], in); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("payload %d: Open (in place) of noise's Encrypt: %q %v", i, got, err)
		}
	}
}

// TestTransformNoAllocations: sealing into a buffer with room and opening
// in place (what lapm.Link does) allocate nothing.
func TestTransformNoAllocations(t *testing.T) {
	forCiphers(t, func(t *testing.T, dc DataCipher) {
		a, b := transformPair(dc)
		plain := make([]byte, 4080)
		buf := make([]byte, 0, len(plain)+a.Overhead())
		allocs := testing.AllocsPerRun(100, func() {
			s := a.Seal(buf[:0], plain)
			if _, err := b.Open(s[:0], s); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per sealed and opened payload, want 0", allocs)
		}
	})
}

func BenchmarkTransform(b *testing.B) {
	for _, dc := range dataCiphers {
		b.Run(dc.String(), func(b *testing.B) { benchTransform(b, dc) })
	}
}

func benchTransform(b *testing.B, dc DataCipher) {
	for _, size := range []int{128, 1024, 4096} {
		plain := make([]byte, size)
		b.Run(fmt.Sprintf("seal-%d", size), func(b *testing.B) {
			a, _ := transformPair(dc)
			buf := make([]byte, 0, size+tagLen)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf = a.Seal(buf[:0], plain)
			}
		})
		b.Run(fmt.Sprintf("seal+open-%d", size), func(b *testing.B) {
			a, c := transformPair(dc)
			buf := make([]byte, 0, size+tagLen)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf = a.Seal(buf[:0], plain)
				// In place, as lapm.Link opens.
				if _, err := c.Open(buf[:0], buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTransformAESMatchesSpec holds the AES-256-GCM data phase to
// docs/access-security.md §3 as written, using flynn/noise's AESGCM cipher
// (Noise §12.4: nonce = 32 zero bits ‖ big-endian counter) and keys derived
// here from the text's HKDF labels: key(dir) = HKDF-SHA256(IKM = k_c→g ‖
// k_g→c, salt = h, info = label(dir)), counters from 0, empty associated
// data; for both ends, each direction, with a failed Open in between.
func TestTransformAESMatchesSpec(t *testing.T) {
	var kc2g, kg2c [32]byte
	for i := range kc2g {
		kc2g[i], kg2c[i] = byte(i), byte(0xA0^i)
	}
	h := bytes.Repeat([]byte{0x5A}, 32)
	derive := func(label string) (k [32]byte) {
		ikm := append(append([]byte(nil), kc2g[:]...), kg2c[:]...)
		b, err := hkdf.Key(sha256.New, ikm, h, label, 32)
		if err != nil {
			t.Fatal(err)
		}
		copy(k[:], b)
		return k
	}
	c2g := noise.CipherAESGCM.Cipher(derive("dialgate-as1 data aes-256-gcm c->g"))
	g2c := noise.CipherAESGCM.Cipher(derive("dialgate-as1 data aes-256-gcm g->c"))
	// The handshake's CipherStates had sealed RESPONSE and CONFIRM
	// (counter 1): the AES keys start from 0 regardless.
	cs := func(k [32]byte) *noise.CipherState { return noise.UnsafeNewCipherState(cipherSuite, k, 1) }
	caller, err := newTransform(CipherAESGCM, cs(kc2g), cs(kg2c), true, h)
	if err != nil {
		t.Fatal(err)
	}
	gateway, err := newTransform(CipherAESGCM, cs(kg2c), cs(kc2g), false, h)
	if err != nil {
		t.Fatal(err)
	}
	if Cipher(caller) != CipherAESGCM || Cipher(gateway) != CipherAESGCM {
		t.Fatalf("Cipher = %v, %v", Cipher(caller), Cipher(gateway))
	}
	for i, size := range []int{0, 1, 111, 4080} {
		n := uint64(i)
		plain := bytes.Repeat([]byte{byte(i + 1)}, size)
		for _, dir := range []struct {
			name     string
			from, to Transform
			spec     noise.Cipher
		}{{"c->g", caller, gateway, c2g}, {"g->c", gateway, caller, g2c}} {
			sealed := dir.from.Seal(nil, plain)
			if want := dir.spec.Encrypt(nil, n, nil, plain); !bytes.Equal(sealed, want) {
				t.Fatalf("%s payload %d: Seal differs from the specification", dir.name, i)
			}
			bad := append([]byte(nil), sealed...)
			bad[len(bad)-1] ^= 0x80
			if _, err := dir.to.Open(nil, bad); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("%s payload %d: altered tag: %v", dir.name, i, err)
			}
			if got, err := dir.to.Open(sealed[:0], sealed); err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s payload %d: Open in place: %q %v", dir.name, i, got, err)
			}
		}
	}
}

// TestTransformCiphersDiffer: the two data ciphers seal differently under
// the same handshake keys (a transform can never fall back silently).
func TestTransformCiphersDiffer(t *testing.T) {
	a, _ := transformPair(CipherChaChaPoly)
	b, _ := transformPair(CipherAESGCM)
	if bytes.Equal(a.Seal(nil, []byte("same")), b.Seal(nil, []byte("same"))) {
		t.Error("ChaCha20-Poly1305 and AES-256-GCM transforms sealed alike")
	}
	if _, gw := transformPair(CipherChaChaPoly); func() bool { _, err := gw.Open(nil, b.Seal(nil, []byte("x"))); return err == nil }() {
		t.Error("a ChaCha20-Poly1305 end opened an AES-256-GCM payload")
	}
}

// TestTransformAESRekey: an AES-256-GCM direction replaces its key every
// aesRekeyEvery payloads with Noise's REKEY (§11.3), as flynn/noise's
// CipherState.Rekey does, keeps counting, and its peer follows.
func TestTransformAESRekey(t *testing.T) {
	a, b := transformPair(CipherAESGCM)
	send, recv := &a.(*noiseTransform).send, &b.(*noiseTransform).recv
	if send.rekeyMask != aesRekeyEvery-1 || recv.rekeyMask != aesRekeyEvery-1 {
		t.Fatalf("rekey every %d / %d payloads, want %d", send.rekeyMask+1, recv.rekeyMask+1, aesRekeyEvery)
	}
	const every = 4
	send.rekeyMask, recv.rekeyMask = every-1, every-1
	ref := noise.UnsafeNewCipherState(noise.NewCipherSuite(noise.DH25519, noise.CipherAESGCM, noise.HashSHA256), send.key, 0)
	first := send.key
	for i := range 10 {
		if i > 0 && i%every == 0 {
			ref.Rekey()
		}
		plain := []byte(fmt.Sprintf("payload %d", i))
		want, err := ref.Encrypt(nil, nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		got := a.Seal(nil, plain)
		if !bytes.Equal(got, want) {
			t.Fatalf("payload %d differs from noise's CipherState with Rekey every %d", i, every)
		}
		if i == every {
			// A payload that fails to open neither advances nor rekeys.
			bad := append([]byte(nil), got...)
			bad[0] ^= 1
			if _, err := b.Open(nil, bad); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("altered payload %d: %v", i, err)
			}
		}
		if out, err := b.Open(nil, got); err != nil || !bytes.Equal(out, plain) {
			t.Fatalf("payload %d: Open %q %v", i, out, err)
		}
	}
	if send.n != 10 || send.key == first {
		t.Fatalf("after 10 payloads: counter %d, key changed %v", send.n, send.key != first)
	}
}

// TestTransformChaChaNoRekey: ChaCha20-Poly1305 directions never rekey.
func TestTransformChaChaNoRekey(t *testing.T) {
	a, _ := transformPair(CipherChaChaPoly)
	if c := a.(*noiseTransform).send; c.aes {
		t.Fatalf("ChaCha20-Poly1305 direction marked AES (rekeyed every %d payloads)", c.rekeyMask+1)
	}
}

// TestTransformAESLazy: an AES-256-GCM direction makes its AEAD (key
// schedule, GHASH tables) only when it first seals or opens, so an idle
// call carries none, and a wiped one never makes it.
func TestTransformAESLazy(t *testing.T) {
	a, b := transformPair(CipherAESGCM)
	send, recv := &a.(*noiseTransform).send, &b.(*noiseTransform).recv
	if send.aead != nil || recv.aead != nil {
		t.Fatal("an unused AES-256-GCM direction already holds its AEAD")
	}
	if got, err := b.Open(nil, a.Seal(nil, []byte("first"))); err != nil || string(got) != "first" {
		t.Fatalf("first payload: %q %v", got, err)
	}
	if send.aead == nil || recv.aead == nil {
		t.Fatal("no AEAD after the first payload")
	}
	if b.(*noiseTransform).send.aead != nil {
		t.Fatal("the direction that sealed nothing made its AEAD")
	}
	c, _ := transformPair(CipherAESGCM)
	Wipe(c)
	if c.Seal(nil, []byte("x")) != nil || c.(*noiseTransform).send.aead != nil {
		t.Fatal("a wiped AES-256-GCM direction sealed or made its AEAD")
	}
}
