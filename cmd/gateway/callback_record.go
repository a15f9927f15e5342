package main

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dialgate/dialgate/callbackd"
	"github.com/dialgate/dialgate/internal/store"
)

// callbackHistory keeps, for each callback job still trying, why its
// dial attempts failed, so that its callback-failed record tells them
// all: the record had only the last attempt's reason, and an operator
// had to find the others in the log.
type callbackHistory struct {
	mu      sync.Mutex
	earlier map[uint64][]string // by session: the failed attempts' reasons, in order
}

// take notes the attempt a and returns the job's callback-failed record
// once a is its last and the job never connected. Every job ends with a
// final attempt (callbackd), which forgets the job.
func (h *callbackHistory) take(a callbackd.Attempt) (store.CallRecord, bool) {
	h.mu.Lock()
	earlier := h.earlier[a.Session]
	if a.Final {
		delete(h.earlier, a.Session)
	} else if a.Result != callbackd.Connected {
		h.earlier[a.Session] = append(earlier, attemptReason(a))
	}
	h.mu.Unlock()
	rec, ok := callbackFailedRecord(a)
	if ok && len(earlier) > 0 {
		rec.Reason += "; before: " + summarizeAttempts(earlier)
	}
	return rec, ok
}

// callbackFailedRecord is the call record of a callback job that ended
// without connecting (its final attempt). CallbackAttempts counts the
// dials made for the job: a.Dials, since a.Number is 0 on a record that
// made no dial itself (expiry, shutdown).
func callbackFailedRecord(a callbackd.Attempt) (store.CallRecord, bool) {
	if !a.Final || a.Result == callbackd.Connected {
		return store.CallRecord{}, false
	}
	// remote and line as a callback's record has them (host:port, the
	// line's scheme), from the address dialled (callback trial: the URL
	// was in remote, and line was missing).
	remote, line := a.Address, ""
	if u, err := url.Parse(a.Address); err == nil && u.Host != "" {
		remote, line = u.Host, u.Scheme
	}
	return store.CallRecord{Session: a.Session, User: a.User, Listener: a.Listener, Remote: remote, Line: line, Mode: "callback",
		Start: a.Start, End: a.End, Result: store.ResultCallbackFailed, Reason: attemptReason(a), CallbackAttempts: a.Dials}, true
}

// attemptReason is an attempt's result and why.
func attemptReason(a callbackd.Attempt) string {
	if a.Err == nil {
		return a.Result.String()
	}
	return a.Result.String() + ": " + a.Err.Error()
}

// maxAttemptsSummary bounds summarizeAttempts' text (a record is one
// line; a dial error is a hundred octets or so).
const maxAttemptsSummary = 600

// summarizeAttempts words the reasons of attempts 1.. in order, a run of
// equal ones once: "attempts 1-2: dial failed: ...; attempt 3: ...".
func summarizeAttempts(reasons []string) string {
	var parts []string
	for i := 0; i < len(reasons); {
		j := i + 1
		for j < len(reasons) && reasons[j] == reasons[i] {
			j++
		}
		if j-i == 1 {
			parts = append(parts, fmt.Sprintf("attempt %d: %s", i+1, reasons[i]))
		} else {
			parts = append(parts, fmt.Sprintf("attempts %d-%d: %s", i+1, j, reasons[i]))
		}
		i = j
	}
	s := strings.Join(parts, "; ")
	if len(s) > maxAttemptsSummary {
		n := maxAttemptsSummary
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}
