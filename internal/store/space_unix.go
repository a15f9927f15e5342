//go:build unix

package store

import (
	"errors"

	"golang.org/x/sys/unix"
)

// outOfSpace reports whether err says the file system of the state
// directory is full (ENOSPC) or its user's quota used up (EDQUOT): the
// only failures of a reservation of session numbers after which
// NextSession hands out numbers from memory.
func outOfSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
