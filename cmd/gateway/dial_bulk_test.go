package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestE2EDialV42BulkThenClose: 64 MiB from a TCP backend that then closes
// at once reach dial's stdout whole over the full V.42 path (LAPM, sealed
// payloads), followed by the gateway's closing words; dial exits 0.
func TestE2EDialV42BulkThenClose(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB transfer skipped in -short mode")
	}
	const size = 64 << 20
	seed := [32]byte{6, 4}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close() // at once after the last octet, nothing read
		r := rand.NewChaCha8(seed)
		buf := make([]byte, 1<<20)
		for sent := 0; sent < size; sent += len(buf) {
			r.Read(buf)
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	g := newGateway(t, gwOpts{echoAddr: ln.Addr().String(), v42: "detect"})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewayBinary(t), "dial", "--user", "bob", "--tofu", "--quiet",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "telnet://"+g.addr)
	cmd.Env = append(os.Environ(), "DIALGATE_PASSWORD=pw-bob")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close() // stdin stays open: the gateway's side ends the call
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.CopyN(got, out, size)
	tail, _ := io.ReadAll(out)
	werr := cmd.Wait()
	if err != nil || n != size {
		t.Fatalf("stdout gave %d of %d octets: %v\ndial:\n%s\ngateway:\n%s", n, size, err, stderr.String(), g.log)
	}
	want := sha256.New()
	io.CopyN(want, rand.NewChaCha8(seed), size)
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("64 MiB arrived corrupted")
	}
	if !strings.Contains(string(tail), "NO CARRIER (the service ended the session)") {
		t.Errorf("after the data: %q", tail)
	}
	if werr != nil {
		t.Errorf("dial: %v\n%s", werr, stderr.String())
	}
}
