package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dialgate/dialgate/auth"
)

// The users file's writers (gateway user, the demo's first start) take an
// exclusive flock(2) on "<users file>.lock" around their read-modify-write,
// so that two commands run at once cannot both read the old file and the
// last rename lose the other's change. The lock file is never removed
// (removing it would let a third writer lock a new file while the second
// holds the old one). The daemon only reads the users file; Save replaces
// it by rename, so a reload (SIGHUP) sees the old or the new file whole
// and never waits for the lock.

// errUsersLocked is wrapped when another writer holds the lock longer
// than the caller waits.
var errUsersLocked = errors.New("users file locked")

// defaultUsersLockWait is how long gateway user waits for the lock.
const defaultUsersLockWait = 10 * time.Second

// usersLockPoll is how often a waiting writer tries the lock again.
const usersLockPoll = 20 * time.Millisecond

// lockUsersFile takes the users file's lock, waiting up to wait for
// another writer to finish, and returns the function that releases it.
// The directory is created (0700) if it is missing, as Save would.
func lockUsersFile(usersFile string, wait time.Duration) (unlock func(), err error) {
	path := usersFile + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			// New-user trial: the example's users_file kept after
			// state_dir was changed ("mkdir /var/lib/dialgate:
			// permission denied", and no more).
			return nil, fmt.Errorf("users file %s: %w: user %s may not create its directory; run the command as the gateway's user, and keep users_file in the state directory (the default), which that user owns", usersFile, err, currentUserName())
		}
		return nil, err
	}
	// Never through a symbolic link (oNoFollow): root running gateway
	// user would truncate the link's target and give it to the users
	// file's owner (pentest: a link to /etc/shadow planted by the
	// gateway's user made /etc/shadow theirs).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("users file lock %s is a symbolic link: remove it (the lock is an empty file of its own)", path)
		}
		if errors.Is(err, fs.ErrPermission) {
			// New-user trial: a users_file outside the state
			// directory, in one only root may write in; the same
			// command as root then made a file the gateway could not
			// read.
			return nil, fmt.Errorf("users file lock: %w: user %s may not write in %s, where the users file and its lock are; run the command as the gateway's user, and keep users_file in the state directory (the default), which that user owns", err, currentUserName(), filepath.Dir(path))
		}
		return nil, fmt.Errorf("users file lock: %w", err)
	}
	if !singleLink(f) {
		f.Close()
		return nil, fmt.Errorf("users file lock %s is not a regular file with a single name (a hard link to another file?): remove it", path)
	}
	shareLockOwner(f, usersFile)
	deadline := time.Now().Add(wait)
	for {
		busy, err := tryLockFile(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("users file lock %s: %w", path, err)
		}
		if !busy {
			break
		}
		if !time.Now().Before(deadline) {
			holder := lockHolder(f)
			f.Close()
			return nil, fmt.Errorf("%w: %s is being changed by another command%s (lock %s held for more than %v); try again",
				errUsersLocked, usersFile, holder, path, wait)
		}
		time.Sleep(usersLockPoll)
	}
	// Who holds it, for the message of a writer that gives up.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = f.Truncate(0)
		unlockFile(f)
		f.Close()
	}, nil
}

// lockHolder names the process recorded in the lock file, if any.
func lockHolder(f *os.File) string {
	b := make([]byte, 16)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}

// editUsersFile loads the users file under its lock, lets edit change the
// accounts, and saves them before the lock is released. An absent file
// is an empty one when mayCreate. edit returns the exit code to use with
// its error.
func editUsersFile(path string, wait time.Duration, mayCreate bool, edit func(*auth.Users) (int, error)) (int, error) {
	unlock, err := lockUsersFile(path, wait)
	if err != nil {
		return exitFailure, err
	}
	defer unlock()
	users, err := loadUsersFile(path, mayCreate)
	if err != nil {
		return exitFailure, err
	}
	if code, err := edit(users); err != nil {
		return code, err
	}
	if err := users.Save(path); err != nil {
		return exitFailure, err
	}
	return exitOK, nil
}

// shareLockOwner gives the lock file, when root runs gateway user, the
// users file's owner and group: a lock file root created as root:root
// 0600 would make every later gateway user run as the gateway's own user
// fail with "permission denied" (as Save keeps the users file's owner).
// Before the users file exists, the lock gets its directory's owner
// when that is not root, as the new users file will (auth.Users.Save).
func shareLockOwner(lock *os.File, usersFile string) {
	if os.Geteuid() != 0 {
		return
	}
	if uid, gid, ok := fileOwner(usersFile); ok {
		_ = lock.Chown(uid, gid)
	} else {
		takeDirOwner(lock, filepath.Dir(usersFile))
	}
}

// takeDirOwner gives f, a file root made in dir, dir's owner and group
// when that owner is not root: the rule for the gateway's files that root
// creates by mistake (a users file's lock, a log file; auth.Users.Save
// applies it to the users file). Run as another user it does nothing.
func takeDirOwner(f *os.File, dir string) {
	if os.Geteuid() != 0 {
		return
	}
	if uid, gid, ok := fileOwner(dir); ok && uid != 0 {
		_ = f.Chown(uid, gid)
	}
}
