package main

import (
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
)

// defaultModemTimeout bounds V.42 detection and the Access Security
// handshake of one call.
const defaultModemTimeout = 30 * time.Second

// newModemV42 returns the dialer ATD uses and the verifier for incoming
// calls (see modemV42).
func newModemV42(f modemFlags, log *zap.Logger) *modemV42 {
	kh := f.knownHosts
	if kh == "" {
		kh, _ = defaultKnownHosts()
	}
	if kh == "" {
		kh = auth.KnownHostsFile // in the working directory
	}
	timeout := f.timeout
	if timeout <= 0 {
		timeout = defaultModemTimeout
	}
	return &modemV42{rate: f.baud, term: f.term, knownHosts: kh, tofu: f.tofu, timeout: timeout, answering: f.answer != "", log: log}
}
