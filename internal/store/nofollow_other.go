//go:build !unix

package store

import (
	"fmt"
	"os"
	"runtime"
)

// errUnsupported is what the store says where it cannot open its files
// as it must: without O_NOFOLLOW, O_NONBLOCK and flock(2).
var errUnsupported = fmt.Errorf("the state directory is not supported on %s (the store needs O_NOFOLLOW and flock, which only Unix systems have)", runtime.GOOS)

// openFile: see nofollow_unix.go; here it fails with errUnsupported.
func openFile(string, int, os.FileMode) (*os.File, error) { return nil, errUnsupported }

// tryLock: see nofollow_unix.go; here it fails with errUnsupported.
func tryLock(*os.File) (busy bool, err error) { return false, errUnsupported }
