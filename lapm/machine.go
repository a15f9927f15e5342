package lapm

import (
	"errors"
	"fmt"
	"time"
)

// Errors that end a link. They are wrapped with detail; test with errors.Is.
var (
	// ErrLinkFailure: N400 retransmissions went unanswered (V.42 §8.4.1,
	// §9.2.2): the line is dead or the peer vanished.
	ErrLinkFailure = errors.New("lapm: link failure")
	// ErrRefused: the peer answered SABME with DM (V.42 §8.3.2).
	ErrRefused = errors.New("lapm: peer refused the connection")
	// ErrPeerDisconnected: the peer released the link (DISC) or reported
	// it is not connected (DM).
	ErrPeerDisconnected = errors.New("lapm: peer disconnected")
	// ErrPeerEstablishing is returned by AcceptXID when the peer sends SABME
	// instead of an XID command: an ordinary V.42 modem without Access
	// Security.
	ErrPeerEstablishing = errors.New("lapm: peer is establishing without an XID exchange")
	// ErrFrameReject: a frame reject condition (V.42 §8.5.2) was detected
	// or reported by the peer (FRMR). The link is released: re-establishing
	// could silently lose data.
	ErrFrameReject = errors.New("lapm: frame reject condition")
	// ErrPeerReset: the peer re-established an active link (SABME in the
	// data phase after data was received); data may have been lost.
	ErrPeerReset = errors.New("lapm: peer reset the link")
	// ErrClosed: the link was closed locally.
	ErrClosed = errors.New("lapm: link closed")
	// ErrTransform: the payload transform failed: it refused to open a
	// delivered payload (ErrPayloadRefused), or to seal one (Write).
	ErrTransform = errors.New("lapm: payload transform failed")
	// ErrPayloadRefused (wraps ErrTransform): the transform's Open refused
	// a payload that arrived intact by its FCS; with Access Security, one
	// altered on the way, replayed or forged.
	ErrPayloadRefused = fmt.Errorf("%w: a received payload was refused", ErrTransform)
	// ErrState: an operation was asked in a state where it is not allowed.
	ErrState = errors.New("lapm: operation not allowed in this link state")
	// ErrPreempted: Preempt ended a Write that waited for room. It does
	// not end the link.
	ErrPreempted = errors.New("lapm: write preempted")
	// ErrUnconfirmed: Close released the link with payloads written
	// before it still unacknowledged after N400 x T401 without an
	// acknowledgement (the peer's receiver busy, or its acknowledgements
	// lost): they were dropped, and the peer may not have them. The
	// peer sees an orderly release; only the writer can tell (V.42's
	// DISC carries no reason).
	ErrUnconfirmed = errors.New("lapm: data written was not acknowledged")
)

// state is where the link procedure is (V.42 §8.3-8.8).
type state uint8

const (
	stateNegotiating   state = iota // parameter XID exchange (§8.10) not finished
	stateXIDReady                   // parameters agreed; upper-layer XIDs allowed; not established
	stateEstablishing               // SABME sent, waiting for UA (§8.3)
	stateConnected                  // information transfer (§8.4)
	stateDisconnecting              // DISC sent, waiting for UA or DM (§8.7)
	stateDisconnected               // released in order
	stateFailed                     // ended by an error
)

var stateNames = [...]string{"negotiating", "xid-ready", "establishing", "connected", "disconnecting", "disconnected", "failed"}

func (s state) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// ended reports whether the link is over.
func (s state) ended() bool { return s == stateDisconnected || s == stateFailed }

// eventKind is a notification from the machine to the Link.
type eventKind uint8

const (
	evXIDCommand  eventKind = iota + 1 // peer's XID command (info copied)
	evXIDResponse                      // peer's response to our XID command
	evSABME                            // peer asked to establish; waits for establish or refuse
	evEstablished                      // data phase entered
	evBreak                            // peer sent a break
	evBreakAck                         // peer acknowledged our break
	evEnded                            // link over; machine.err says why (nil: orderly)
)

type event struct {
	kind eventKind
	info []byte
}

// linkParams are the negotiated values the machine runs with.
type linkParams struct {
	n401Tx, n401Rx int // max I-field octets we send / accept
	kTx, kRx       int // window we may have outstanding / we accept
	srej           bool
}

func defaultLinkParams() linkParams {
	return linkParams{n401Tx: 128, n401Rx: 128, kTx: 15, kRx: 15}
}

type machineConfig struct {
	role Role
	t401 time.Duration
	t403 time.Duration // 0 disables idle polling
	// t402 is how long an acknowledgement may wait for an I frame of ours
	// to carry it (see ackLater); 0 acknowledges every I frame at once.
	t402 time.Duration
	n400 int
	// lineRate is the line's bit rate if known (Config.LineRate): it
	// bounds the frames we keep outstanding (pacedWindow); 0 = unknown.
	lineRate int
	logf     func(format string, args ...any) // nil: silent
	// xidMatch, if set, tells whether resp (an XID response's
	// information field) answers the outstanding command cmd. V.42 XID
	// frames carry no sequence number, so a retransmitted command's late
	// duplicate answer could otherwise be taken as the answer to the next
	// command; a response that does not match is discarded.
	xidMatch func(cmd, resp []byte) bool
}

// UI information octets for break (V.42 §8.13, §12.3; V.76 Annex B uses
// the same message types). Octet 1: message type in bits 7-5, bit 8 = the
// sequence bit X that toggles per break. After it a BRK carries the
// break-handling option and, optionally, the break length (§8.13.1); the
// bit layout of §12.3 is unverified, see docs/v42-notes.md. BRKACK echoes X.
const (
	brkType    = 0x40
	brkAckType = 0x60
	brkTypeMsk = 0x7F
	brkSeqBit  = 0x80
	brkNonDest = 0x40 // octet 2: non-destructive, expedited
)

// FRMR information field bits (V.42 §8.2.4.12, modulo 128): octet 5.
const (
	frmrW = 0x01 // control field undefined or not implemented
	frmrX = 0x02 // information field not permitted (with W)
	frmrY = 0x04 // information field too long
	frmrZ = 0x08 // invalid N(R)
)

// frmrInfoLen is the length of an FRMR information field (modulo 128).
const frmrInfoLen = 5

// frmrInfoText is a received FRMR's information field for an error
// message: in hex, at most frmrInfoLen octets of it, since a peer may
// send any length and the message reaches logs and call records.
func frmrInfoText(info []byte) string {
	if len(info) <= frmrInfoLen {
		return fmt.Sprintf("% x", info)
	}
	return fmt.Sprintf("% x … (%d octets)", info[:frmrInfoLen], len(info))
}

// machine is the LAPM link procedure as a pure state machine: every input is
// a method taking now; outputs are frames (flush), events (takeEvents),
// delivered payloads (takeRx) and one deadline. It does no I/O and starts
// no goroutines; the Link runs it from one goroutine.
type machine struct {
	cfg machineConfig
	st  state
	err error // why the link ended (stateFailed; the peer's DISC or DM in stateDisconnected), or nil
	p   linkParams

	out, spare []Frame
	ev         []event

	// XID command we sent and wait a response for (nil: none).
	xidCmd   []byte
	xidRetry int
	// Last XID command we answered and our answer, to answer a
	// retransmitted command identically.
	xidLastCmd, xidLastResp []byte
	xidAnswerPending        bool // evXIDCommand raised, respondXID not yet called
	xidLastP                bool // the P bit of xidLastCmd: our response's F bit

	retry      int       // retransmissions of the pending SABME/DISC/poll/XID
	sabmeSeen  bool      // peer's SABME seen while not established
	closeAsked bool      // user asked to release; DISC once data drained
	closeBy    time.Time // give up draining then (a peer busy for ever)
	// closeCap bounds closeBy however the acknowledgements come: N400 x
	// T401 for each window's worth queued at Close (review: a peer that
	// acknowledged one frame just inside N400 x T401 held Close minutes).
	closeCap time.Time
	// releaseDropped: payloads the release dropped when closeBy passed.
	releaseDropped int

	// Send side (V.42 §8.2.3).
	vs, va        uint8
	txq           [][]byte // payloads not yet sent (sealed)
	txqCap        int
	unacked       []sentFrame // outstanding: unacked[i] has N(S) = V(A)+i; see window.go
	acked         [][]byte    // payloads acknowledged since takeAcked
	peerBusy      bool
	timerRecovery bool // poll (P=1) outstanding, V.42 §8.4.8
	rtt           rttEstimator
	recoveries    uint32 // see ackedNew
	// stalls counts answers to our polls (F=1) that acknowledged nothing
	// while I frames were outstanding and the peer was not busy; reset
	// when V(A) advances. Past N400 the link fails: a peer that answers
	// every poll but never acknowledges would otherwise keep us
	// retransmitting the window for ever.
	stalls int
	// flushGen numbers the output batches (see sentFrame.gen).
	flushGen uint32
	// rejNR and rejUntil: the N(R) of the last REJ this side went back
	// for, and until when a REJ with the same N(R) that acknowledges
	// nothing is taken for a repeat of it (recvS).
	rejNR    uint8
	rejUntil time.Time

	// A peer that polls us while sending I frames has frames we may
	// lack. Our RR F=1 should make it resend from N(R), but spandsp 0.0.6
	// protects that retransmission only with T403 (10 s): if it is lost
	// too, the link stalls. lastIAt is when the last I frame arrived;
	// pollCheckAt, when V(R) is compared with pollCheckVR and a REJ is
	// sent if it has not moved, every T401, at most N400 times.
	lastIAt     time.Time
	pollCheckAt time.Time
	pollCheckVR uint8
	pollChecks  int

	// Answerer waiting for the originator's first frame (Hayes S141:
	// after ADP, up to 2 x T400); zero when not waiting.
	firstFrameBy time.Time

	// Receive side.
	vr      uint8
	rejSent bool        // REJ exception condition (V.42 §8.4.2)
	rejAt   time.Time   // repeat the REJ then if the condition persists (rejAsked)
	hold    []heldFrame // SREJ: hold[i] is N(S) = V(R)+i; see window.go
	holdN   int         // frames held in hold
	srejN   int         // entries of hold with asked set
	rxq     []rxPayload // delivered in order, for the Link
	// rxBuf is the array of the frame recvFrame handles, if the Link
	// hands it over with the frame (a pooled buffer): a payload
	// delivered from it takes it along, and the Link gives it back to
	// the pool if recvFrame leaves it here.
	rxBuf      []byte
	rxFrames   int // delivered and not yet consumed by the user
	rxSoft     int // enter own-receiver-busy at this many
	rxHard     int // discard I frames at this many
	ownBusy    bool
	discarded  bool      // I frames discarded while busy: send REJ when clear
	ackPending bool      // the peer needs our V(R)
	ackAt      time.Time // send it (RR/RNR) then unless an I frame carries it first
	rxUnacked  int       // I frames delivered since our last N(R)

	// Break.
	brkSeqTx  byte   // sequence bit of the next break we send
	brkOut    []byte // break UI in flight
	brkRetry  int
	brkSeqRx  byte
	brkRxSeen bool

	t401At, t403At time.Time

	stats Stats
}

func newMachine(cfg machineConfig) *machine {
	if cfg.n400 <= 0 {
		cfg.n400 = DefaultN400
	}
	if cfg.t401 <= 0 {
		cfg.t401 = DefaultT401
	}
	m := &machine{cfg: cfg, flushGen: 1}
	m.setParams(defaultLinkParams())
	return m
}

// setParams installs negotiated parameters. It must run before the data
// phase, while no I frames are outstanding or held. The window arrays
// (window.go) grow with what is outstanding or held, up to k entries.
func (m *machine) setParams(p linkParams) {
	p.kTx = clamp(p.kTx, 1, 127)
	p.kRx = clamp(p.kRx, 1, 127)
	if p.n401Tx <= 0 {
		p.n401Tx = 128
	}
	if m.cfg.lineRate > 0 {
		p.kTx = min(p.kTx, pacedWindow(m.cfg.lineRate, p.n401Tx))
	}
	if p.n401Rx <= 0 {
		p.n401Rx = 128
	}
	m.p = p
	m.txqCap = p.kTx
	m.rxSoft = p.kRx
	m.rxHard = 2 * p.kRx
}

func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}

func (m *machine) logf(format string, args ...any) {
	if m.cfg.logf != nil {
		m.cfg.logf(format, args...)
	}
}

func (m *machine) setState(s state) {
	if m.st == s {
		return
	}
	m.logf("lapm: %s: state %s -> %s", m.cfg.role, m.st, s)
	m.st = s
}

func (m *machine) emit(k eventKind, info []byte) {
	m.ev = append(m.ev, event{kind: k, info: info})
}

// fail ends the link with err (wrapped sentinel). A release by the peer
// (ErrPeerDisconnected: its DISC, or DM in the data phase) ends it in
// stateDisconnected, the release in order that it is, with err saying
// who released it.
func (m *machine) fail(err error) {
	if m.st.ended() {
		return
	}
	m.logf("lapm: %s: %v", m.cfg.role, err)
	m.err = err
	if errors.Is(err, ErrPeerDisconnected) && !errors.Is(err, ErrLinkFailure) {
		m.setState(stateDisconnected)
	} else {
		m.setState(stateFailed)
	}
	m.t401Stop()
	m.t403At = timerStopped
	m.emit(evEnded, nil)
}

func (m *machine) finish() {
	if m.st.ended() {
		return
	}
	m.setState(stateDisconnected)
	m.t401Stop()
	m.t403At = timerStopped
	m.emit(evEnded, nil)
}

// awaitFirstFrame bounds the wait for the peer's first frame (any frame,
// even one that does not parse) to d from now; d <= 0 means no bound.
func (m *machine) awaitFirstFrame(now time.Time, d time.Duration) {
	if d > 0 && m.st == stateNegotiating {
		m.firstFrameBy = now.Add(d)
	}
}

// send queues a frame for transmission.
func (m *machine) send(f Frame) {
	m.out = append(m.out, f)
	m.stats.FramesSent++
}

func (m *machine) sendU(cmd bool, k Kind, pf bool, info []byte) {
	addr := m.cfg.role.ResponseAddr()
	if cmd {
		addr = m.cfg.role.CommandAddr()
	}
	m.send(Frame{Addr: addr, Kind: k, PF: pf, Info: info})
}

// sendS sends RR or RNR (whichever our receiver state says), or k if given.
func (m *machine) sendS(cmd bool, k Kind, pf bool) {
	addr := m.cfg.role.ResponseAddr()
	if cmd {
		addr = m.cfg.role.CommandAddr()
	}
	switch k {
	case KindRNR:
		m.stats.RNRSent++
	case KindREJ:
		m.stats.REJSent++
	}
	m.send(Frame{Addr: addr, Kind: k, NR: m.vr, PF: pf})
	m.ackSent()
}

// ackSent notes that a frame carrying N(R) = V(R) went out.
func (m *machine) ackSent() {
	m.ackPending = false
	m.ackAt = timerStopped
	m.rxUnacked = 0
}

// answerPoll answers a command with P=1 (V.42 §8.4.8): RNR F=1 when busy;
// with SREJ and frames held beyond a gap, SREJ F=1 for every missing frame
// (so a retransmission that was lost again is asked for again); otherwise
// RR F=1, which tells the peer to resend everything from N(R). In the REJ
// condition that answer asks for the same go-back as the REJ, and the REJ
// timer restarts (see rejAsked).
func (m *machine) answerPoll(now time.Time) {
	if m.rejSent {
		m.rejAsked(now)
	}
	if m.ownBusy || !m.p.srej || m.holdN == 0 {
		m.sendS(false, m.rrOrRNR(), true)
		return
	}
	pf := true
	held := 0
	for i := 0; held < m.holdN && i < len(m.hold); i++ {
		if m.hold[i].p != nil {
			held++
			continue
		}
		m.askSREJ(i)
		m.stats.SREJSent++
		m.send(Frame{Addr: m.cfg.role.ResponseAddr(), Kind: KindSREJ, NR: (m.vr + uint8(i)) & 0x7F, PF: pf})
		pf = false
	}
	m.ackSent()
}

// rrOrRNR is the supervisory frame that reports our receiver state.
func (m *machine) rrOrRNR() Kind {
	if m.ownBusy {
		return KindRNR
	}
	return KindRR
}

func seqDiff(a, b uint8) int { return int((a - b) & 0x7F) }

// ---- Upper-layer inputs ----

// sendXID sends an XID command carrying info and retransmits it on T401
// expiry up to N400 times. Only one may be outstanding.
func (m *machine) sendXID(now time.Time, info []byte) error {
	if m.st.ended() || m.st == stateDisconnecting {
		return fmt.Errorf("%w: XID command in state %s", ErrState, m.st)
	}
	if m.xidCmd != nil {
		return fmt.Errorf("%w: an XID command is already outstanding", ErrState)
	}
	m.xidCmd = info
	m.xidRetry = 0
	m.sendU(true, KindXID, true, info)
	m.t401Start(now)
	return nil
}

// cancelXID forgets the outstanding XID command (the caller gave up).
func (m *machine) cancelXID() {
	m.xidCmd = nil
	if m.st != stateConnected && m.st != stateEstablishing && m.st != stateDisconnecting {
		m.t401Stop()
	}
}

// respondXID answers the last XID command raised as evXIDCommand.
func (m *machine) respondXID(info []byte) error {
	if m.st.ended() {
		return fmt.Errorf("%w: XID response in state %s", ErrState, m.st)
	}
	if !m.xidAnswerPending {
		return fmt.Errorf("%w: no XID command to answer", ErrState)
	}
	m.xidAnswerPending = false
	m.xidLastResp = info
	m.sendU(false, KindXID, m.xidLastP, info)
	return nil
}

// setTimers replaces T401 and T402 (the link derives them again from the
// negotiated parameters).
func (m *machine) setTimers(t401, t402 time.Duration) {
	m.cfg.t401, m.cfg.t402 = t401, t402
}

// paramsAgreed marks the end of parameter negotiation.
func (m *machine) paramsAgreed(p linkParams) {
	m.setParams(p)
	if m.st == stateNegotiating {
		m.setState(stateXIDReady)
	}
}

// establish asks for the data phase: accept the peer's SABME if one was
// seen, otherwise send SABME (V.42 §8.3.2).
func (m *machine) establish(now time.Time) error {
	switch m.st {
	case stateNegotiating, stateXIDReady:
	case stateEstablishing, stateConnected:
		return nil
	default:
		return fmt.Errorf("%w: establish in state %s", ErrState, m.st)
	}
	if m.sabmeSeen {
		m.sendU(false, KindUA, true, nil)
		m.enterConnected(now)
		return nil
	}
	m.setState(stateEstablishing)
	m.retry = 0
	m.sendU(true, KindSABME, true, nil)
	m.t401Start(now)
	return nil
}

// refuse answers a seen SABME with DM: the upper layer will not accept the
// call (V.42 §8.3.2). The link ends with ErrRefused.
func (m *machine) refuse() {
	if m.st.ended() {
		return
	}
	m.sendU(false, KindDM, true, nil)
	m.fail(fmt.Errorf("%w: refused locally", ErrRefused))
}

func (m *machine) enterConnected(now time.Time) {
	m.vs, m.va, m.vr = 0, 0, 0
	m.retry = 0
	m.timerRecovery = false
	m.peerBusy = false
	m.sabmeSeen = false
	m.setState(stateConnected)
	m.t401Stop()
	m.t403Restart(now)
	m.emit(evEstablished, nil)
}

// txRoom is how many more payloads enqueue accepts now.
func (m *machine) txRoom() int {
	if m.st.ended() || m.closeAsked {
		return 0
	}
	return m.txqCap - len(m.txq)
}

// enqueue appends a sealed payload for transmission. The machine keeps the
// slice until it is acknowledged. It reports false when the queue is full.
func (m *machine) enqueue(payload []byte) bool {
	if m.txRoom() <= 0 {
		return false
	}
	m.txq = append(m.txq, payload)
	return true
}

// enqueueFinal appends payloads the upper layer queued before it asked
// for the release, whatever the queue's bound (they were accepted against
// the Link's own bound of one window).
func (m *machine) enqueueFinal(payloads [][]byte) {
	if m.st.ended() || m.closeAsked {
		return
	}
	m.txq = append(m.txq, payloads...)
}

// consumed reports that the user took n delivered payloads: it may clear
// the own-receiver-busy condition (V.42 §8.4.7).
func (m *machine) consumed(now time.Time, n int) {
	m.rxFrames -= n
	if m.rxFrames < 0 {
		m.rxFrames = 0
	}
	if m.ownBusy && m.rxFrames <= m.rxSoft/2 && m.st == stateConnected {
		m.ownBusy = false
		m.logf("lapm: %s: own receiver ready", m.cfg.role)
		if m.discarded {
			m.discarded = false
			m.rejSent = true
			m.rejAsked(now)
			m.sendS(false, KindREJ, false)
		} else {
			m.sendS(false, KindRR, false)
		}
	}
}

// close asks for an orderly release: in the data phase, after every queued
// payload is acknowledged, DISC/UA (V.42 §8.7); otherwise DISC at once.
func (m *machine) close(now time.Time) {
	if m.st.ended() || m.st == stateDisconnecting {
		return
	}
	m.closeAsked = true
	if m.st == stateConnected && (len(m.txq) > 0 || m.vs != m.va) {
		// Drained in flush; a peer that stays busy cannot hold the
		// release up for longer than N400 x T401 (restarted by each
		// acknowledgement that moves V(A), ackedNew, up to closeCap).
		bound := time.Duration(m.cfg.n400) * m.t401()
		windows := (len(m.txq) + seqDiff(m.vs, m.va) + m.p.kTx) / max(m.p.kTx, 1)
		m.closeBy, m.closeCap = now.Add(bound), now.Add(bound*time.Duration(max(windows, 1)))
		return
	}
	m.startDisc(now)
}

// hangup releases the link at once (DISC now, V.42 §8.7), dropping what is
// queued or unacknowledged: the end of a call whose peer no longer takes
// data, where close would first wait up to N400 x T401 for it to drain.
func (m *machine) hangup(now time.Time) {
	if m.st.ended() || m.st == stateDisconnecting {
		return
	}
	m.closeAsked = true
	if n := len(m.txq) + seqDiff(m.vs, m.va); m.st == stateConnected && n > 0 {
		m.logf("lapm: %s: hang-up: %d payloads still unacknowledged are dropped", m.cfg.role, n)
	}
	m.startDisc(now)
}

func (m *machine) startDisc(now time.Time) {
	m.setState(stateDisconnecting)
	m.retry = 0
	m.xidCmd = nil
	m.sendU(true, KindDISC, true, nil)
	m.t401Start(now)
	m.t403At = timerStopped
}

// sendBreak sends a break (UI BRK) in the data phase; it is retransmitted
// on T401 expiry until BRKACK arrives.
func (m *machine) sendBreak(now time.Time) error {
	if m.st != stateConnected {
		return fmt.Errorf("%w: break in state %s", ErrState, m.st)
	}
	if m.brkOut != nil {
		return nil // one break at a time; the pending one covers it
	}
	m.brkOut = []byte{brkType | m.brkSeqTx, brkNonDest}
	m.brkRetry = 0
	m.sendU(true, KindUI, false, m.brkOut)
	m.t401StartIfStopped(now)
	return nil
}

// ---- Line inputs ----

// recvDamaged notes frames the decoder refused (FCS, abort, length): the
// peer's flags came, which ends the wait for its first frame
// (awaitFirstFrame) as a frame does. Noise on the line must not hang up
// on an originator whose first XID commands it damaged.
func (m *machine) recvDamaged() { m.firstFrameBy = timerStopped }

// recvInvalid handles a frame that failed to parse (V.42 §8.5.2).
func (m *machine) recvInvalid(now time.Time, raw []byte, err error) {
	m.firstFrameBy = timerStopped
	m.stats.InvalidFrames++
	m.logf("lapm: %s: invalid frame: %v", m.cfg.role, err)
	if m.st != stateConnected || len(raw) < 2 {
		return // outside the data phase invalid frames are ignored
	}
	if errors.Is(err, ErrFrameAddress) || errors.Is(err, ErrFrameShort) {
		// Invalid frames (V.42 §8.1.3: an address we do not use, too
		// few octets) are discarded without notification; only an
		// undefined control field or a misplaced information field is
		// a frame reject condition.
		return
	}
	var bits byte = frmrW
	if errors.Is(err, ErrFrameInfo) {
		bits = frmrW | frmrX
	}
	ctl := raw[1:min(3, len(raw))]
	if raw[1]&3 == 3 {
		ctl = raw[1:2] // U frame: one control octet; FRMR carries 0 as the second
	}
	m.frameReject(now, ctl, !m.cfg.role.IsCommandFrom(raw[0]), bits)
}

// frameReject sends FRMR and releases the link (V.42 §8.5.2). We do not
// re-establish after a frame reject: SABME resets sequence numbers and
// could lose data silently.
func (m *machine) frameReject(now time.Time, ctl []byte, wasResp bool, bits byte) {
	info := make([]byte, 5)
	copy(info, ctl)
	if len(ctl) == 1 {
		info[1] = 0
	}
	info[2] = m.vs << 1
	info[3] = m.vr << 1
	if wasResp {
		info[3] |= 1
	}
	info[4] = bits
	m.stats.FRMRSent++
	m.sendU(false, KindFRMR, false, info)
	err := fmt.Errorf("%w: sent FRMR (ctl % x, bits 0x%02x)", ErrFrameReject, ctl, bits)
	m.startDisc(now)
	m.err = err
}

// recvFrame handles one received frame (FCS good, parsed). An I field
// delivered in sequence is queued for takeRx as it is, not copied: the
// caller must not modify or reuse f.Info's array afterwards (the Link
// decodes long frames into buffers it hands over with them, see rxBuf,
// and copies the short ones of each batch into a fresh array). Frames
// held ahead of a gap are copied.
func (m *machine) recvFrame(now time.Time, f Frame) {
	m.stats.FramesReceived++
	m.firstFrameBy = timerStopped
	if m.st.ended() {
		if f.Kind == KindSABME || f.Kind == KindDISC {
			if m.cfg.role.IsCommandFrom(f.Addr) {
				m.sendU(false, KindDM, f.PF, nil)
			}
		}
		return
	}
	cmd := m.cfg.role.IsCommandFrom(f.Addr)
	if m.st == stateConnected {
		m.t403Restart(now)
	}
	switch f.Kind {
	case KindXID:
		m.recvXID(now, f, cmd)
	case KindSABME:
		m.recvSABME(now, f)
	case KindDISC:
		m.recvDISC(now, f)
	case KindUA:
		m.recvUA(now)
	case KindDM:
		m.recvDM(f)
	case KindFRMR:
		m.stats.FRMRReceived++
		if m.st == stateConnected || m.st == stateEstablishing {
			m.startDisc(now)
			m.err = fmt.Errorf("%w: peer sent FRMR %s", ErrFrameReject, frmrInfoText(f.Info))
		}
	case KindUI:
		m.recvUI(now, f, cmd)
	case KindTEST:
		if cmd && len(f.Info) <= m.p.n401Rx {
			m.sendU(false, KindTEST, f.PF, append([]byte(nil), f.Info...))
		}
	case KindI:
		if m.st == stateConnected {
			m.recvI(now, f)
		}
	case KindRR, KindRNR, KindREJ, KindSREJ:
		if m.st == stateConnected {
			m.recvS(now, f, cmd)
		}
	}
}

func (m *machine) recvXID(now time.Time, f Frame, cmd bool) {
	if !cmd {
		if m.xidCmd == nil {
			return // stale or duplicate response
		}
		if m.cfg.xidMatch != nil && !m.cfg.xidMatch(m.xidCmd, f.Info) {
			m.logf("lapm: %s: XID response does not answer the outstanding command (a late duplicate): ignored", m.cfg.role)
			return
		}
		m.xidCmd = nil
		if m.st == stateNegotiating || m.st == stateXIDReady {
			m.t401Stop()
		}
		m.emit(evXIDResponse, append([]byte(nil), f.Info...))
		return
	}
	if m.st == stateDisconnecting {
		return
	}
	// A retransmitted command we already answered: answer it again.
	if m.xidLastResp != nil && string(f.Info) == string(m.xidLastCmd) {
		m.sendU(false, KindXID, f.PF, m.xidLastResp)
		return
	}
	// Collision: both stations sent XID commands. The originator's command
	// wins (its command is answered first); the originator ignores the
	// answerer's, which the answerer retransmits after T401 and is then
	// answered in turn. Deterministic, and no exchange is lost.
	if m.xidCmd != nil && m.cfg.role == Originator {
		m.logf("lapm: %s: XID collision: ignoring the answerer's command", m.cfg.role)
		return
	}
	if m.xidAnswerPending && string(f.Info) == string(m.xidLastCmd) {
		return // retransmission of a command the upper layer still works on
	}
	m.xidLastCmd = append([]byte(nil), f.Info...)
	m.xidLastP = f.PF // a response's F bit is its command's P bit (ISO/IEC 13239)
	m.xidLastResp = nil
	m.xidAnswerPending = true
	m.emit(evXIDCommand, m.xidLastCmd)
}

func (m *machine) recvSABME(now time.Time, f Frame) {
	switch m.st {
	case stateNegotiating, stateXIDReady:
		if !m.sabmeSeen {
			m.sabmeSeen = true
			m.xidCmd = nil
			m.t401Stop()
			m.emit(evSABME, nil)
		}
	case stateEstablishing:
		// SABME collision (V.42 §8.9): answer UA and enter the data phase.
		m.sendU(false, KindUA, f.PF, nil)
		m.enterConnected(now)
	case stateConnected:
		if m.vr == 0 {
			// Our UA was lost and the peer repeats SABME; it cannot have
			// received anything of ours: put unacknowledged frames back.
			m.requeueUnacked()
			m.sendU(false, KindUA, f.PF, nil)
			m.vs, m.va = 0, 0
			m.timerRecovery = false
			m.retry = 0
			m.t401Stop()
			return
		}
		m.sendU(false, KindDM, f.PF, nil)
		m.fail(fmt.Errorf("%w: SABME after %d frames received", ErrPeerReset, m.stats.IFramesRecv))
	case stateDisconnecting:
		m.sendU(false, KindDM, f.PF, nil)
	}
}

func (m *machine) requeueUnacked() {
	q := make([][]byte, 0, len(m.unacked)+len(m.txq))
	for _, e := range m.unacked {
		q = append(q, e.p)
	}
	m.dropAcked(len(m.unacked))
	m.txq = append(q, m.txq...)
}

func (m *machine) recvDISC(now time.Time, f Frame) {
	switch m.st {
	case stateConnected, stateEstablishing:
		m.sendU(false, KindUA, f.PF, nil)
		m.fail(fmt.Errorf("%w: DISC received in state %s", ErrPeerDisconnected, m.st))
	case stateDisconnecting:
		// DISC collision (V.42 §8.9): answer UA; our DISC is done too.
		m.sendU(false, KindUA, f.PF, nil)
		m.finishWith()
	default:
		m.sendU(false, KindDM, f.PF, nil)
		m.fail(fmt.Errorf("%w: DISC received in state %s", ErrPeerDisconnected, m.st))
	}
}

func (m *machine) recvUA(now time.Time) {
	switch m.st {
	case stateEstablishing:
		m.enterConnected(now)
	case stateDisconnecting:
		m.finishWith()
	}
}

func (m *machine) recvDM(f Frame) {
	switch m.st {
	case stateEstablishing:
		m.fail(fmt.Errorf("%w: DM in answer to SABME", ErrRefused))
	case stateDisconnecting:
		m.finishWith()
	case stateConnected:
		m.fail(fmt.Errorf("%w: DM in the data phase", ErrPeerDisconnected))
	}
}

func (m *machine) recvUI(now time.Time, f Frame, cmd bool) {
	if len(f.Info) == 0 || m.st != stateConnected {
		return
	}
	typ, seq := f.Info[0]&brkTypeMsk, f.Info[0]&brkSeqBit
	switch {
	case cmd && typ == brkType:
		// V.42 §8.13.1: the UI response carries F equal to the command's P.
		m.sendU(false, KindUI, f.PF, []byte{brkAckType | seq})
		if m.brkRxSeen && seq == m.brkSeqRx {
			return // retransmitted break we already passed on
		}
		m.brkRxSeen, m.brkSeqRx = true, seq
		m.emit(evBreak, nil)
	case !cmd && typ == brkAckType:
		if m.brkOut != nil && seq == m.brkOut[0]&brkSeqBit {
			m.brkOut = nil
			m.brkSeqTx ^= brkSeqBit
			m.timersAcked(now)
			m.emit(evBreakAck, nil)
		}
	}
}

// ackTo processes N(R): it must satisfy V(A) <= N(R) <= V(S) (V.42
// §8.4.3); otherwise it is a frame reject condition. It reports false
// after a frame reject.
func (m *machine) ackTo(now time.Time, f Frame) bool {
	if seqDiff(f.NR, m.va) > seqDiff(m.vs, m.va) {
		m.logf("lapm: %s: N(R)=%d outside V(A)=%d..V(S)=%d", m.cfg.role, f.NR, m.va, m.vs)
		m.stats.InvalidFrames++
		ctl := f.Append(nil)[1:3]
		m.frameReject(now, ctl, !m.cfg.role.IsCommandFrom(f.Addr), frmrZ)
		return false
	}
	if n := seqDiff(f.NR, m.va); n > 0 {
		m.stalls = 0
		m.ackedNew(now, n)
		for _, e := range m.unacked[:n] {
			m.acked = append(m.acked, e.p)
			m.stats.BytesAcked += uint64(len(e.p))
		}
		m.stats.IFramesAcked += uint64(n)
		m.dropAcked(n)
		m.va = f.NR
		m.timersAcked(now)
	}
	return true
}

func (m *machine) recvI(now time.Time, f Frame) {
	m.lastIAt = now
	if len(f.Info) > m.p.n401Rx {
		m.stats.InvalidFrames++
		m.frameReject(now, f.Append(nil)[1:3], false, frmrY)
		return
	}
	if !m.ackTo(now, f) {
		return
	}
	ahead := seqDiff(f.NS, m.vr)
	switch {
	case ahead == 0 && m.rxFrames+m.holdN >= m.rxHard:
		// No room: discard; the peer resends after we clear busy.
		m.discarded = true
		if f.PF {
			m.answerPoll(now)
		}
		return
	case ahead == 0:
		m.deliver(f.Info)
		recovered := false // out of an exception condition: acknowledge at once
		for len(m.hold) > 0 && m.hold[0].p != nil {
			m.deliverOwned(m.hold[0].p, nil) // moves hold on by one
			recovered = true
		}
		if m.rejSent {
			m.rejSent = false
			m.rejAt = timerStopped
			recovered = true
		}
		busy := m.rxFrames >= m.rxSoft && !m.ownBusy
		if busy {
			m.ownBusy = true
			m.logf("lapm: %s: own receiver busy (%d payloads unread)", m.cfg.role, m.rxFrames)
		}
		switch {
		case f.PF:
			m.answerPoll(now) // RNR F=1 when busy
		case busy:
			// The peer must learn at once, and from an RNR (V.42
			// §8.4.7): a pending acknowledgement would go out on our
			// next I frame, whose N(R) opens the peer's window
			// without telling it we are busy. That let a peer send a
			// second window into a full receiver, whose frames were
			// discarded and resent after a REJ (two-way transfers on
			// loopback: thousands of retransmissions per call).
			m.sendS(false, KindRNR, false)
		default:
			m.ackLater(now, recovered)
		}
	case ahead < m.aheadLimit():
		// A gap: frames V(R)..N(S)-1 were lost (V.42 §8.4.2).
		if m.p.srej && !m.ownBusy {
			m.growHold(ahead + 1)
			if m.hold[ahead].p == nil && m.rxFrames+m.holdN < m.rxHard {
				m.hold[ahead].p = append(make([]byte, 0, len(f.Info)), f.Info...) // non-nil even if empty
				m.holdN++
			}
			for i := range ahead {
				if m.hold[i].p == nil && !m.hold[i].asked {
					m.askSREJ(i)
					m.stats.SREJSent++
					m.send(Frame{Addr: m.cfg.role.ResponseAddr(), Kind: KindSREJ, NR: (m.vr + uint8(i)) & 0x7F})
				}
			}
			if f.PF {
				m.answerPoll(now)
			}
			return
		}
		if !m.rejSent {
			m.rejSent = true
			m.rejAsked(now)
			m.sendS(false, KindREJ, f.PF)
		} else if f.PF {
			m.answerPoll(now)
		}
	default:
		// An old duplicate (our acknowledgement was lost or the line
		// duplicated it): discard and tell the peer where we are.
		m.stats.Duplicates++
		if f.PF {
			m.answerPoll(now)
		} else {
			m.ackLater(now, true)
		}
	}
}

// aheadLimit is how far past V(R) an N(S) reads as a new frame after a
// gap; from there on to V(R)-1 it reads as an old duplicate. The peer's
// new frames are fewer than kRx past V(R), and an old frame it sends again
// (after our REJ or SREJ, and again after our answer to its poll) arrives
// at most kRx before V(R); modulo 128 both readings overlap when kRx is
// over 64. Held as new, an old copy would be delivered in place of the
// peer's next frame with its number (SREJ), so with SREJ the negotiation
// keeps kRx at MaxKSREJ or under (Respond, Apply), and the readings stay
// apart. Without SREJ nothing is held: taken for a gap, an old copy
// only makes us send a REJ for frames we have. A new frame past the
// limit (more than 63 lost in a row) is resent after the peer's T401
// poll.
func (m *machine) aheadLimit() int { return min(m.p.kRx, 64) }

// rxPayload is an I field delivered in order; buf, if not nil, is the
// pooled array it lives in, to be given back once it is consumed.
type rxPayload struct {
	p, buf []byte
}

// deliver hands an I field on without copying it, with the frame's
// array if the Link handed it over (rxBuf): see recvFrame.
func (m *machine) deliver(p []byte) {
	buf := m.rxBuf
	m.rxBuf = nil
	m.deliverOwned(p, buf)
}

func (m *machine) deliverOwned(p, buf []byte) {
	m.holdNext()
	m.vr = (m.vr + 1) & 0x7F
	m.rxq = append(m.rxq, rxPayload{p: p, buf: buf})
	m.rxFrames++
	m.rxUnacked++
	m.stats.IFramesRecv++
	m.stats.BytesReceived += uint64(len(p))
}

func (m *machine) recvS(now time.Time, f Frame, cmd bool) {
	switch f.Kind {
	case KindRR:
		m.peerBusy = false
	case KindRNR:
		m.noteRecovery()
		m.stats.RNRReceived++
		m.peerBusy = true
	case KindREJ:
		m.stats.REJReceived++
		m.peerBusy = false
	case KindSREJ:
		m.stats.SREJReceived++
		if !m.p.srej {
			// Not negotiated (XID optional function 3): a control
			// field this link does not implement (V.42 §8.5, W).
			m.stats.InvalidFrames++
			m.frameReject(now, f.Append(nil)[1:3], !cmd, frmrW)
			return
		}
		// SREJ asks for one frame and acknowledges nothing.
		if seqDiff(f.NR, m.va) >= seqDiff(m.vs, m.va) {
			m.stats.InvalidFrames++
			m.frameReject(now, f.Append(nil)[1:3], !cmd, frmrZ)
			return
		}
		m.retransmit(f.NR)
		if cmd && f.PF {
			m.answerPoll(now)
		}
		if !cmd && f.PF && m.timerRecovery {
			// The answer to our poll: the peer holds the frames after
			// the gap and asks only for the missing ones. SREJ
			// acknowledges nothing: count it as a stall.
			m.timerRecovery = false
			m.retry = 0
			m.stalls++
			if m.stalls > m.cfg.n400 {
				m.fail(fmt.Errorf("%w: %d poll answers in a row acknowledged nothing (SREJ N(R)=%d)", ErrLinkFailure, m.stalls, f.NR))
				return
			}
			m.t401Start(now)
		}
		return
	}
	vaBefore := m.va
	if !m.ackTo(now, f) {
		return
	}
	if cmd && f.PF {
		m.answerPoll(now)
		m.armPollCheck(now)
	}
	// A response with F=1 answers our poll (V.42 §8.4.8). F=1 outside
	// recovery is ignored: spandsp sets F=1 on every RR.
	if !cmd && f.PF && m.timerRecovery {
		m.timerRecovery = false
		m.retry = 0
		if m.vs != m.va && !m.peerBusy && f.NR == vaBefore {
			m.stalls++
			if m.stalls > m.cfg.n400 {
				m.fail(fmt.Errorf("%w: %d poll answers in a row acknowledged nothing (V(A)=%d, V(S)=%d)", ErrLinkFailure, m.stalls, m.va, m.vs))
				return
			}
		}
		if f.Kind != KindRNR {
			// RNR F=1: the peer is busy; retransmitting now would be
			// discarded. T401 keeps polling until it is ready.
			m.goBack()
		}
		m.timersAcked(now)
		return
	}
	if f.Kind == KindREJ {
		switch {
		case m.va == vaBefore && f.NR == m.rejNR && now.Before(m.rejUntil):
			// The same REJ again, before the frames resent for the
			// last one can have reached the peer: they are on their
			// way. A peer repeats its REJ only after its T401 (as
			// rejAsked does here); one that sends REJ after REJ would
			// otherwise have the whole window resent for each.
		default:
			m.goBack()
			m.rejNR, m.rejUntil = f.NR, now.Add(m.t401()/2)
		}
		if m.va != vaBefore {
			m.timersAcked(now)
		} else {
			// A REJ that acknowledges nothing is no progress: T401
			// runs on from the last acknowledgement (or starts for
			// the frames sent again), so that a peer that rejects
			// for ever without acknowledging reaches timer recovery
			// and N400, as a silent one does, instead of having the
			// window sent again at line rate for as long as it likes.
			m.t401StartIfStopped(now)
		}
	}
	if f.Kind == KindRNR {
		m.t401StartIfStopped(now) // poll the busy peer on expiry
	}
}

// goBack retransmits every unacknowledged frame from V(A).
func (m *machine) goBack() {
	for s := m.va; s != m.vs; s = (s + 1) & 0x7F {
		m.retransmit(s)
	}
}

func (m *machine) retransmit(s uint8) {
	if seqDiff(s, m.va) >= seqDiff(m.vs, m.va) {
		return // not outstanding (the window arrays alias outside it)
	}
	e := &m.unacked[seqDiff(s, m.va)]
	if e.gen == m.flushGen {
		return
	}
	e.gen = m.flushGen
	m.noteRecovery()
	m.stats.Retransmitted++
	m.stats.IFramesSent++
	m.send(Frame{Addr: m.cfg.role.CommandAddr(), Kind: KindI, NS: s, NR: m.vr, Info: e.p})
	m.ackSent()
}

// armPollCheck follows up the answer to a peer's poll (see pollCheckAt)
// when the peer sent I frames within the last T401 x 2: it is polling
// because its own frames are unacknowledged, not because it is idle.
func (m *machine) armPollCheck(now time.Time) {
	if m.st != stateConnected || m.ownBusy || m.lastIAt.IsZero() || now.Sub(m.lastIAt) > 2*m.t401() {
		return
	}
	m.pollCheckAt = now.Add(m.t401())
	m.pollCheckVR = m.vr
	m.pollChecks = 0
}

// timeout handles the expiry of the earliest deadline (deadline()). It is
// harmless to call it early: timers not yet due are left alone.
func (m *machine) timeout(now time.Time) {
	if !m.firstFrameBy.IsZero() && !now.Before(m.firstFrameBy) {
		m.firstFrameBy = timerStopped
		if m.st == stateNegotiating {
			m.fail(fmt.Errorf("%w: no frame from the originator in time (V.42 detection: flags within 2 x T400)", ErrLinkFailure))
			return
		}
	}
	if m.st == stateConnected && m.rejSent && !m.rejAt.IsZero() && !now.Before(m.rejAt) {
		// The REJ, or the retransmission it asked for, may have been
		// lost, and a peer whose T401 is not running (spandsp restarts
		// only T403 after a REJ) would wait for its idle poll: repeat it
		// every T401 while the condition lasts (see rejAsked).
		m.rejAsked(now)
		m.sendS(false, KindREJ, false)
	}
	if !m.pollCheckAt.IsZero() && !now.Before(m.pollCheckAt) {
		m.pollCheckAt = timerStopped
		if m.st == stateConnected && m.vr == m.pollCheckVR && !m.rejSent && !m.ownBusy && m.pollChecks < m.cfg.n400 {
			// Not an exception condition: a peer with nothing
			// outstanding takes it as a plain acknowledgement. The
			// retransmission it asks for may be lost as well: repeat
			// while V(R) stays put, N400 times at most.
			m.pollChecks++
			m.logf("lapm: %s: no I frame since the peer's poll: REJ N(R)=%d (%d)", m.cfg.role, m.vr, m.pollChecks)
			m.sendS(false, KindREJ, false)
			m.pollCheckAt = now.Add(m.t401())
		}
	}
	if m.closeAsked && m.st == stateConnected && !m.closeBy.IsZero() && !now.Before(m.closeBy) {
		m.releaseDropped = len(m.txq) + seqDiff(m.vs, m.va)
		m.logf("lapm: %s: release: %d payloads still unacknowledged are dropped", m.cfg.role, m.releaseDropped)
		m.startDisc(now)
		return
	}
	if !m.t401At.IsZero() && !now.Before(m.t401At) {
		m.t401Expired(now)
		return
	}
	if m.st == stateConnected && m.t401At.IsZero() && !m.t403At.IsZero() && !now.Before(m.t403At) {
		// Idle: poll the peer with RR P=1 (V.42 §8.4.9).
		m.stats.T403Polls++
		m.timerRecovery = true
		m.retry = 0
		m.sendS(true, m.rrOrRNR(), true)
		m.t401Start(now)
	}
}

func (m *machine) t401Expired(now time.Time) {
	m.noteRecovery()
	m.stats.T401Expiries++
	m.t401Stop()
	switch m.st {
	case stateEstablishing:
		if m.retry >= m.cfg.n400 {
			m.fail(fmt.Errorf("%w: no answer to SABME after %d tries", ErrLinkFailure, m.retry+1))
			return
		}
		m.retry++
		m.sendU(true, KindSABME, true, nil)
		m.t401Start(now)
		return
	case stateDisconnecting:
		if m.retry >= m.cfg.n400 {
			if m.err == nil {
				m.err = fmt.Errorf("%w: no answer to DISC after %d tries", ErrLinkFailure, m.retry+1)
			}
			m.finishWith()
			return
		}
		m.retry++
		m.sendU(true, KindDISC, true, nil)
		m.t401Start(now)
		return
	}
	if m.xidCmd != nil {
		if m.xidRetry >= m.cfg.n400 {
			m.fail(fmt.Errorf("%w: no answer to XID after %d tries", ErrLinkFailure, m.xidRetry+1))
			return
		}
		m.xidRetry++
		m.sendU(true, KindXID, true, m.xidCmd)
		m.t401Start(now)
		if m.st != stateConnected {
			return
		}
	}
	if m.st != stateConnected {
		return
	}
	if m.brkOut != nil {
		if m.brkRetry >= m.cfg.n400 {
			m.fail(fmt.Errorf("%w: no BRKACK after %d tries", ErrLinkFailure, m.brkRetry+1))
			return
		}
		m.brkRetry++
		m.sendU(true, KindUI, false, m.brkOut)
		m.t401Start(now)
	}
	if m.vs == m.va && !m.peerBusy && !m.timerRecovery {
		return
	}
	// Timer recovery (V.42 §8.4.8): poll with RR/RNR P=1.
	if m.retry >= m.cfg.n400 {
		m.fail(fmt.Errorf("%w: %d polls unanswered (T401 %v)", ErrLinkFailure, m.retry, m.t401()))
		return
	}
	m.retry++
	m.timerRecovery = true
	m.sendS(true, m.rrOrRNR(), true)
	m.t401Start(now)
}

// finishWith ends a release: orderly if err is nil.
func (m *machine) finishWith() {
	if m.err != nil {
		err := m.err
		m.err = nil
		m.fail(err)
		return
	}
	m.finish()
}

// txIdle reports whether nothing is queued or unacknowledged.
func (m *machine) txIdle() bool { return len(m.txq) == 0 && m.vs == m.va }

// flush returns the frames to send now: control frames queued by the
// handlers, new I frames the window allows, and a pending acknowledgement.
// The returned slice is valid until the next flush.
func (m *machine) flush(now time.Time) []Frame {
	if m.st == stateConnected {
		for len(m.txq) > 0 && !m.peerBusy && !m.timerRecovery && seqDiff(m.vs, m.va) < m.p.kTx {
			p := m.txq[0]
			m.txq[0] = nil
			m.txq = m.txq[1:]
			m.unacked = append(m.unacked, sentFrame{p: p, sent: now, recoveries: m.recoveries})
			m.send(Frame{Addr: m.cfg.role.CommandAddr(), Kind: KindI, NS: m.vs, NR: m.vr, Info: p})
			m.stats.IFramesSent++
			m.stats.BytesSent += uint64(len(p))
			m.vs = (m.vs + 1) & 0x7F
			m.ackSent()
			m.t401StartIfStopped(now)
		}
		if len(m.txq) == 0 {
			m.txq = m.txq[:0:0]
		}
		if m.ackPending && !now.Before(m.ackAt) {
			m.sendS(false, m.rrOrRNR(), false)
		}
		if m.closeAsked && len(m.txq) == 0 && m.vs == m.va {
			m.startDisc(now)
		}
	}
	m.flushGen++
	if m.flushGen == 0 {
		for i := range m.unacked {
			m.unacked[i].gen = 0
		}
		m.flushGen = 1
	}
	// The previous batch is no longer valid: drop its payload
	// references, or an idle link would keep its last I frames alive.
	clear(m.spare)
	out := m.out
	m.out = m.spare[:0]
	if cap(m.out) > keepWindow && m.txIdle() {
		m.out = nil // a burst's batch array: an idle link keeps none
	}
	m.spare = out
	return out
}

// takeEvents returns and clears the pending events.
func (m *machine) takeEvents() []event {
	ev := m.ev
	m.ev = nil
	return ev
}

// takeAcked returns the payloads the peer acknowledged since the last
// call; the slice is valid until the next input, and the caller clears it.
// The machine keeps no reference to them that it will read again; but a
// retransmission queued before the acknowledgement arrived still refers to
// its payload in the output of the next flush, so take them only after
// that output has been encoded.
func (m *machine) takeAcked() [][]byte {
	a := m.acked
	m.acked = a[:0]
	if cap(a) > 8 {
		m.acked = nil // an idle link keeps no window-sized array
	}
	return a
}

// takeRx returns and clears the payloads delivered in order.
func (m *machine) takeRx() []rxPayload {
	rx := m.rxq
	m.rxq = nil
	return rx
}
