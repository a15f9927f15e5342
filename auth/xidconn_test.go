package auth

import (
	"context"
	"errors"
	"sync"
)

// errPipeClosed is what a fake XIDConn returns after the pair was closed.
var errPipeClosed = errors.New("fake xid pipe closed")

// xidPipe is an in-memory pair of XIDConns joined by channels, standing in
// for two LAPM links. Every payload sent by either end is recorded in order.
type xidPipe struct {
	done      chan struct{}
	closeOnce sync.Once

	mu  sync.Mutex
	log []sentToken
}

type sentToken struct {
	from string
	tok  []byte
}

type xidEnd struct {
	p          *xidPipe
	name       string
	transcript []byte
	cmdOut     chan []byte // commands to the peer
	cmdIn      chan []byte // commands from the peer
	respOut    chan []byte // responses to the peer
	respIn     chan []byte // responses from the peer
	// tamper, when set, rewrites each payload this end sends (index counts
	// this end's payloads from 0).
	tamper func(i int, tok []byte) []byte
	sent   int
}

// newXIDPipe returns the two ends. Each end's NegotiationTranscript is the
// given transcript; tests that alter the offer pass different ones.
func newXIDPipe(nameA string, transcriptA []byte, nameB string, transcriptB []byte) (*xidPipe, *xidEnd, *xidEnd) {
	p := &xidPipe{done: make(chan struct{})}
	ab, ba := make(chan []byte, 1), make(chan []byte, 1)
	rab, rba := make(chan []byte, 1), make(chan []byte, 1)
	a := &xidEnd{p: p, name: nameA, transcript: transcriptA, cmdOut: ab, cmdIn: ba, respOut: rab, respIn: rba}
	b := &xidEnd{p: p, name: nameB, transcript: transcriptB, cmdOut: ba, cmdIn: ab, respOut: rba, respIn: rab}
	return p, a, b
}

func (p *xidPipe) Close() { p.closeOnce.Do(func() { close(p.done) }) }

func (p *xidPipe) sent() []sentToken {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sentToken(nil), p.log...)
}

func (e *xidEnd) send(ctx context.Context, ch chan []byte, payload []byte) error {
	tok := append([]byte(nil), payload...)
	if e.tamper != nil {
		tok = e.tamper(e.sent, tok)
	}
	e.sent++
	e.p.mu.Lock()
	e.p.log = append(e.p.log, sentToken{from: e.name, tok: tok})
	e.p.mu.Unlock()
	select {
	case ch <- tok:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.p.done:
		return errPipeClosed
	}
}

func (e *xidEnd) recv(ctx context.Context, ch chan []byte) ([]byte, error) {
	select {
	case tok := <-ch:
		return tok, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.p.done:
		return nil, errPipeClosed
	}
}

func (e *xidEnd) ExchangeXID(ctx context.Context, payload []byte) ([]byte, error) {
	if err := e.send(ctx, e.cmdOut, payload); err != nil {
		return nil, err
	}
	return e.recv(ctx, e.respIn)
}

func (e *xidEnd) AcceptXID(ctx context.Context) ([]byte, error) { return e.recv(ctx, e.cmdIn) }

func (e *xidEnd) RespondXID(payload []byte) error {
	return e.send(context.Background(), e.respOut, payload)
}

func (e *xidEnd) NegotiationTranscript() []byte { return e.transcript }

// scriptConn is a single-ended fake XIDConn: it answers ExchangeXID and
// AcceptXID from queues and records everything sent. Used to drive one side
// with crafted, replayed or reflected tokens.
type scriptConn struct {
	transcript []byte
	responses  [][]byte // returned by ExchangeXID, in order
	commands   [][]byte // returned by AcceptXID, in order
	sentCmds   [][]byte
	sentResps  [][]byte
}

var errScriptEnd = errors.New("script exhausted")

func (s *scriptConn) ExchangeXID(ctx context.Context, payload []byte) ([]byte, error) {
	s.sentCmds = append(s.sentCmds, append([]byte(nil), payload...))
	if len(s.responses) == 0 {
		return nil, errScriptEnd
	}
	r := s.responses[0]
	s.responses = s.responses[1:]
	return r, nil
}

func (s *scriptConn) AcceptXID(ctx context.Context) ([]byte, error) {
	if len(s.commands) == 0 {
		return nil, errScriptEnd
	}
	c := s.commands[0]
	s.commands = s.commands[1:]
	return c, nil
}

func (s *scriptConn) RespondXID(payload []byte) error {
	s.sentResps = append(s.sentResps, append([]byte(nil), payload...))
	return nil
}

func (s *scriptConn) NegotiationTranscript() []byte { return s.transcript }

var (
	_ XIDConn = (*xidEnd)(nil)
	_ XIDConn = (*scriptConn)(nil)
)
