//go:build !unix

package bridge

import (
	"fmt"
	"runtime"

	"github.com/dialgate/dialgate/internal/config"
)

// newPTYBackend refuses a pty backend: pseudo-terminals, sessions and
// process groups (SIGHUP on hang-up) are Unix. The error comes when the
// configuration is turned into a server, so the gateway does not start
// rather than failing every call.
func newPTYBackend(b config.Backend) (Backend, error) {
	return nil, fmt.Errorf("%w: %q: pty backends need a Unix system (Linux, macOS, FreeBSD), not %s", ErrBackendUnavailable, b.Name, runtime.GOOS)
}
