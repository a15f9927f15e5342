package lapm

// Transform seals data-phase payloads for an upper layer (Access Security
// encrypts every I-frame payload with it).
//
// The Link calls Seal exactly once per I-frame payload, in order, when Write
// enqueues the payload; the sealed octets are what the retransmission buffer
// holds, so a retransmitted frame is byte-identical to the first
// transmission. Open is called exactly once per payload, in order, when the
// frame is delivered in sequence (LAPM guarantees in-order, exactly-once
// delivery, so an implicit message counter is safe). An error from Open
// fails the link with ErrPayloadRefused (an ErrTransform).
//
// Seal returns nil when it can seal no more (an exhausted counter, a
// transform wiped as the call ends); Write then sends what was sealed
// before, counts it, and fails with ErrTransform.
//
// Seal and Open may append to dst and return the extended slice. The Link
// calls Open with dst = sealed[:0] (open in place, as crypto/cipher.AEAD
// allows), so Open must support that exact overlap. They are never called
// concurrently with themselves; Seal and Open may run concurrently with
// each other.
//
// A Transform with a method Wipe() (auth's has one) has it called by
// Link.Close, once no Seal or Open can run any more: the keys are dropped
// when the call ends (STYLE: wipe key material when done).
type Transform interface {
	// Overhead is how many octets Seal adds to a payload. The Link sizes
	// payloads so that plain+Overhead() fits the negotiated N401.
	Overhead() int
	Seal(dst, plain []byte) []byte
	Open(dst, sealed []byte) ([]byte, error)
}
