package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// TestE2EDialZMODEM sends a 4 MiB random file with ZMODEM (lrzsz: sz on
// a pty backend, rz at the caller) through `gateway dial` on the full
// path (V.42 detection, LAPM, Access Security, sealed payloads), with
// rz's stdin and stdout joined to dial's by pipes, and checks it arrives
// byte-exact: dial is binary-transparent from a pipe.
func TestE2EDialZMODEM(t *testing.T) {
	if testing.Short() {
		t.Skip("4 MiB ZMODEM transfer skipped in -short mode")
	}
	sz := testutil.NeedBinary(t, "sz")
	rz := testutil.NeedBinary(t, "rz")
	dir := t.TempDir()
	src := filepath.Join(dir, "payload.bin")
	data := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{4, 2}).Read(data)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, gwOpts{v42: "detect"})
	conf, _ := os.ReadFile(g.cfgPath)
	conf = append(conf, fmt.Sprintf("[[backend]]\nname = \"zmodem\"\ntype = \"pty\"\ncommand = [%q, \"-q\", %q]\n", sz, src)...)
	os.WriteFile(g.cfgPath, conf, 0o600)
	g.writeUsers(map[string]string{"zed": "zmodem"})
	g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog(`"msg":"reloaded (SIGHUP)"`)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := filepath.Join(dir, "recv")
	os.Mkdir(out, 0o700)
	// rz stdout -> dial stdin, dial stdout -> rz stdin.
	toDial, fromRZ, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	toRZ, fromDial, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	dial := exec.CommandContext(ctx, gatewayBinary(t), "dial", "--user", "zed", "--tofu",
		"--known-hosts", filepath.Join(dir, "kh"), "telnet://"+g.addr)
	dial.Env = append(os.Environ(), "DIALGATE_PASSWORD=pw-zed")
	dial.Stdin, dial.Stdout = toDial, fromDial
	var dialErr bytes.Buffer
	dial.Stderr = &dialErr
	recv := exec.CommandContext(ctx, rz, "-q", "-y")
	recv.Dir = out
	recv.Stdin, recv.Stdout = toRZ, fromRZ
	var rzErr bytes.Buffer
	recv.Stderr = &rzErr
	if err := dial.Start(); err != nil {
		t.Fatal(err)
	}
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	// The children hold their ends now. The parent keeps the read end of
	// rz's output open until rz has exited: when sz ends the session, the
	// gateway hangs up and dial exits while rz may still write its last
	// "OO"; like a terminal program would, we let that go nowhere instead
	// of killing rz with SIGPIPE.
	fromRZ.Close()
	toRZ.Close()
	fromDial.Close()
	rzRes := recv.Wait()
	toDial.Close()
	dialRes := dial.Wait()
	if rzRes != nil {
		t.Fatalf("rz: %v\n%s\ndial:\n%s\ngateway log:\n%s", rzRes, rzErr.String(), dialErr.String(), g.log.String())
	}
	if dialRes != nil {
		t.Errorf("dial: %v\n%s", dialRes, dialErr.String())
	}
	got, err := os.ReadFile(filepath.Join(out, "payload.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("ZMODEM: received %d octets, differ from the %d sent", len(got), len(data))
	}
	recs := g.waitRecords(1)
	if r := recs[len(recs)-1]; r.Mode != "v42" || r.LAPM == nil || !r.LAPM.Sealed || r.BytesOut < int64(len(data)) {
		t.Errorf("record %+v", r)
	}
}
