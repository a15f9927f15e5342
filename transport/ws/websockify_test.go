//go:build unix

package ws

import (
	"bytes"
	"io"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDialWebsockify dials Debian's websockify (a WebSocket server none of
// us wrote) in front of a TCP echo server, with no subprotocol and with
// "binary" (websockify 0.10 supports nothing else), and checks the echo.
func TestDialWebsockify(t *testing.T) {
	bin := testutil.NeedBinary(t, "websockify")
	testutil.CheckGoroutines(t)

	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer echo.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wsAddr := free.Addr().String()
	free.Close()
	cmd := exec.Command(bin, wsAddr, echo.Addr().String())
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // websockify forks per connection
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("websockify said:\n%s", out.String())
		}
	}()

	url := "ws://" + wsAddr + "/"
	ctx := testCtx(t, 60*time.Second)
	for _, proto := range []string{"", ProtoBinary} {
		var c *Line
		for {
			c, err = Dial(ctx, url, DialOptions{Subprotocol: proto})
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond) // websockify still starting
		}
		if err != nil {
			t.Fatalf("dial websockify (proto %q): %v", proto, err)
		}
		want := interopOctets(1 << 20)
		go func() {
			if _, err := c.Write(want); err != nil {
				t.Errorf("write: %v", err)
			}
		}()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("proto %q: read echo: %v", proto, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("proto %q: echo differs", proto)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
