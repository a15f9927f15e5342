package main

import (
	stdlog "log"
	"strings"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/internal/burstlog"
)

// httpErrorLog is the ErrorLog of the gateway's own HTTP servers (the
// metrics listener, the control socket): net/http's lines (an accept
// failing while the descriptors run out, retried every few
// milliseconds; a client's malformed request) become the gateway's log
// lines, warnings naming the server, summed into at most one a second
// (burstlog). Without it net/http wrote them to stderr in its own
// format, many a second, among the JSON lines.
func httpErrorLog(log *zap.Logger, server string) *stdlog.Logger {
	b := &burstlog.Log{Emit: func(n int, last string) {
		log.Warn("http server error", zap.String("server", server), zap.Int("errors", n), zap.String("error", last))
	}}
	return stdlog.New(httpLogWriter{b}, "", 0)
}

type httpLogWriter struct{ b *burstlog.Log }

func (w httpLogWriter) Write(p []byte) (int, error) {
	// net/http's own lines begin "http: ".
	w.b.Add(strings.TrimPrefix(strings.TrimRight(string(p), "\n"), "http: "))
	return len(p), nil
}
