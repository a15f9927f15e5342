package lapm

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialgate/dialgate/internal/testutil"
)

// FuzzLinkXID drives a real Link, answerer or originator, through the
// parameter negotiation into the state where Access Security runs
// (xid-ready; docs/access-security.md §1) and on into the data phase,
// and feeds it a script of the fuzzer's choosing: XID commands and
// responses carrying our private set (any payload, fragmentation,
// exchange number, set ID, truncation or lying length), negotiation XID
// frames, any other frame, line garbage, retransmissions, the passing of
// time, and the upper layer's calls (AcceptXID, RespondXID, ExchangeXID,
// Establish, cancellation, Refuse, Close). It reaches Link.onXIDCommand,
// onXIDResponse, privatePayload and xidResponseMatches from the line, in
// the negotiating, xid-ready and later states.
//
// Each input runs in a synctest bubble: the Link's clock and timers are
// the bubble's fake time, so retransmissions and N400 failures happen
// without real sleeps, and synctest.Wait steps the link until it has
// handled each input. For any input:
//   - nothing panics, and every goroutine the Link or the script started
//     ends (synctest.Test fails on a goroutine left blocked);
//   - Close returns within its release bound, and once it has, no call of
//     the upper layer is still waiting (none waits for its context);
//   - a failed Open has closed the line;
//   - a payload AcceptXID returns is the reassembled private payload of
//     an XID command the peer sent whose information field is within
//     MaxXID; a payload ExchangeXID returns, that of an XID response the
//     peer sent, within MaxXID, carrying the exchange number of the
//     command the call sent;
//   - every XID frame the Link sends is within MaxXID, and its private
//     responses carry a payload given to RespondXID and an exchange
//     number some command of the peer carried.
func FuzzLinkXID(f *testing.F) {
	testutil.CheckGoroutines(f)
	for _, s := range lxSeeds() {
		f.Add(s.setup, []byte(s.script))
	}
	f.Fuzz(func(t *testing.T, setup byte, script []byte) {
		synctest.Test(t, func(t *testing.T) { runLinkXID(t, setup, script) })
	})
}

// Script operations: the low four bits of an operation octet; the high
// bits modify it (lxAlt: a variant, lxSwapCR: the frame goes with the
// other C/R bit, lxSplit: its octets reach the link in two reads,
// lxFlipFCS: it goes with the FCS the link does not expect).
const (
	lxOpCmd       = iota // private XID command: seq, flags, len(2), fill, [payload], extras
	lxOpResp             // private XID response: delta to the link's exchange number, then as lxOpCmd
	lxOpNegCmd           // negotiation XID command: params (lxAlt: raw: len, info)
	lxOpNegResp          // negotiation XID response to the link's command: params (lxAlt: raw)
	lxOpRaw              // any frame: address, control, len, info
	lxOpKind             // a frame by kind: kind|P, N(R)
	lxOpResend           // an earlier frame of the peer again: index
	lxOpGarbage          // line octets: len, octets
	lxOpSleep            // let time pass: (n+1) x T401/16
	lxOpAccept           // AcceptXID
	lxOpRespond          // RespondXID: len(2), fill
	lxOpExchange         // ExchangeXID: len(2), fill
	lxOpEstablish        // Establish
	lxOpCancel           // cancel a waiting call (Open while it runs): index
	lxOpHangup           // the peer hangs up: the link reads io.EOF
	lxOpEnd              // Refuse (lxAlt: Close)

	lxAlt     = 0x10
	lxSwapCR  = 0x20
	lxSplit   = 0x40
	lxFlipFCS = 0x80
)

// Flags of lxOpCmd and lxOpResp: how the private set departs from what
// xidInfo builds (no flag: exactly xidInfo's field).
const (
	lxFrag     = 1 << iota // fragments of 1..255 octets (extra octet: size-1)
	lxNoSeq                // no exchange number
	lxExtra                // odd parameters after the payload: another number, a 2-octet number, an unknown PI, an empty fragment
	lxTwoSets              // a foreign set before ours and a second set of ours after it
	lxOtherID              // another set ID (extra octet chooses it)
	lxNegGroup             // a parameter negotiation group before the set and user data after it
	lxTruncate             // the field cut short (extra octet: octets cut - 1)
	lxPoke                 // one octet changed (extra octets: position, value); position 2: the group length
)

const (
	lxT401       = 100 * time.Millisecond
	lxCallWait   = time.Hour // contexts of Open and the calls: a safety net only
	lxMaxOps     = 200
	lxMaxPayload = 4400 // generated payloads: past the largest frame the link decodes
)

var lxOtherIDs = []string{"DGAS2", "V42", "", "DGAS1\x00", "dgas1"}

// lxPeerParams is what the script's peer offers when it completes the
// negotiation itself.
var lxPeerParams = LinkParams{N401: 256, K: 15, FCS32: true, SREJ: true}

// lxLine is the line between the Link and the script's peer: what the peer
// sends waits in rx for the link's reads; what the link writes is kept in
// tx. Writes never block.
type lxLine struct {
	mu     sync.Mutex
	rx     []byte
	eof    bool // the peer hung up: Read returns io.EOF once rx is read
	tx     []byte
	closed bool
	notify chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newLXLine() *lxLine {
	return &lxLine{notify: make(chan struct{}, 1), done: make(chan struct{})}
}

func (p *lxLine) Read(b []byte) (int, error) {
	for {
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			return 0, io.ErrClosedPipe
		case len(p.rx) > 0:
			n := copy(b, p.rx)
			p.rx = p.rx[n:]
			p.mu.Unlock()
			return n, nil
		case p.eof:
			p.mu.Unlock()
			return 0, io.EOF
		}
		p.mu.Unlock()
		select {
		case <-p.notify:
		case <-p.done:
		}
	}
}

func (p *lxLine) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	p.tx = append(p.tx, b...)
	return len(b), nil
}

func (p *lxLine) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.done)
	})
	return nil
}

func (p *lxLine) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// send hands line octets to the link's reads (dropped after a hang-up).
func (p *lxLine) send(b []byte, eof bool) {
	p.mu.Lock()
	if !p.closed && !p.eof {
		p.rx = append(p.rx, b...)
		p.eof = eof
	}
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// takeTx returns what the link wrote since the last call.
func (p *lxLine) takeTx(from int) ([]byte, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.tx[from:]), len(p.tx)
}

// lxScript reads the fuzzer's script; past its end it reads zeros.
type lxScript struct{ b []byte }

func (s *lxScript) more() bool { return len(s.b) > 0 }
func (s *lxScript) peek() byte { return s.b[0] }

func (s *lxScript) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *lxScript) u16() int { return int(s.byte())<<8 | int(s.byte()) }

func (s *lxScript) bytes(n int) []byte {
	n = min(n, len(s.b))
	r := s.b[:n:n]
	s.b = s.b[n:]
	return r
}

// lxCall is an upper-layer call the script made, run on its own goroutine.
type lxCall struct {
	what    string
	cancel  context.CancelFunc
	done    chan struct{}
	n0      int // ExchangeXID: the link's XID frames sent before the call
	payload []byte
	err     error
}

type lxHarness struct {
	t      *testing.T
	role   Role // the link's
	peer   Role
	maxXID int // the link's MaxXID in force
	n400   int
	line   *lxLine
	ctx    context.Context
	l      *Link
	fcs32  bool // the link negotiated FCS-32: the peer sends FCS-32 frames

	sent     [][]byte // frames the peer sent (address, control, information)
	peerLine []byte   // every octet sent to the link

	out16, out32 Decoder
	outAt        int
	linkXID      []Frame // XID frames the link sent, in order

	calls     []*lxCall
	accept    *lxCall // outstanding calls, one of each kind unless lxAlt
	exchange  *lxCall
	establish *lxCall
	responded [][]byte // payloads given to RespondXID
}

func runLinkXID(t *testing.T, setup byte, script []byte) {
	role := Answerer
	if setup&1 != 0 {
		role = Originator
	}
	cfg := Config{
		Role:   role,
		Params: LinkParams{N401: 256, FCS32: setup&2 != 0, SREJ: setup&4 != 0},
		T401:   lxT401,
		N400:   int(setup>>5&3) + 1,
		MaxXID: [...]int{0, 256, 600, 4096}[setup>>3&3],
		Now:    time.Now, // the bubble's fake clock
	}
	if setup&0x80 != 0 {
		cfg.T403 = -1
	}
	h := &lxHarness{t: t, role: role, peer: Answerer, n400: cfg.N400, line: newLXLine()}
	if role == Answerer {
		h.peer = Originator
	}
	h.maxXID = cfg.MaxXID
	if h.maxXID == 0 {
		h.maxXID = DefaultMaxXID
	}
	maxFrame := max(MaxN401+3, h.maxXID+2, cfg.Params.N401+3)
	h.out16 = Decoder{FCS: FCS16, MaxFrame: maxFrame}
	h.out32 = Decoder{FCS: FCS32, MaxFrame: maxFrame}
	ctx, cancel := context.WithTimeout(context.Background(), lxCallWait)
	defer cancel()
	h.ctx = ctx

	// Open, while the script's first operations arrive from the peer.
	openCtx, openCancel := context.WithCancel(ctx)
	defer openCancel()
	type opened struct {
		l   *Link
		err error
	}
	openc := make(chan opened, 1)
	go func() {
		l, err := Open(openCtx, h.line, nil, cfg)
		openc <- opened{l, err}
	}()
	h.settle()
	s := &lxScript{b: script}
	var res *opened
	ops := 0
setup:
	for res == nil && s.more() && ops < lxMaxOps {
		b := s.peek()
		switch b & 0x0F {
		case lxOpAccept, lxOpRespond, lxOpExchange, lxOpEstablish, lxOpEnd:
			break setup // needs the link: the peer completes the negotiation
		case lxOpCancel:
			s.byte()
			openCancel()
		default:
			s.byte()
			h.peerOp(b, s)
		}
		ops++
		h.settle()
		select {
		case r := <-openc:
			res = &r
		default:
		}
	}
	if res == nil {
		h.completeNegotiation()
		h.settle()
		r := <-openc // bounded by N400 x T401 or the context
		res = &r
	}
	if res.err != nil {
		if !h.line.isClosed() {
			t.Errorf("Open failed (%v) and left the line open", res.err)
		}
		h.check()
		return
	}
	h.l = res.l
	h.fcs32 = h.l.Negotiated().FCS == FCS32

	for s.more() && ops < lxMaxOps {
		b := s.byte()
		switch b & 0x0F {
		case lxOpAccept:
			h.callAccept(b)
		case lxOpRespond:
			h.respond(s)
		case lxOpExchange:
			h.callExchange(b, s)
		case lxOpEstablish:
			h.callEstablish(b)
		case lxOpCancel:
			if len(h.calls) > 0 {
				h.calls[int(s.byte())%len(h.calls)].cancel()
			} else {
				s.byte()
			}
		case lxOpEnd:
			if b&lxAlt != 0 {
				h.close()
			} else {
				_ = h.l.Refuse()
			}
		default:
			h.peerOp(b, s)
		}
		ops++
		h.settle()
	}
	h.close()
	h.settle()
	for _, c := range h.calls {
		select {
		case <-c.done:
		default:
			t.Errorf("%s still waits after Close returned", c.what)
		}
	}
	for _, c := range h.calls {
		c.cancel()
		<-c.done
	}
	h.check()
}

// settle lets the link handle everything sent so far, then reads its
// output.
func (h *lxHarness) settle() {
	synctest.Wait()
	var p []byte
	p, h.outAt = h.line.takeTx(h.outAt)
	for _, d := range []*Decoder{&h.out16, &h.out32} {
		d.Feed(p, func(b []byte) {
			if f, err := ParseFrame(b); err == nil && f.Kind == KindXID {
				f.Info = slices.Clone(f.Info)
				h.linkXID = append(h.linkXID, f)
			}
		})
	}
}

// close closes the link and checks the release bound.
func (h *lxHarness) close() {
	start := time.Now()
	_ = h.l.Close()
	if el, limit := time.Since(start), time.Duration(2*h.n400+2)*lxT401; el > limit {
		h.t.Errorf("Close took %v, bound %v", el, limit)
	}
	if !h.line.isClosed() {
		h.t.Errorf("Close left the line open")
	}
}

// sendFrame sends a frame (address, control, information) to the link.
func (h *lxHarness) sendFrame(b byte, frame []byte) {
	h.sent = append(h.sent, frame)
	e := Encoder{FCS: FCS16}
	if h.fcs32 != (b&lxFlipFCS != 0) {
		e.FCS = FCS32
	}
	enc := e.AppendFrame(nil, frame)
	h.peerLine = append(h.peerLine, enc...)
	if b&lxSplit != 0 {
		h.line.send(enc[:len(enc)/2], false)
		synctest.Wait()
		enc = enc[len(enc)/2:]
	}
	h.line.send(enc, false)
}

func (h *lxHarness) sendXID(b byte, cmd bool, info []byte) {
	if b&lxSwapCR != 0 {
		cmd = !cmd
	}
	addr := h.peer.ResponseAddr()
	if cmd {
		addr = h.peer.CommandAddr()
	}
	f := Frame{Addr: addr, Kind: KindXID, PF: true, Info: info}
	h.sendFrame(b, f.Append(nil))
}

// lastLinkCmd is the information field of the link's last XID command
// with (private) or without our private set.
func (h *lxHarness) lastLinkCmd(private bool) ([]byte, bool) {
	for i := len(h.linkXID) - 1; i >= 0; i-- {
		f := h.linkXID[i]
		if f.Addr != h.role.CommandAddr() {
			continue
		}
		if _, _, ok := lxRef(f.Info); ok == private {
			return f.Info, true
		}
	}
	return nil, false
}

func lxPayload(n int, fill byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = fill + byte(i) ^ byte(i>>8)
	}
	return p
}

func lxParams(c byte) LinkParams {
	return LinkParams{
		N401:  [...]int{0, 64, 256, MaxN401}[c>>2&3],
		K:     int(c>>4&7) * 18,
		FCS32: c&1 != 0,
		SREJ:  c&2 != 0,
	}
}

// privateInfo builds an XID information field carrying a payload in our
// private set under exchange number seq, altered as the flags say.
func (h *lxHarness) privateInfo(b byte, s *lxScript, seq byte) []byte {
	flags := s.byte()
	n := s.u16() % lxMaxPayload
	fill := s.byte()
	payload := lxPayload(n, fill)
	if b&lxAlt != 0 {
		payload = s.bytes(n % 256)
	}
	if flags == 0 {
		return xidInfo(payload, seq)
	}
	frag := 255
	if flags&lxFrag != 0 {
		frag = int(s.byte())%255 + 1
	}
	set := PrivateSet{ID: PrivateSetID}
	if flags&lxOtherID != 0 {
		set.ID = lxOtherIDs[int(s.byte())%len(lxOtherIDs)]
	}
	if flags&lxNoSeq == 0 {
		set.Params = append(set.Params, Param{PI: piExchange, Value: []byte{seq}})
	}
	for rest := payload; len(rest) > 0; {
		k := min(len(rest), frag)
		set.Params = append(set.Params, Param{PI: piPayload, Value: rest[:k]})
		rest = rest[k:]
	}
	if flags&lxExtra != 0 {
		set.Params = append(set.Params,
			Param{PI: piExchange, Value: []byte{seq + 1}},
			Param{PI: piExchange, Value: []byte{seq, seq}},
			Param{PI: 9, Value: []byte("?")},
			Param{PI: piPayload})
	}
	x := XIDParams{Private: []PrivateSet{set}}
	if flags&lxTwoSets != 0 {
		x.Private = []PrivateSet{
			{ID: "V42", Params: []Param{{PI: 1, Value: []byte{1}}}},
			set,
			{ID: PrivateSetID, Params: []Param{{PI: piExchange, Value: []byte{seq + 1}}, {PI: piPayload, Value: []byte("second set")}}},
		}
	}
	if flags&lxNegGroup != 0 {
		x.HasOptionalFunctions, x.OptionalFunctions = true, OptMandatory|OptSREJ|OptFCS32
		x.N401Tx, x.N401Rx, x.KTx, x.KRx = 512, 512, 31, 31
		x.UserData = []byte("user data")
	}
	info := x.Append(nil)
	if flags&lxTruncate != 0 {
		info = info[:max(len(info)-int(s.byte())-1, 1)]
	}
	if flags&lxPoke != 0 {
		at, v := int(s.byte())%len(info), s.byte()
		info[at] = v
	}
	return info
}

// peerOp runs one of the peer's operations.
func (h *lxHarness) peerOp(b byte, s *lxScript) {
	switch b & 0x0F {
	case lxOpCmd:
		seq := s.byte()
		h.sendXID(b, true, h.privateInfo(b, s, seq))
	case lxOpResp:
		seq := s.byte()
		if cmd, ok := h.lastLinkCmd(true); ok {
			_, seqs, _ := lxRef(cmd)
			seq += seqs[len(seqs)-1]
		}
		h.sendXID(b, false, h.privateInfo(b, s, seq))
	case lxOpNegCmd:
		if b&lxAlt != 0 {
			h.sendXID(b, true, s.bytes(int(s.byte())))
			return
		}
		x := lxParams(s.byte()).Offer()
		h.sendXID(b, true, x.Append(nil))
	case lxOpNegResp:
		if b&lxAlt != 0 {
			h.sendXID(b, false, s.bytes(int(s.byte())))
			return
		}
		h.sendXID(b, false, h.negResponse(lxParams(s.byte())))
	case lxOpRaw:
		a, ctl, n := s.byte(), s.byte(), s.byte()
		switch a % 4 {
		case 0:
			a = h.peer.CommandAddr()
		case 1:
			a = h.peer.ResponseAddr()
		}
		h.sendFrame(b, append([]byte{a, ctl}, s.bytes(int(n))...))
	case lxOpKind:
		k, nr := s.byte(), s.byte()
		kinds := [...]Kind{KindSABME, KindUA, KindDISC, KindDM, KindFRMR, KindTEST, KindUI, KindRR, KindRNR, KindREJ, KindSREJ, KindI}
		f := Frame{Kind: kinds[int(k&0x7F)%len(kinds)], PF: k&0x80 != 0, NR: nr & 0x7F, NS: nr >> 1}
		cmd := f.Kind == KindSABME || f.Kind == KindDISC || f.Kind == KindI || f.Kind == KindUI || f.Kind == KindTEST || f.Kind.IsSupervisory()
		if b&lxSwapCR != 0 {
			cmd = !cmd
		}
		f.Addr = h.peer.ResponseAddr()
		if cmd {
			f.Addr = h.peer.CommandAddr()
		}
		switch f.Kind {
		case KindFRMR:
			f.Info = []byte{ctlXID, 0, 0, 0, frmrW}
		case KindUI:
			f.Info = []byte{brkType | nr&brkSeqBit, brkNonDest}
		case KindTEST, KindI:
			f.Info = []byte("test")
		}
		h.sendFrame(b, f.Append(nil))
	case lxOpResend:
		i := int(s.byte())
		if len(h.sent) > 0 {
			h.sendFrame(b, h.sent[i%len(h.sent)])
		}
	case lxOpGarbage:
		g := s.bytes(int(s.byte()))
		h.peerLine = append(h.peerLine, g...)
		h.line.send(g, false)
	case lxOpSleep:
		time.Sleep((time.Duration(s.byte()) + 1) * lxT401 / 16)
	case lxOpHangup:
		h.line.send(nil, true)
	}
}

// negResponse answers the link's last negotiation XID command as a peer
// with params would.
func (h *lxHarness) negResponse(p LinkParams) []byte {
	var x XIDParams
	if cmd, ok := h.lastLinkCmd(false); ok {
		x, _ = ParseXID(cmd)
	} else {
		x = (LinkParams{}).Offer()
	}
	resp, _ := Respond(p, x)
	return resp.Append(nil)
}

// completeNegotiation is the peer finishing the negotiation the script
// left open: it sends its own negotiation command (the link answers) or
// answers the link's.
func (h *lxHarness) completeNegotiation() {
	if h.role == Answerer {
		x := lxPeerParams.Offer()
		h.sendXID(0, true, x.Append(nil))
		return
	}
	if _, ok := h.lastLinkCmd(false); ok {
		h.sendXID(0, false, h.negResponse(lxPeerParams))
	}
}

func (h *lxHarness) start(what string, run func(ctx context.Context) ([]byte, error)) *lxCall {
	ctx, cancel := context.WithCancel(h.ctx)
	c := &lxCall{what: what, cancel: cancel, done: make(chan struct{}), n0: len(h.linkXID)}
	h.calls = append(h.calls, c)
	go func() {
		defer close(c.done)
		c.payload, c.err = run(ctx)
	}()
	return c
}

func lxWaiting(c *lxCall) bool {
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (h *lxHarness) callAccept(b byte) {
	if lxWaiting(h.accept) && b&lxAlt == 0 {
		return
	}
	h.accept = h.start("AcceptXID", h.l.AcceptXID)
}

func (h *lxHarness) callExchange(b byte, s *lxScript) {
	n, fill := s.u16()%lxMaxPayload, s.byte()
	if lxWaiting(h.exchange) && b&lxAlt == 0 {
		return
	}
	payload := lxPayload(n, fill)
	c := h.start("ExchangeXID", func(ctx context.Context) ([]byte, error) { return h.l.ExchangeXID(ctx, payload) })
	if !lxWaiting(h.exchange) {
		h.exchange = c // the call whose command carries the next exchange number
	}
}

func (h *lxHarness) callEstablish(b byte) {
	if lxWaiting(h.establish) && b&lxAlt == 0 {
		return
	}
	h.establish = h.start("Establish", func(ctx context.Context) ([]byte, error) { return nil, h.l.Establish(ctx) })
}

func (h *lxHarness) respond(s *lxScript) {
	n, fill := s.u16()%lxMaxPayload, s.byte()
	p := lxPayload(n, fill)
	h.responded = append(h.responded, p)
	_ = h.l.RespondXID(p)
}

// lxRef reads an XID information field as Access Security carries it
// (docs/access-security.md §1): the first set named PrivateSetID, its PI 1
// fragments concatenated, and the exchange numbers it holds (every PI 2
// of one octet; 0 when it has none). It is deliberately lenient about
// which exchange number counts.
func lxRef(info []byte) (payload, seqs []byte, ok bool) {
	x, err := ParseXID(info)
	if err != nil {
		return nil, nil, false
	}
	set, ok := x.FindPrivate(PrivateSetID)
	if !ok {
		return nil, nil, false
	}
	payload = []byte{}
	for _, p := range set.Params {
		switch {
		case p.PI == piPayload:
			payload = append(payload, p.Value...)
		case p.PI == piExchange && len(p.Value) == 1:
			seqs = append(seqs, p.Value[0])
		}
	}
	if len(seqs) == 0 {
		seqs = []byte{0}
	}
	return payload, seqs, true
}

type lxXID struct {
	info, payload, seqs []byte
}

// peerXIDs decodes everything the peer put on the line, as the link's
// decoders could have (FCS-16 and FCS-32), and returns the XID commands
// and responses that carry our private set.
func (h *lxHarness) peerXIDs() (cmds, resps []lxXID) {
	maxFrame := h.out16.MaxFrame
	for _, k := range []FCSKind{FCS16, FCS32} {
		d := Decoder{FCS: k, MaxFrame: maxFrame}
		d.Feed(h.peerLine, func(b []byte) {
			f, err := ParseFrame(b)
			if err != nil || f.Kind != KindXID {
				return
			}
			p, seqs, ok := lxRef(f.Info)
			if !ok {
				return
			}
			x := lxXID{info: slices.Clone(f.Info), payload: p, seqs: seqs}
			if h.role.IsCommandFrom(f.Addr) {
				cmds = append(cmds, x)
			} else {
				resps = append(resps, x)
			}
		})
	}
	return cmds, resps
}

// carried reports whether one of xs carries payload with one of seqs
// (any, if seqs is nil) within MaxXID, and whether one does beyond it.
func (h *lxHarness) carried(xs []lxXID, payload, seqs []byte) (within, beyond int) {
	within, beyond = -1, -1
	for i, x := range xs {
		if !bytes.Equal(x.payload, payload) {
			continue
		}
		if seqs != nil && !slices.ContainsFunc(x.seqs, func(s byte) bool { return bytes.IndexByte(seqs, s) >= 0 }) {
			continue
		}
		if len(x.info) <= h.maxXID {
			within = i
		} else {
			beyond = i
		}
	}
	return within, beyond
}

func (h *lxHarness) check() {
	t := h.t
	cmds, resps := h.peerXIDs()
	for _, c := range h.calls {
		if c.err != nil || c.payload == nil {
			continue
		}
		var (
			xs   []lxXID
			seqs []byte
			what string
		)
		switch c.what {
		case "AcceptXID":
			xs, what = cmds, "XID command"
		case "ExchangeXID":
			xs, what = resps, "XID response"
			seqs = []byte{}
			for _, f := range h.linkXID[c.n0:] {
				if f.Addr == h.role.CommandAddr() {
					if _, s, ok := lxRef(f.Info); ok {
						seqs = append(seqs, s...)
					}
				}
			}
		default:
			continue
		}
		within, beyond := h.carried(xs, c.payload, seqs)
		switch {
		case within >= 0:
		case beyond >= 0:
			t.Errorf("%s returned a payload of %d octets from an %s whose information field has %d octets, over MaxXID %d",
				c.what, len(c.payload), what, len(xs[beyond].info), h.maxXID)
		default:
			t.Errorf("%s returned a payload of %d octets (% .16x) that no %s of the peer carried (exchange numbers % x)",
				c.what, len(c.payload), c.payload, what, seqs)
		}
	}
	cmdSeqs := []byte{0}
	for _, c := range cmds {
		cmdSeqs = append(cmdSeqs, c.seqs...)
	}
	for _, f := range h.linkXID {
		if len(f.Info) > h.maxXID {
			t.Errorf("the link sent an XID frame of %d octets, over MaxXID %d", len(f.Info), h.maxXID)
		}
		if f.Addr != h.role.ResponseAddr() {
			continue
		}
		p, seqs, ok := lxRef(f.Info)
		if !ok {
			continue
		}
		if !slices.ContainsFunc(h.responded, func(r []byte) bool { return bytes.Equal(r, p) }) {
			t.Errorf("the link answered with a private payload of %d octets never given to RespondXID", len(p))
		}
		if len(seqs) != 1 || bytes.IndexByte(cmdSeqs, seqs[0]) < 0 {
			t.Errorf("the link answered with exchange numbers % x; the peer's commands carried % x", seqs, cmdSeqs)
		}
	}
}

// Seeds: scripts built with the package's own encoders (xidInfo, Offer,
// Respond) and the operations above.

type lxSeed struct {
	setup  byte
	script string
}

type lxB []byte

func (b lxB) op(o byte, args ...byte) lxB { return append(append(b, o), args...) }

func (b lxB) cmd(o, seq, flags byte, n int, fill byte, extra ...byte) lxB {
	return append(b.op(o, seq, flags, byte(n>>8), byte(n), fill), extra...)
}

func (b lxB) u16(o byte, n int, fill byte) lxB { return b.op(o, byte(n>>8), byte(n), fill) }

const (
	lxSetupOrig   = 1
	lxSetupFCS32  = 2
	lxSetupSREJ   = 4
	lxSetupXID256 = 1 << 3
	lxSetupN400x3 = 2 << 5
)

func lxSeeds() []lxSeed {
	peerP := byte(0x1B) // FCS32, SREJ, N401 256, K 18
	seeds := []struct {
		setup byte
		b     lxB
	}{
		// Answerer: negotiation, a token, its answer, a retransmitted
		// command answered from the cache, then SABME and the data phase.
		{0, lxB{}.op(lxOpNegCmd, peerP).op(lxOpAccept).cmd(lxOpCmd, 1, 0, 20, 'a').
			u16(lxOpRespond, 30, 'b').op(lxOpResend, 1).op(lxOpAccept).op(lxOpKind, 0, 0).op(lxOpEstablish).op(lxOpEnd | lxAlt)},
		// Answerer: the largest token, nine fragments, both ways; then a
		// second exchange of the handshake.
		{lxSetupFCS32 | lxSetupSREJ, lxB{}.op(lxOpNegCmd, peerP).cmd(lxOpCmd, 1, 0, 2048, 0xC3).op(lxOpAccept).
			u16(lxOpRespond, 2048, 0x7E).cmd(lxOpCmd, 2, 0, 600, 'r').op(lxOpAccept).u16(lxOpRespond, 1, 'c')},
		// Originator: two exchanges, a stale response with the earlier
		// exchange number between them, then SABME/UA.
		{lxSetupOrig, lxB{}.op(lxOpNegResp, peerP).u16(lxOpExchange, 600, 'i').cmd(lxOpResp, 0, 0, 300, 'c').
			u16(lxOpExchange, 10, 'r').cmd(lxOpResp, 0xFF, 0, 300, 'c').cmd(lxOpResp, 0, 0, 7, 'k').
			op(lxOpEstablish).op(lxOpKind, 1|0x80, 0).op(lxOpEnd | lxAlt)},
		// Answerer: a truncated parameter, an oversize group length, odd
		// fragmentation with extra parameters and two sets, a foreign set.
		{lxSetupN400x3, lxB{}.op(lxOpNegCmd, peerP).op(lxOpAccept).
			cmd(lxOpCmd, 2, lxTruncate, 300, 'x', 0).
			cmd(lxOpCmd, 3, lxPoke, 10, 'y', 2, 0xFF).
			cmd(lxOpCmd, 4, lxFrag|lxExtra|lxTwoSets, 700, 'z', 99).
			op(lxOpAccept).cmd(lxOpCmd, 5, lxOtherID|lxNoSeq, 5, 'q', 1).
			cmd(lxOpCmd, 6, lxNegGroup, 5, 'n').u16(lxOpRespond, 5, 'o')},
		// Originator: an exchange nobody answers: retransmissions, then
		// the link fails after N400.
		{lxSetupOrig | lxSetupN400x3, lxB{}.op(lxOpNegResp, peerP).u16(lxOpExchange, 40, 'e').
			op(lxOpSleep, 255).op(lxOpSleep, 255).op(lxOpSleep, 255).op(lxOpSleep, 255).op(lxOpSleep, 255).op(lxOpAccept)},
		// Answerer: an ordinary V.42 peer sends SABME without XID;
		// AcceptXID reports it and the call is refused.
		{0, lxB{}.op(lxOpKind, 0, 0).op(lxOpAccept).op(lxOpEnd)},
		// Answerer: a private XID command while negotiating (taken as the
		// negotiation), a cancelled AcceptXID, then the peer hangs up.
		{0, lxB{}.cmd(lxOpCmd, 1, 0, 5, 'p').op(lxOpAccept).op(lxOpCancel, 0).op(lxOpAccept).op(lxOpHangup)},
		// Originator: XID collision (both send commands), a response to a
		// negotiation answered with our set, then the answer.
		{lxSetupOrig | lxSetupSREJ, lxB{}.op(lxOpNegResp, peerP&^1).u16(lxOpExchange, 33, 'c').cmd(lxOpCmd, 9, 0, 3, 'd').
			op(lxOpNegResp, peerP).cmd(lxOpResp, 0, 0, 44, 'r').op(lxOpSleep, 40).op(lxOpAccept).u16(lxOpRespond, 3, 'e')},
		// FCS-32 negotiated; frames in both FCSs, split across reads.
		{lxSetupFCS32, lxB{}.op(lxOpNegCmd, 1).op(lxOpAccept).cmd(lxOpCmd|lxFlipFCS, 1, 0, 9, 'f').
			cmd(lxOpCmd|lxSplit, 1, 0, 9, 'g').u16(lxOpRespond, 9, 'h').op(lxOpGarbage, 4, 0x7E, 0xFF, 0x00, 0x7E)},
		// MaxXID 256: a token that just fits; an ExchangeXID over it.
		{lxSetupXID256, lxB{}.op(lxOpNegCmd, 0).cmd(lxOpCmd, 1, 0, 240, 't').op(lxOpAccept).
			u16(lxOpRespond, 250, 'u').u16(lxOpExchange, 300, 'v').u16(lxOpExchange, 10, 'w').cmd(lxOpResp, 0, 0, 3, 'x')},
		// Originator: the negotiation response turns on SREJ, never
		// offered: the link fails.
		{lxSetupOrig, lxB{}.op(lxOpNegResp, 2).op(lxOpAccept)},
		// Originator: a raw negotiation response that selects SREJ,
		// never offered: Apply fails and so does the link.
		{lxSetupOrig, lxB{}.op(lxOpNegResp|lxAlt, 8, 0x82, 0x80, 0, 5, piOptional, 2, 0x86, 0x88).op(lxOpAccept)},
		// Originator with FCS-32 negotiated; an exchange answered with a
		// field that does not parse; a second exchange while one runs; an
		// exchange given up (cancelled) and a late answer to it.
		{lxSetupOrig | lxSetupFCS32, lxB{}.op(lxOpNegResp, 1).u16(lxOpExchange, 5, 'a').op(lxOpNegResp|lxAlt, 3, 0x82, 0xF0, 0).
			u16(lxOpExchange, 6, 'b').u16(lxOpExchange|lxAlt, 7, 'c').cmd(lxOpResp, 0, 0, 8, 'd').
			u16(lxOpExchange, 9, 'e').op(lxOpCancel, 3).cmd(lxOpResp, 0, 0, 10, 'f').op(lxOpEstablish).op(lxOpSleep, 200)},
		// Any frame: a raw XID command with lying lengths, FRMR, DISC.
		{0, lxB{}.op(lxOpNegCmd, 0).op(lxOpRaw, 0, ctlXID|pfBitU, 8, 0x82, 0xF0, 0xFF, 0xFF, 0, 5, 'D', 'G').
			op(lxOpAccept).op(lxOpKind, 4, 0).op(lxOpKind, 2|0x80, 0)},
	}
	out := make([]lxSeed, len(seeds))
	for i, s := range seeds {
		out[i] = lxSeed{s.setup, string(s.b)}
	}
	return out
}
