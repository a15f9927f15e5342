package auth

import "context"

// XIDConn is what Access Security needs from the link: XID command/response
// exchanges carrying opaque token payloads, and the link's own parameter
// negotiation for the Noise prologue. lapm.Link implements it; auth does not
// import lapm.
//
// Payloads up to MaxTokenSize octets are carried by the link, which splits
// them into 255-octet parameters of the private parameter set "DGAS1"
// (docs/access-security.md §1). Methods honour ctx; when the line hangs up
// they return an error promptly.
type XIDConn interface {
	// ExchangeXID sends an XID command carrying payload and returns the
	// payload of the peer's XID response.
	ExchangeXID(ctx context.Context, payload []byte) ([]byte, error)
	// AcceptXID waits for the peer's next XID command and returns its
	// payload. A command whose payload the link does not take (too
	// long) is returned as an error wrapping ErrMalformed; it is still
	// to be answered with RespondXID (Access Security's REJECT).
	AcceptXID(ctx context.Context) ([]byte, error)
	// RespondXID answers the command last returned by AcceptXID.
	RespondXID(payload []byte) error
	// NegotiationTranscript returns the information fields of the link's
	// parameter-negotiation XID command followed by its response, as this
	// end saw them. It is bound into the Noise prologue.
	NegotiationTranscript() []byte
}
