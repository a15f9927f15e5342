package modem

import (
	"testing"
	"time"
)

// BenchmarkInterpOnline measures the interpreter's cost per octet of DTE
// data while online (escape tracking included).
func BenchmarkInterpOnline(b *testing.B) {
	m := NewInterp(Config{})
	m.FromDTE(t0, []byte("ATDTbbs\r"))
	m.Connected(t0, ConnectInfo{})
	p := make([]byte, 4096)
	for i := range p {
		p[i] = byte(i)
	}
	b.SetBytes(int64(len(p)))
	now := t0
	for b.Loop() {
		now = now.Add(time.Millisecond)
		m.FromDTE(now, p)
	}
}

// BenchmarkInterpCommandLine measures one typical init string.
func BenchmarkInterpCommandLine(b *testing.B) {
	m := NewInterp(Config{})
	m.FromDTE(t0, []byte("ATE0\r"))
	line := []byte("AT S7=45 S0=0 L1 V1 X4 &c1 E0 Q0\r")
	for b.Loop() {
		m.FromDTE(t0, line)
	}
}
