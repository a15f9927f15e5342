// Package store keeps the gateway's durable state: session numbers and call
// records. The Store interface is what the call flow needs, so a shared
// database can later serve several gateways; File is the embedded default,
// plain files in the state directory:
//
//	session.next   the first session number not yet reserved (decimal)
//	calls.jsonl    one JSON call record per line, fsync'd before each call's
//	               end returns (calls ending together share one fsync)
//	store.lock     flock(2) held while a gateway uses the directory
//	open/N.json    the record so far of bridged call N while it lasts
//	               (File.OpenCall, not fsync'd): a gateway process that
//	               dies during the call leaves it, and the next one
//	               records the call as interrupted
//
// Session numbers are reserved in blocks: the new high-water mark is
// written to a temporary file, fsync'd, renamed over session.next and the
// directory fsync'd before any number of the block is handed out. A crash
// therefore skips at most the rest of a block and never reuses a number.
// When the reservation cannot be written (disk full), File hands out
// numbers from memory rather than refuse calls; see File.NextSession for
// what a restart then can and cannot avoid reusing.
package store

import (
	"errors"
	"time"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("store: closed")

// ErrLocked is returned by Open when another process uses the directory.
var ErrLocked = errors.New("store: state directory in use by another gateway")

// ErrRecordKept is wrapped by AppendRecord's error when the record could
// not be written now (disk full) and is kept in memory instead: it is
// written before the next record, or when Health's retry finds the
// state directory writable again, or at Close. Not lost, not durable yet.
var ErrRecordKept = errors.New("store: record kept in memory until the records file takes it")

// ErrCorrupt is wrapped when a state file cannot be understood.
var ErrCorrupt = errors.New("store: state file corrupt")

// Store is the durable state behind the call flow. Implementations are safe
// for concurrent use.
type Store interface {
	// NextSession returns a session number never returned before by this
	// store, across restarts and crashes. Numbers increase.
	NextSession() (uint64, error)
	// AppendRecord stores a finished call's record durably before it
	// returns nil. An error wrapping ErrRecordKept says it is kept in
	// memory to be stored later (a full disk); any other, that it is
	// lost.
	AppendRecord(r CallRecord) error
	// Close releases the store.
	Close() error
}

// Call results, the Result field of a record.
const (
	ResultCompleted   = "completed" // bridged; one side hung up
	ResultBusy        = "busy"      // no line slot (full, per-source limit, hold-off, maintenance)
	ResultDenied      = "denied"    // authentication failed
	ResultThrottled   = "throttled" // authentication refused for now (back-off, load shedding)
	ResultAbandoned   = "abandoned" // caller hung up or timed out before the session began
	ResultRefused     = "refused"   // policy refused the call (e.g. V.42 without Access Security, text login off)
	ResultBackendDown = "backend-down"
	ResultCallback    = "callback" // hung up to call back
	// ResultCallbackFailed: the callback was never bridged (every attempt
	// failed, the wrong party answered, or it expired).
	ResultCallbackFailed = "callback-failed"
	ResultShutdown       = "shutdown" // the gateway stopped
	ResultError          = "error"    // protocol or internal error
	// ResultInterrupted: the gateway died during the bridged call (no
	// record of its end); written when the next gateway opens the store
	// (File.OpenCall).
	ResultInterrupted = "interrupted"
)

// CallRecord is one call as it is written to the call log.
type CallRecord struct {
	Session  uint64    `json:"session"`
	User     string    `json:"user,omitempty"`
	Listener string    `json:"listener"`
	Remote   string    `json:"remote"`
	Line     string    `json:"line,omitempty"` // transport: telnet, tcp, ws, ...
	Mode     string    `json:"mode,omitempty"` // "v42", "text", "v42-text"
	Backend  string    `json:"backend,omitempty"`
	Start    time.Time `json:"start"`
	Answer   time.Time `json:"answer,omitzero"` // authenticated and bridged
	End      time.Time `json:"end"`
	Result   string    `json:"result"`
	Reason   string    `json:"reason,omitempty"`
	// BytesIn counts octets from the caller to the backend, BytesOut the
	// other way (payload, after LAPM and telnet decoding).
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// LAPM is present for V.42 calls.
	LAPM *LAPMStats `json:"lapm,omitempty"`
	// CallbackAttempts counts dial-back attempts made for this call.
	CallbackAttempts int `json:"callback_attempts,omitempty"`
}

// LAPMStats summarises a V.42 link for the record.
type LAPMStats struct {
	N401            int   `json:"n401,omitempty"`
	K               int   `json:"k,omitempty"`
	FCS32           bool  `json:"fcs32,omitempty"`
	FramesSent      int64 `json:"frames_sent"`
	FramesReceived  int64 `json:"frames_received"`
	Retransmissions int64 `json:"retransmissions"`
	FCSErrors       int64 `json:"fcs_errors"`
	Sealed          bool  `json:"sealed,omitempty"`
	// Cipher is the sealed data phase's AEAD: "aes-256-gcm" or
	// "chacha20-poly1305" (docs/access-security.md §3).
	Cipher string `json:"cipher,omitempty"`
}
