//go:build unix && !linux

package bridge

import "os"

// ptyInputQueued cannot tell the pty's unread input on this system: a
// caller's hang-up reaches the program at once.
func ptyInputQueued(*os.File) (int, bool) { return 0, false }
