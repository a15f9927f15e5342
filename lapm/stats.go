package lapm

import "time"

// Stats counts what a Link did. All counters are cumulative since Open.
type Stats struct {
	FramesSent     uint64 // every frame handed to the encoder
	FramesReceived uint64 // every frame with a good FCS that parsed
	IFramesSent    uint64 // I frames, first transmissions and retransmissions
	IFramesRecv    uint64 // I frames accepted in sequence (delivered)
	BytesSent      uint64 // payload octets of first I-frame transmissions (sealed)
	BytesReceived  uint64 // payload octets of delivered I frames (sealed)
	IFramesAcked   uint64 // I frames the peer acknowledged
	BytesAcked     uint64 // payload octets of the I frames the peer acknowledged (sealed)
	Retransmitted  uint64 // I frames sent again (REJ, SREJ, poll recovery)
	Duplicates     uint64 // I frames received again and discarded
	REJSent        uint64
	REJReceived    uint64
	SREJSent       uint64
	SREJReceived   uint64
	RNRSent        uint64
	RNRReceived    uint64
	FRMRSent       uint64
	FRMRReceived   uint64
	T401Expiries   uint64 // acknowledgement timer expiries (each one polls or retransmits)
	T403Polls      uint64 // idle polls
	InvalidFrames  uint64 // frames that parsed badly or broke the protocol

	// Line-level decoder counters (from the HDLC deframer).
	FCSErrors     uint64
	Aborts        uint64
	TooLong       uint64
	TooShort      uint64
	LineBytesSent uint64 // octets written to the line
	LineBytesRecv uint64 // octets read from the line

	Negotiated Negotiated // parameters in force

	// T401 is the acknowledgement timer in force: Config.T401, or the
	// measured round trip's timeout where that is longer.
	T401 time.Duration
}
