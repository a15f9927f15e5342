// Package lapm implements the V.42 error-correcting link layer, LAPM (Link
// Access Procedure for Modems, ITU-T V.42 clause 8), over dialgate's octet
// lines.
//
// Clause numbers are those of V.42 (03/2002); they were checked against
// the Recommendation's table of contents (ITU-T, T-REC-V.42-200203) and,
// where quoted, against its text; docs/v42-notes.md says which facts were
// verified where and which are still open.
//
// It holds, one concern per file:
//
//   - detect.go: the detection phase (§7.2.1; ODP and ADP in start-stop
//     characters, timer T400, §9.1), deciding between LAPM and the
//     non-error-correcting fallback.
//   - framing.go and fcs.go: synchronous HDLC framing (§8.1: frame
//     structure and fields §8.1.1, invalid frames §8.1.3, frame abort
//     §8.1.4, interframe time fill §8.1.5; ISO/IEC 13239): flags,
//     zero-bit insertion, abort and idle handling, the 16- and 32-bit
//     frame check sequences. After detection the line carries the HDLC
//     bit stream packed least significant bit first into octets. On amd64
//     CPUs with BMI2 the stuffing and unstuffing loops are assembly
//     (framing_amd64.s: PDEP inserts a word's zeros, PEXT removes them);
//     the portable Go loops run everywhere else and with -tags purego.
//   - frame.go: the address field (§8.2.1), the control field (§8.2.2) and
//     the frame types (§8.2.4) of I, S and U frames; modulo 128; C/R per
//     originator and answerer.
//   - xid.go: the XID information field (§8.10 and clause 12, Tables 11a
//     and 11b; ISO/IEC 8885) and the negotiation of N401, k, FCS-32 and
//     SREJ (§8.10, §9.2).
//   - machine.go, window.go, timers.go, stats.go, transform.go: the link
//     procedure — establishment (§8.3), information transfer with REJ and
//     SREJ recovery (§8.4), exception conditions and FRMR (§8.5), release
//     (§8.7), collisions (§8.9), break (§8.13; frame encoding §12.3),
//     timers T401/T403 and N400 (§8.2.5, §9.2; T403 expiry §8.12.3.3).
//   - link.go: the Link API, an io.ReadWriteCloser (and io.WriterTo) for
//     the data phase, run by three goroutines: owner.go (the only one that
//     drives the machine), reader.go (line to frames) and writer.go
//     (frames to line); negotiate.go: the XID exchanges, parameters and
//     the upper layer's payloads in the private set.
//
// # Choices where V.42 leaves room
//
// Answerer after detection. An answerer that has sent ADP waits for the
// originator's flags up to twice T400 and then hangs up (Hayes S141; V.42
// leaves the bound to the implementer). Open does this when
// Config.FlagWait is FlagWaitAfterADP: no frame (good or bad) from the
// originator within 1.5 s ends Open with ErrLinkFailure. With FlagWait 0
// only ctx bounds the wait, for callers that skipped detection.
//
// XID collision. When both stations have an XID command outstanding,
// the originator's command wins: the answerer answers it; the originator
// ignores the answerer's command, which the answerer retransmits after
// T401 and which is then answered. Deterministic, and no exchange is
// lost. This is our rule, not a quoted one: §8.9 (collision of unnumbered
// commands and responses) could not be read for XID, and spandsp only
// lets the originator send XID commands and answers every command it
// gets, so it never meets the case.
//
// FCS-32 switch-over (§8.10, Table 11a bit 17). The station that sent the
// XID command switches its transmitter to FCS-32 as soon as the response
// accepts bit 17; the responder keeps sending FCS-16 until the first frame
// with a good FCS-32 arrives (proof that its response was received). Both
// receivers accept either FCS from the response until that first FCS-32
// frame, then FCS-32 only.
//
// Access Security private set. The upper layer's XID payloads travel in a
// private parameter set (group 0xF0, Table 11b) whose set identifier
// (PI 0) is "DGAS1" (PrivateSetID); PI 2 is a one-octet exchange number
// that the command sets and the response echoes, and the payload is split
// into PI 1 parameters of up to 255 octets each, concatenated in order by
// the receiver. XID frames carry no sequence number, so without the
// exchange number a retransmitted command's late duplicate answer (the
// responder answers every copy) could be taken as the answer to the next
// command; a response that does not match the outstanding command is
// discarded. A parameter negotiation (no private set) is likewise only
// answered by a response without one. A whole XID information field is
// bounded by Config.MaxXID (DefaultMaxXID fits a 2048-octet payload).
//
// Delayed acknowledgement (T402). V.42 lets a receiver acknowledge I
// frames with RR at once or piggyback N(R) on its next I frame. With
// Config.T402 set (DefaultT402 10 ms, at most T401/4) an acknowledgement
// waits that long for an I frame to carry it, which halves the frames of
// an echo round trip; it still goes at once when half the window is
// unacknowledged, on a poll, on a duplicate and during recovery. It is on
// by default (Config.T402 0); a negative T402 acknowledges every I frame
// at once. An echoed keystroke then costs two frames instead of four, and
// the round trip about a fifth less (BenchmarkLinkEchoTCP/T402). With
// it, spandsp 0.0.6 once released the link with DISC on
// a noisy line (TestInteropSpandsp, we answer: 5 of 8 runs). The fault was
// ours: our REJ timer repeated a REJ just after our answer to spandsp's
// poll had made it go back, spandsp went back a second time below a
// frame it had already resent, and took our acknowledgement of that
// frame for an invalid N(R). The delay had only made that race likely (it
// moves spandsp's T401 poll later). An answer to a poll now restarts the
// REJ timer (rejAsked), and spandsp interoperates with T402 on
// (DIALGATE_INTEROP_T402; docs/v42-notes.md has the trace and numbers).
//
// Adaptive T401. V.42 gives T401 one value (§9.2). Ours is the shortest
// acknowledgement timer: the link measures the round trip of I frames
// acknowledged with no recovery since they were sent (no retransmission,
// T401 expiry or RNR) and lengthens T401 to the smoothed round trip plus
// four times its variation (RFC 6298), at most MaxAdaptiveT401 (30 s);
// Stats.T401 tells the value in force. And while a poll of ours is
// outstanding (timer recovery, §8.4.8), an acknowledgement that moves
// V(A) starts the poll count again and restarts T401: the poll waits
// behind the frames we queued before it, so its answer comes only after
// them. A slow network line with a full window of large frames holds
// tens of seconds of our own output; with a fixed 1 s T401 a 1.5 s pause
// in the peer's acknowledgements made ten polls expire before the first
// was answered, and the link failed a working call
// (TestSimSlowLinePause). A peer that acknowledges nothing still fails
// the link after N400 x T401.
//
// Break (§8.13). A break is a UI command with P=0 (§8.13.1) whose first
// information octet is the message type BRK 0x40 with the sequence bit X
// (0x80) toggled per new break; it is answered by a UI response BRKACK
// 0x60 carrying the same X, with F equal to the command's P (§8.13.1),
// and retransmitted per T401/N400 until then. A repeated BRK with the same
// X is acknowledged but not passed on again. §8.13.1 says a BRK carries
// the break-handling option and, if the sender has one, the break length;
// their bit layout (§12.3) could not be read. We send one option octet,
// 0x40 (meant as non-destructive, expedited, after V.76 Annex B) and no
// length. spandsp since its 2011 rewrite ignores UI frames; its earlier
// snapshots only log the octet after the type as a length. On receipt only
// the first octet is interpreted, so any layout of the rest interoperates.
//
// Hostile peers. Every frame that fails to parse or breaks the procedure
// is counted (Stats) and logged through the narrow Logger; in the data
// phase it is answered by FRMR and a release (§8.5). A peer cannot make
// the link grow memory: payloads delivered but unread and frames held
// after a gap (SREJ) are bounded by 2k together (held frames are
// copied; short payloads waiting unread are copied out of their read's
// buffer once 8 wait, so each holds about its own size), the encoded output waiting for the line by a fixed backlog (above
// it the link stops reading the line), and a burst of REJ, SREJ or
// polls resends each unacknowledged frame at most once per output
// batch. A peer that answers polls but never acknowledges fails the link
// after N400 answers, like a silent one, and so does one that sends REJ
// after REJ without acknowledging (a REJ that acknowledges nothing does
// not restart T401, and the same REJ repeated within T401/2 of the one
// acted on resends nothing: a peer repeats its REJ only after its T401);
// a peer busy for ever (RNR) is
// polled every T401 and is not sent I frames; Close gives up draining to
// it after N400 x T401 without an acknowledgement and releases the link,
// and Hangup releases it at once (DISC, which a busy receiver still
// takes). Our own busy condition is
// sent as RNR at once, not left to the N(R) of our next I frame, which
// would open the peer's window instead (§8.4.7).
//
// The facts this package relies on, and where they come from, are in
// V42.md of the design notes. The package never imports a logging
// framework; the Link takes a narrow Printf logger.
package lapm
