package tcp

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/dialgate/dialgate/transport"
)

// MeterWire returns c with its reads counted against a budget of their
// own, which a Line made over it, directly or under TLS
// (tls.Server(MeterWire(c), cfg)), sets with its SetReadBudget: on a TLS
// line every octet the peer sends then counts (record headers,
// authentication tags, padding, records that carry no data), not only
// the data octets Read returns. A TLS 1.3 record may carry one data
// octet and 16 KiB of padding (RFC 8446, 5.4), so a budget on data alone
// let a caller that had not logged in send about 15 GB in 21 s, a core
// busy decrypting, until handshake_deadline (security trial). The
// budget is unbounded until the line sets it.
func MeterWire(c net.Conn) net.Conn { return &wireConn{Conn: c} }

// wireConn is MeterWire's connection.
type wireConn struct {
	net.Conn
	budget transport.ReadBudget
}

// Read reads the connection; over the budget it fails with an error
// wrapping transport.ErrReadBudget (and the octets are dropped).
func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.budget.Spend(n) {
		return 0, fmt.Errorf("tcp: read: %w", transport.ErrReadBudget)
	}
	return n, err
}

// NetConn is the metered connection (sockstate finds the TCP socket
// through it).
func (c *wireConn) NetConn() net.Conn { return c.Conn }

// wireBudgetOf is the budget of the MeterWire connection under c (itself,
// or under TLS), or nil.
func wireBudgetOf(c net.Conn) *transport.ReadBudget {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if w, ok := c.(*wireConn); ok {
		return &w.budget
	}
	return nil
}
