package auth

import (
	"bytes"
	"crypto/ecdh"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/flynn/noise"

	"github.com/dialgate/dialgate/internal/testutil"
)

// seeded is a deterministic randomness source for key generation.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

// TestX25519MatchesReference: the handshakes' DH function generates the
// same key pairs from the same randomness as flynn/noise's DH25519 and
// computes the same shared secrets, whether it knows the private key (one
// it generated, a host key) or not.
func TestX25519MatchesReference(t *testing.T) {
	ref := noise.DH25519
	host, err := GenerateHostKey(seeded(9))
	if err != nil {
		t.Fatal(err)
	}
	x := &x25519{keys: []*ecdh.PrivateKey{host.ecdhKey()}}
	for i := range uint64(8) {
		want, err := ref.GenerateKeypair(seeded(i))
		if err != nil {
			t.Fatal(err)
		}
		got, err := x.GenerateKeypair(seeded(i))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Private, want.Private) || !bytes.Equal(got.Public, want.Public) {
			t.Fatalf("key pair %d differs from DH25519's", i)
		}
		peer, _ := ref.GenerateKeypair(seeded(100 + i))
		stranger, _ := ref.GenerateKeypair(seeded(200 + i))
		for _, priv := range [][]byte{got.Private, host.Private, stranger.Private} {
			w, werr := ref.DH(priv, peer.Public)
			g, gerr := x.DH(priv, peer.Public)
			if werr != nil || gerr != nil || !bytes.Equal(g, w) {
				t.Fatalf("DH: got %x (%v), want %x (%v)", g, gerr, w, werr)
			}
		}
	}
	if x.known(host.Private) == nil {
		t.Error("the host key is not used in its ecdh form")
	}
	last, err := x.GenerateKeypair(seeded(50))
	if err != nil {
		t.Fatal(err)
	}
	x.forget()
	if x.known(host.Private) != nil || x.known(last.Private) != nil {
		t.Error("forget kept keys")
	}
	(*x25519)(nil).forget()
}

// TestX25519LowOrderPoint: a public key of low order is refused, as
// DH25519 refuses it (the shared secret would be all zeros).
func TestX25519LowOrderPoint(t *testing.T) {
	x := &x25519{}
	kp, err := x.GenerateKeypair(seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, keyLen)
	if _, err := noise.DH25519.DH(kp.Private, zero); err == nil {
		t.Fatal("reference accepted the zero point")
	}
	if out, err := x.DH(kp.Private, zero); err == nil {
		t.Fatalf("zero point accepted: %x", out)
	}
	if _, err := x.DH(kp.Private, zero[:31]); err == nil {
		t.Fatal("short public key accepted")
	}
}

// TestHostKeyECDHForm: the ecdh form is kept by the constructors, checked
// against Private, and dropped by Wipe.
func TestHostKeyECDHForm(t *testing.T) {
	k, err := GenerateHostKey(seeded(3))
	if err != nil {
		t.Fatal(err)
	}
	if k.ecdhKey() == nil {
		t.Fatal("GenerateHostKey kept no ecdh form")
	}
	if lit := (HostKey{Private: k.Private, Public: k.Public}); lit.ecdhKey() != nil {
		t.Fatal("a HostKey literal has an ecdh form")
	}
	other := k
	other.Private = append([]byte(nil), k.Private...)
	other.Private[0] ^= 1
	if other.ecdhKey() != nil {
		t.Fatal("ecdh form used for a different private key")
	}
	k.Wipe()
	if k.ecdhKey() != nil {
		t.Fatal("Wipe kept the ecdh form")
	}
}

// BenchmarkNXHandshake is phases i–ii's cryptography, both sides (three
// X25519 multiplications each with x25519; six with DH25519).
func BenchmarkNXHandshake(b *testing.B) {
	host, err := GenerateHostKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		caller, answerer func() noise.CipherSuite
	}{
		{"DH25519", func() noise.CipherSuite { return cipherSuite }, func() noise.CipherSuite { return cipherSuite }},
		{"x25519", func() noise.CipherSuite { cs, _ := suite(); return cs }, func() noise.CipherSuite { cs, _ := suite(host.ecdhKey()); return cs }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				c, err := noise.NewHandshakeState(noise.Config{CipherSuite: tc.caller(), Pattern: noise.HandshakeNX, Initiator: true})
				if err != nil {
					b.Fatal(err)
				}
				a, err := noise.NewHandshakeState(noise.Config{CipherSuite: tc.answerer(), Pattern: noise.HandshakeNX,
					StaticKeypair: noise.DHKey{Private: host.Private, Public: host.Public}})
				if err != nil {
					b.Fatal(err)
				}
				m1, _, _, err := c.WriteMessage(nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, _, err := a.ReadMessage(nil, m1); err != nil {
					b.Fatal(err)
				}
				m2, _, _, err := a.WriteMessage(nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, _, err := c.ReadMessage(nil, m2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestKeyStore: the store starts empty, is refilled to its capacity by a
// goroutine that then ends, and hands out each key once.
func TestKeyStore(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := &keyStore{capacity: 3}
	if k := s.take(); k != nil {
		t.Fatal("an empty store gave a key")
	}
	full := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.keys) == s.capacity && !s.filling
	}
	for deadline := time.Now().Add(10 * time.Second); !full(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the store was not refilled")
		}
	}
	seen := map[string]bool{}
	for range 3 * s.capacity {
		k := s.take()
		if k == nil {
			k, _ = ecdh.X25519().GenerateKey(nil)
		}
		if seen[string(k.Bytes())] {
			t.Fatal("a key was handed out twice")
		}
		seen[string(k.Bytes())] = true
	}
	for deadline := time.Now().Add(10 * time.Second); !full(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the store was not refilled")
		}
	}
}

// TestKeyStoreConcurrent: handshakes taking keys at the same time while
// the store refills never get the same key (run with -race), and the
// refilling goroutine ends.
func TestKeyStoreConcurrent(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := &keyStore{capacity: 4}
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				k := s.take()
				if k == nil {
					continue
				}
				b := string(k.Bytes())
				mu.Lock()
				dup := seen[b]
				seen[b] = true
				mu.Unlock()
				if dup {
					t.Error("a key was handed out twice")
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) == 0 {
		t.Log("no key was ready in time for any take")
	}
}

// TestGenerateKeypairFromStore: with crypto/rand a key pair is consistent
// (the public half is the private half times the base point) and the
// handshake's DH knows it.
func TestGenerateKeypairFromStore(t *testing.T) {
	testutil.CheckGoroutines(t)
	for range 2 * keysAhead.capacity {
		x := &x25519{}
		kp, err := x.GenerateKeypair(nil)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := noise.DH25519.DH(kp.Private, basePoint())
		if err != nil || !bytes.Equal(pub, kp.Public) {
			t.Fatalf("public key %x, want %x (%v)", kp.Public, pub, err)
		}
		if x.known(kp.Private) == nil {
			t.Fatal("DH does not know the generated key")
		}
	}
}

// basePoint is the X25519 base point u = 9 (RFC 7748 §4.1).
func basePoint() []byte {
	b := make([]byte, keyLen)
	b[0] = 9
	return b
}
