package main

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/testutil"
)

// The calls dial --answer takes from the gateway's address and those from
// elsewhere have slots of their own and never take each other's place.
// Review of the squatters' fix: a call from the dialled address hung up a
// young callback that came from another address (a gateway behind a
// balancer, a tunnel), and a call from elsewhere hung up the gateway's
// own call once its set-up had run past staleAnswer.

// detectionPattern is what a V.42 caller sends first (ODP): it keeps
// dial's answer in detection.
var detectionPattern = bytes.Repeat([]byte{0x11, 0x91}, 20)

// callElsewhere calls dial's answer address from 127.0.0.2: from an
// address other than the gateway's (127.0.0.1).
func callElsewhere(answer string) (net.Conn, error) {
	_, hostPort, _ := strings.Cut(answer, "://")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	return d.Dial("tcp", hostPort)
}

// watchClose reports on the returned channel how long after now c's reads
// ended (dial hung it up), within 10 s.
func watchClose(c net.Conn) <-chan time.Duration {
	closed := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		buf := make([]byte, 512)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, err := c.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	return closed
}

func TestDialAnswerDialledAddressKeepsOthersCallback(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	g, answer := newV42CallbackGateway(t)
	g.callback = func(t *testing.T, tk *auth.Ticket) {
		_, hostPort, _ := strings.Cut(answer, "://")
		cb, err := callElsewhere(answer) // the callback, from another address, in set-up
		if err != nil {
			t.Error(err)
			return
		}
		defer cb.Close()
		cb.Write(detectionPattern)
		closed := watchClose(cb)
		var from []net.Conn
		defer func() {
			for _, c := range from {
				c.Close()
			}
		}()
		for range maxAnswering {
			c, err := net.Dial("tcp", hostPort) // from 127.0.0.1, the dialled address
			if err != nil {
				t.Error(err)
				return
			}
			c.Write(detectionPattern)
			from = append(from, c)
			time.Sleep(20 * time.Millisecond)
		}
		select {
		case d := <-closed:
			t.Errorf("the call from elsewhere was hung up after %v by calls from the dialled address", d)
		case <-time.After(3 * time.Second):
		}
	}
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "pw"}, "--user", "bob", "--tofu", "--answer-timeout", "6s",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", answer, addr)
	r.wait(t)
}

func TestDialAnswerElsewhereKeepsGatewaysCall(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	defer func(d time.Duration) { staleAnswer = d }(staleAnswer)
	staleAnswer = 300 * time.Millisecond
	g, answer := newV42CallbackGateway(t)
	placer := testPlacer()
	g.callback = func(t *testing.T, tk *auth.Ticket) {
		_, hostPort, _ := strings.Cut(answer, "://")
		// A call from the gateway's address whose set-up is slow.
		gw, err := net.Dial("tcp", hostPort)
		if err != nil {
			t.Error(err)
			return
		}
		defer gw.Close()
		gw.Write(detectionPattern)
		closed := watchClose(gw)
		time.Sleep(50 * time.Millisecond)
		var squat []net.Conn
		defer func() {
			for _, c := range squat {
				c.Close()
			}
		}()
		for i := range maxAnswering {
			if i == maxAnswering-1 {
				time.Sleep(2 * staleAnswer) // the gateway's call is stale now
			}
			c, err := callElsewhere(answer)
			if err != nil {
				t.Error(err)
				return
			}
			c.Write(detectionPattern)
			squat = append(squat, c)
		}
		select {
		case d := <-closed:
			t.Errorf("the call from the gateway's address was hung up after %v, to answer one from elsewhere", d)
		case <-time.After(2 * time.Second):
		}
		placeEchoCallback(t, placer, answer, tk)
	}
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "pw"}, "--user", "bob", "--tofu", "--answer-timeout", "15s",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", answer, addr)
	waitFor(t, func() bool {
		return strings.Contains(r.stderr.String(), "callback answered") || strings.Contains(r.stderr.String(), "no callback within")
	})
	r.stdin.Close()
	r.wait(t)
}

// TestDialAnswerFloodHungUp: a call to --answer that sends more than a
// set-up takes before proving the ticket is hung up, and the gateway's
// callback is answered after it. Security trial: the gateway's own
// callbackd bounded the party answering its callback, dial read a
// stranger's garbage at network speed until --timeout.
func TestDialAnswerFloodHungUp(t *testing.T) {
	withTestLAPM(t)
	testutil.CheckGoroutines(t)
	g, answer := newV42CallbackGateway(t)
	placer := testPlacer()
	g.callback = func(t *testing.T, tk *auth.Ticket) {
		c, err := callElsewhere(answer)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		// The detection pattern, then what is no frame: the link's
		// set-up reads on (to --timeout without a bound).
		c.Write(detectionPattern)
		if sent := testutil.Flood(c, 'x', 16<<20); sent >= 16<<20 {
			t.Errorf("dial took %d octets from a caller that never proved the ticket", sent)
		}
		placeEchoCallback(t, placer, answer, tk)
	}
	addr := fakeGateway(t, true, g.handle)
	r := startDial(t, map[string]string{envPassword: "pw"}, "--user", "bob", "--tofu", "--answer-timeout", "15s",
		"--known-hosts", filepath.Join(t.TempDir(), "kh"), "--answer", answer, addr)
	waitFor(t, func() bool {
		return strings.Contains(r.stderr.String(), "callback answered") || strings.Contains(r.stderr.String(), "no callback within")
	})
	if !strings.Contains(r.stderr.String(), "callback answered") {
		t.Errorf("the callback after the flood was not answered: %s", r.stderr.String())
	}
	if !strings.Contains(r.stderr.String(), "refused an incoming call: ") || !strings.Contains(r.stderr.String(), "before logging in") {
		t.Errorf("the flood's refusal not said: %s", r.stderr.String())
	}
	r.stdin.Close()
	r.wait(t)
}
