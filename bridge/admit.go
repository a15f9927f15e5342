package bridge

// Who is answered: a caller's address against its listener's
// allowed_sources, the line slots and the hold-off (BUSY and the words
// before it), and what a caller may send before it has logged in.

import (
	"fmt"
	"time"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/transport"
	"github.com/dialgate/dialgate/transport/proxyproto"
)

// reasonNotAllowed is the record's reason for a caller whose address is
// not in its listener's allowed_sources.
const reasonNotAllowed = "address not in the listener's allowed_sources"

// busyMessage is what a caller turned away without a line hears: one
// short line saying why, under the gateway's name as in the login banner
// ("\r\ndialgate: redialled too soon; try again in 2 s\r\n"), then the
// BUSY result line exactly as a modem says it. BUSY stays the last line,
// as a modem's result code ends an exchange, so scripts and modems that
// wait for it still match. left is the rest of the caller's hold-off,
// told in whole seconds rounded up. The reason goes to telnet-modem
// lines (tcp, telnet), where modems, tcpser and terminals call, and to
// WebSocket lines (ws, wss too), whose browser page shows it; other lines
// (in-memory test lines) hear the bare BUSY.
func busyMessage(gatewayName, lineTransport string, why busyReason, left time.Duration) string {
	var hint string
	switch why {
	case busyHoldoff:
		hint = fmt.Sprintf("redialled too soon; try again in %d s", max(1, (left+time.Second-1)/time.Second))
	case busyFull:
		hint = "all lines busy; try again later"
	case busyPerSource:
		hint = "too many calls from your address; hang up one first"
	case busyMaintenance:
		hint = "down for maintenance; try again later"
	case busyDraining:
		hint = "shutting down; try again later"
	}
	switch lineTransport {
	case "tcp", "telnet", "ws", "tls", "telnets", "wss":
	default:
		hint = ""
	}
	if hint == "" {
		return msgBusy
	}
	if !printableASCII(gatewayName) {
		// The callers take only printable ASCII before BUSY (a name
		// such as "Café BBS" would make the BUSY a hang-up): the reason
		// alone.
		return "\r\n" + hint + "\r\n" + msgBusy
	}
	return "\r\n" + gatewayName + ": " + hint + "\r\n" + msgBusy
}

// printableASCII reports whether s is all printable ASCII (space to ~).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// holdoffLeft is how much of source's hold-off is left at now; 0 if none.
func (s *slots) holdoffLeft(source string, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until, ok := s.hangup[source]; ok && now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

// maxPreLogin bounds what a caller may send before its session is
// bridged (its login, and a refusal after it), on lines that can count it (transport.ReadBudgeter: tcp, ws; also under a
// pacing wrapper, line_rate). A login takes
// a few KiB even on a noisy line (V.42 detection, XID, the Access Security
// tokens, retransmissions; or a user name and password), and idle flags at
// 33,600 bit/s fill 1 MiB in about four minutes, longer than any
// handshake_deadline. A caller without an account who sends garbage at
// network speed instead (about one processor's worth of decoding, the
// adversarial trial) is hung up after this much.
const maxPreLogin = 1 << 20

// reasonFlood is the record's reason for a caller hung up at maxPreLogin.
const reasonFlood = "caller sent more than 1 MiB before logging in"

// busy turns away c, which got no line slot (why), with its BUSY answer
// and record.
//
//go:noinline
func (s *Server) busy(c *call, why busyReason) {
	if why == busyPerSource || why == busyHoldoff {
		c.linger = floodLinger // its own address is the reason
	}
	setReadBudget(c.line, busyReadBudget)
	var left time.Duration
	if why == busyHoldoff {
		left = s.slots.holdoffLeft(c.source, s.now())
	}
	s.turnAway(c, store.ResultBusy, string(why), busyMessage(c.st.cfg.GatewayName, c.info.Transport, why, left))
}

// turnAway ends c, which has no line slot, with result, reason and the
// caller's last words msg, and records it; at most a bounded number of
// such records wait for the disk at once (a flood).
//
//go:noinline
func (s *Server) turnAway(c *call, result, reason, msg string) {
	c.end(result, reason, msg)
	if !s.busyRecords.acquire() {
		// Flood: the record is dropped, the metric still counts it.
		s.metrics.callRecorded(c.rec)
		s.busyRecords.dropped()
		return
	}
	defer s.busyRecords.release()
	c.number()
	c.finish()
}

// sourceAllowed reports whether a caller at addr (host:port) may call a
// listener with allowed (IP addresses and CIDR prefixes; none: any
// caller). An address that cannot be told (an in-memory line) is not
// allowed by a list.
func sourceAllowed(allowed []string, addr string) bool {
	if len(allowed) == 0 {
		return true
	}
	set, err := proxyproto.ParseTrusted(allowed) // checked by config: no error
	return err == nil && set.Contains(addr)
}

// setReadBudget sets the read budget of line (transport.ReadBudgeter,
// under any wrapper) to n octets, -1 for none; lines that cannot count
// are left as they are.
func setReadBudget(line transport.Line, n int64) {
	if b, ok := lineAs[transport.ReadBudgeter](line); ok {
		b.SetReadBudget(n)
	}
}

// readBudgetSpent reports whether line (under any wrapper) found its peer
// over the read budget.
func readBudgetSpent(line transport.Line) bool {
	b, ok := lineAs[interface{ ReadBudgetSpent() bool }](line)
	return ok && b.ReadBudgetSpent()
}

// busyReadBudget is what a BUSY caller may send before its line stops
// waiting for its close (the octets are discarded): a telnet client's
// negotiation or a modem's V.42 detection pattern takes a few hundred
// octets, while a caller flooding each of its BUSY calls had even
// maxPreLogin of each discarded about 700 times a second, 60 % of a core
// (hostile-peer trial).
const busyReadBudget = 64 << 10
