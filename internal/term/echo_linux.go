package term

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// echoOff turns off the echo of the terminal fd, keeping line editing and
// signals, and returns the function that restores its previous mode. It
// runs before the password prompt is written, so that nothing typed after
// the prompt appears can be echoed (as readpassphrase(3) does).
func echoOff(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("term: reading the terminal's mode: %w", err)
	}
	st := *old
	st.Lflag &^= unix.ECHO
	st.Lflag |= unix.ICANON | unix.ISIG
	st.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &st); err != nil {
		return nil, fmt.Errorf("term: turning echo off: %w", err)
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// flushInput discards what is typed on the terminal fd and not yet read
// (tcflush(fd, TCIFLUSH)).
func flushInput(fd int) { _ = unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH) }
