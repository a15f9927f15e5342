package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestUserConcurrentEdits runs many `gateway user` processes (the built
// binary) on one users file at once: eight adds of different users, a
// set and a del of existing ones. Every change must be in the file
// afterwards; without the lock the last rename wins and the others'
// changes are lost.
func TestUserConcurrentEdits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bin := gatewayBinary(t)
	path := filepath.Join(t.TempDir(), "users.toml")
	for _, id := range []string{"keep", "gone"} {
		if r := userCmd(t, "pw-"+id+"\n", nil, append([]string{"add", "--users", path, "--password-stdin", id}, userCmdCheap...)...); r.code != exitOK {
			t.Fatalf("add %s: %+v", id, r)
		}
	}
	const n = 8
	type run struct {
		args  []string
		stdin string
	}
	var runs []run
	for i := range n {
		id := fmt.Sprintf("user%d", i)
		runs = append(runs, run{append([]string{"user", "add", "--users", path, "--password-stdin", id}, userCmdCheap...), "pw-" + id + "\n"})
	}
	runs = append(runs, run{[]string{"user", "set", "--users", path, "--backend", "bbs", "keep"}, ""},
		run{[]string{"user", "del", "--users", path, "gone"}, ""})
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	start := make(chan struct{})
	for i, r := range runs {
		wg.Go(func() {
			cmd := exec.Command(bin, r.args...)
			cmd.Stdin = strings.NewReader(r.stdin)
			<-start
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%v: %v: %s", r.args, err, out)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	users, err := auth.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if users.Len() != n+1 {
		t.Errorf("%d users, want %d: %v", users.Len(), n+1, users.List())
	}
	for i := range n {
		id := fmt.Sprintf("user%d", i)
		if err := userCmdVerify(t, path, id, "pw-"+id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if u, ok := users.Lookup("keep"); !ok || u.Backend != "bbs" {
		t.Errorf("keep: %+v %v", u, ok)
	}
	if _, ok := users.Lookup("gone"); ok {
		t.Error("gone was not deleted")
	}
}

// TestUserLockHeld: while another process holds the users file's lock a
// command waits; after --lock-timeout it fails with a clear message,
// naming the holder, and changes nothing. Once the lock is free it works.
func TestUserLockHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.toml")
	unlock, err := lockUsersFile(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	add := append([]string{"add", "--users", path, "--password-stdin", "--lock-timeout", "100ms", "alice"}, userCmdCheap...)
	r := userCmd(t, "pw\n", nil, add...)
	want := fmt.Sprintf("is being changed by another command (pid %d)", os.Getpid())
	if r.code != exitFailure || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "try again") {
		t.Errorf("with the lock held: %+v", r)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("users file written while locked: %v", err)
	}
	for _, args := range [][]string{{"set", "--backend", "x"}, {"del"}, {"passwd", "--password-stdin"}} {
		args = append(args, "--users", path, "--lock-timeout", "1ms", "alice")
		if r := userCmd(t, "pw\n", nil, args...); r.code == exitOK {
			t.Errorf("%v succeeded: %+v", args, r)
		}
	}
	unlock()
	if r := userCmd(t, "pw\n", nil, add...); r.code != exitOK {
		t.Fatalf("after unlock: %+v", r)
	}
	if err := userCmdVerify(t, path, "alice", "pw"); err != nil {
		t.Error(err)
	}
}

// TestUserLockDoesNotBlockReload: a running gateway's reload (SIGHUP)
// reads the users file without the writers' lock: it goes through while
// a command holds it, and sees the file as last saved.
func TestUserLockDoesNotBlockReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	g := newGateway(t, gwOpts{})
	path := filepath.Join(g.dir, "users.toml")
	unlock, err := lockUsersFile(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	g.writeUsers(map[string]string{"alice": "sh", "bob": "echo", "dave": "down", "erin": "sh"})
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitLog(`"msg":"reloaded (SIGHUP)","users":4`)
}

// TestDemoKeepsExistingUsers: the demo's first start (no demo-password
// yet) adds its demo account to a users file that already exists, such as
// one `gateway user add` created at the default path the demo reads,
// instead of replacing it. Before, the accounts already there were lost.
func TestDemoKeepsExistingUsers(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Demo()
	cfg.StateDir = dir
	cfg.UsersFile = filepath.Join(dir, "users.toml")
	cfg.Security.Argon2Time, cfg.Security.Argon2MemoryKiB, cfg.Security.Argon2Threads = 1, 64, 1
	if r := userCmd(t, "pw-alice\n", nil, append([]string{"add", "--users", cfg.UsersFile, "--password-stdin", "alice"}, userCmdCheap...)...); r.code != exitOK {
		t.Fatalf("add alice: %+v", r)
	}
	pw, err := ensureDemoUser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.LoadUsers(cfg.UsersFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := users.Lookup("alice"); !ok {
		t.Error("alice, added before the demo's first start, is gone")
	}
	if err := userCmdVerify(t, cfg.UsersFile, demoUser, pw); err != nil {
		t.Errorf("demo password: %v", err)
	}
	if err := userCmdVerify(t, cfg.UsersFile, "alice", "pw-alice"); err != nil {
		t.Errorf("alice's password: %v", err)
	}
	// The next start keeps both and shows the same password.
	if again, err := ensureDemoUser(cfg); err != nil || again != pw {
		t.Errorf("second start: %q, %v; want %q", again, err, pw)
	}
}

// TestUserLockAfterCrash: a writer killed while it holds the lock (here
// flock(1) holding it, SIGKILLed) leaves the lock file behind but not the
// lock: the kernel releases a flock with its holder's last descriptor. A
// stale pid left in the file does not matter either. The lock file is
// created 0600.
func TestUserLockAfterCrash(t *testing.T) {
	flock := testutil.NeedBinary(t, "flock")
	path := filepath.Join(t.TempDir(), "users.toml")
	unlock, err := lockUsersFile(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if fi, err := os.Stat(path + ".lock"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, %v", fi, err)
	}
	// --close: the command (cat, which waits for its input to end) does
	// not inherit the lock; only flock(1) holds it.
	cmd := exec.Command(flock, "--exclusive", "--close", path+".lock", "cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close() // ends cat
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the child holds it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		u, err := lockUsersFile(path, 0)
		if err != nil {
			break
		}
		u()
		if time.Now().After(deadline) {
			t.Fatal("flock(1) never took the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.WriteFile(path+".lock", []byte("999999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	unlock, err = lockUsersFile(path, 10*time.Second)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	unlock()
}

// TestUsersLockOwner: the lock file root creates for a users file that
// belongs to the gateway's user gets that owner and group, so that the
// gateway's user can still take the lock afterwards. Regression: root's
// gateway user left a root:root 0600 lock, and the next gateway user run
// as the service user failed with "permission denied".
func TestUsersLockOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files another owner")
	}
	dir := t.TempDir()
	users := filepath.Join(dir, "users.toml")
	if err := os.WriteFile(users, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 4242, 4343
	if err := os.Chown(users, uid, gid); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockUsersFile(users, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	gotUID, gotGID, ok := fileOwner(users + ".lock")
	if !ok {
		t.Fatal("lock file not found")
	}
	if gotUID != uid || gotGID != gid {
		t.Errorf("lock file owned by %d:%d, want %d:%d (the users file's)", gotUID, gotGID, uid, gid)
	}
}

// TestNewUsersFileOwner: a users file root creates in a directory another
// user owns (the state directory of a gateway that runs as that user),
// and its lock file, get that user and group. Operator trial: "gateway
// user add" as root left both root:root 0600; the gateway could not read
// the file, and after the suggested chown of it, the gateway's user could
// not take the lock.
func TestNewUsersFileOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files another owner")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 4242, 4343
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.toml")
	unlock, err := lockUsersFile(users, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h, err := auth.HashPassword("pw", auth.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	u := auth.NewUsers()
	if err := u.Add(auth.User{ID: "zoe", Hash: h}); err != nil {
		t.Fatal(err)
	}
	if err := u.Save(users); err != nil {
		t.Fatal(err)
	}
	unlock()
	for _, p := range []string{users, users + ".lock"} {
		gotUID, gotGID, ok := fileOwner(p)
		if !ok {
			t.Fatalf("%s not found", p)
		}
		if gotUID != uid || gotGID != gid {
			t.Errorf("%s owned by %d:%d, want %d:%d (the directory's)", p, gotUID, gotGID, uid, gid)
		}
	}
	// A root-owned directory keeps root's files root's.
	rootDir := t.TempDir()
	if err := u.Save(filepath.Join(rootDir, "users.toml")); err != nil {
		t.Fatal(err)
	}
	if gotUID, _, _ := fileOwner(filepath.Join(rootDir, "users.toml")); gotUID != 0 {
		t.Errorf("a users file in root's directory owned by %d", gotUID)
	}
}
