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
	a, _ := transformPair()
	a.(*noiseTransform).send.SetNonce(noise.MaxNonce + 1)
	if a.Seal(nil, []byte("x")) != nil {
		t.Error("Seal past the last counter")
	}
}

func BenchmarkTransform(b *testing.B) {
	for _, size := range []int{128, 1024, 4096} {
		plain := make([]byte, size)
		b.Run(fmt.Sprintf("seal-%d", size), func(b *testing.B) {
			a, _ := transformPair()
			buf := make([]byte, 0, size+tagLen)
			b.SetBytes(int64(size))
			for b.Loop() {
				buf = a.Seal(buf[:0], plain)
			}
		})
		b.Run(fmt.Sprintf("seal+open-%d", size), func(b *testing.B) {
			a, c := transformPair()
			buf := make([]byte, 0, size+tagLen)
			out := make([]byte, 0, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				buf = a.Seal(buf[:0], plain)
				var err error
				if out, err = c.Open(out[:0], buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
