package auth

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/flynn/noise"
)

// transformPair returns the two ends of a data phase with fixed keys.
func transformPair() (a, b Transform) {
	var k1, k2 [32]byte
	k1[0], k2[0] = 1, 2
	a = newTransform(noise.UnsafeNewCipherState(cipherSuite, k1, 0), noise.UnsafeNewCipherState(cipherSuite, k2, 0))
	b = newTransform(noise.UnsafeNewCipherState(cipherSuite, k2, 0), noise.UnsafeNewCipherState(cipherSuite, k1, 0))
	return a, b
}

func TestTransformRoundTripAndAppend(t *testing.T) {
	a, b := transformPair()
	prefix := []byte("hdr")
	s := a.Seal(append([]byte(nil), prefix...), []byte("payload"))
	if !bytes.HasPrefix(s, prefix) || len(s) != len(prefix)+len("payload")+a.Overhead() {
		t.Fatalf("Seal did not append: %x", s)
	}
	got, err := b.Open([]byte("x"), s[len(prefix):])
	if err != nil || string(got) != "xpayload" {
		t.Fatalf("Open: %q %v", got, err)
	}
}

func TestTransformRejectsTamperReplayReorder(t *testing.T) {
	a, b := transformPair()
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
}

func TestTransformWipe(t *testing.T) {
	a, _ := transformPair()
	Wipe(a)
	if a.Seal(nil, []byte("x")) != nil {
		t.Error("Seal after Wipe")
	}
	if _, err := a.Open(nil, make([]byte, 32)); !errors.Is(err, ErrTransformClosed) {
		t.Errorf("Open after Wipe: %v", err)
	}
}

func TestTransformCounterExhausted(t *testing.T) {
	a, b := transformPair()
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
	tr := newTransform(noise.UnsafeNewCipherState(cipherSuite, k1, 1), noise.UnsafeNewCipherState(cipherSuite, k2, 1))
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
	a, b := transformPair()
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
}

func BenchmarkTransform(b *testing.B) {
	for _, size := range []int{128, 1024, 4096} {
		plain := make([]byte, size)
		b.Run(fmt.Sprintf("seal-%d", size), func(b *testing.B) {
			a, _ := transformPair()
			buf := make([]byte, 0, size+tagLen)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf = a.Seal(buf[:0], plain)
			}
		})
		b.Run(fmt.Sprintf("seal+open-%d", size), func(b *testing.B) {
			a, c := transformPair()
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
