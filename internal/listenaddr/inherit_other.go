//go:build !unix

package listenaddr

import "errors"

// takeFD: a service manager passes no sockets on this system.
func takeFD(int) (inheritedSocket, error) {
	return inheritedSocket{}, errors.New("passed sockets are not supported on this system")
}
