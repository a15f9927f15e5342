package modem

import (
	"bytes"
	"context"
	"errors"
	"time"
)

// Prompter asks the DTE's user for a line while a dial is in progress:
// a Dialer that needs a login the phonebook does not hold (an Access
// Security gateway dialed without credentials) gets one from the dial's
// context with PrompterFrom. While a dial prompts, what the DTE types is
// the answer, not a key that abandons the dial.
type Prompter interface {
	// Prompt writes text to the DTE and returns the line typed after it,
	// without its end (CR). With echo false the typed characters are not
	// echoed (a password). The caller wipes the returned bytes after use.
	// It fails with an error wrapping ErrPromptAborted when the user gives
	// up (Ctrl-C, ATH typed as the line, DTR drop) or nothing is typed
	// within PromptTimeout, and with ctx's error when ctx ends.
	Prompt(ctx context.Context, text string, echo bool) ([]byte, error)
}

// ErrPromptAborted is returned (wrapped) by Prompter.Prompt when the user
// abandoned the prompt or let it time out.
var ErrPromptAborted = errors.New("modem: prompt abandoned")

// PromptTimeout bounds how long a prompt waits for its line.
const PromptTimeout = 60 * time.Second

// maxPromptLine bounds a typed line; further characters are ignored (and
// rung at with BEL) until CR or a backspace.
const maxPromptLine = 128

type promptKey struct{}

// PrompterFrom returns the Prompter of a dial's context, if the modem can
// prompt on its DTE.
func PrompterFrom(ctx context.Context) (Prompter, bool) {
	p, ok := ctx.Value(promptKey{}).(Prompter)
	return p, ok
}

// Control characters of the line editor.
const (
	ctrlC = 0x03
	bs    = 0x08
	del   = 0x7f
	bel   = 0x07
	cr    = '\r'
	lf    = '\n'
)

// lineEditor collects one typed line: backspace (BS or DEL) erases,
// CR ends it, Ctrl-C abandons it. It is pure: feed returns what to echo.
type lineEditor struct {
	buf  []byte
	echo bool
}

// editResult is what one typed character did to the line.
type editResult int

const (
	editMore editResult = iota
	editDone
	editAbort
)

// feed takes one character and returns the echo and whether the line is
// complete or abandoned.
func (e *lineEditor) feed(c byte) ([]byte, editResult) {
	switch c {
	case cr:
		return []byte("\r\n"), editDone
	case ctrlC:
		return []byte("^C\r\n"), editAbort
	case bs, del:
		if len(e.buf) == 0 {
			return nil, editMore
		}
		e.buf[len(e.buf)-1] = 0
		e.buf = e.buf[:len(e.buf)-1]
		if e.echo {
			return []byte("\b \b"), editMore
		}
		return nil, editMore
	case lf:
		return nil, editMore // the LF of a CR LF line end
	}
	if c < 0x20 || len(e.buf) >= maxPromptLine {
		return []byte{bel}, editMore
	}
	if e.buf == nil {
		e.buf = make([]byte, 0, maxPromptLine) // never grown: no stray copies
	}
	e.buf = append(e.buf, c)
	if e.echo {
		return []byte{c}, editMore
	}
	return nil, editMore
}

// wipe clears the line.
func (e *lineEditor) wipe() {
	clear(e.buf[:cap(e.buf)])
	e.buf = e.buf[:0]
}

// isHangup reports whether a typed line is the ATH command (the user
// wants out, as from any dial).
func isHangup(line []byte) bool {
	s := bytes.ToUpper(bytes.ReplaceAll(line, []byte(" "), nil))
	return bytes.Equal(s, []byte("ATH")) || bytes.Equal(s, []byte("ATH0"))
}

// promptReq is a Prompt call waiting in the loop.
type promptReq struct {
	gen   uint64
	text  string
	echo  bool
	reply chan promptReply // buffered 1
}

type promptReply struct {
	line []byte
	err  error
}

// prompting is the loop's state while a dial prompts: the request being
// answered (nil between two prompts of the same dial) and what was typed
// ahead of the next prompt.
type prompting struct {
	gen       uint64
	req       *promptReq
	ed        lineEditor
	deadline  time.Time
	typeahead []byte
}

// dialPrompter is the Prompter a dial's context carries.
type dialPrompter struct {
	m   *modem
	gen uint64
}

func (p dialPrompter) Prompt(ctx context.Context, text string, echo bool) ([]byte, error) {
	req := &promptReq{gen: p.gen, text: text, echo: echo, reply: make(chan promptReply, 1)}
	if !p.m.send(event{kind: evPrompt, gen: p.gen, prompt: req}) {
		return nil, context.Canceled
	}
	select {
	case r := <-req.reply:
		return r.line, r.err
	case <-ctx.Done():
		// The loop answers every request; wipe a line that comes late.
		go func() {
			r := <-req.reply
			clear(r.line)
		}()
		return nil, ctx.Err()
	}
}

// startPrompt begins answering req (evPrompt).
func (m *modem) startPrompt(req *promptReq) {
	if req.gen != m.gen || m.ip.State() != StateDialing {
		req.reply <- promptReply{err: errors.New("modem: prompt for a dial that has ended")}
		return
	}
	if m.prompt == nil || m.prompt.gen != req.gen {
		m.endPrompting()
		m.prompt = &prompting{gen: req.gen}
	}
	p := m.prompt
	p.req, p.ed = req, lineEditor{echo: req.echo}
	p.deadline = m.now().Add(PromptTimeout)
	m.toDTE([]byte(req.text))
	ahead := p.typeahead
	p.typeahead = nil
	m.promptInput(ahead)
	clear(ahead)
}

// promptInput feeds what the DTE typed while a dial prompts.
func (m *modem) promptInput(data []byte) {
	p := m.prompt
	for i, c := range data {
		if p.req == nil {
			if c == ctrlC {
				m.toDTE([]byte("^C\r\n"))
				m.abortPrompt("Ctrl-C after the login was typed")
				return
			}
			if len(p.typeahead) < maxPromptLine {
				p.typeahead = append(p.typeahead, c)
			}
			continue
		}
		echo, r := p.ed.feed(c)
		if len(echo) > 0 {
			m.toDTE(echo)
		}
		switch r {
		case editDone:
			if isHangup(p.ed.buf) {
				p.ed.wipe()
				m.abortPrompt("ATH typed at the prompt")
				return
			}
			line := p.ed.buf
			p.ed = lineEditor{}
			p.req.reply <- promptReply{line: line}
			p.req = nil
			m.ip.RestartCarrierWait(m.now())
			if i+1 < len(data) {
				m.promptInput(data[i+1:])
			}
			return
		case editAbort:
			m.abortPrompt("Ctrl-C at the prompt")
			return
		}
	}
}

// abortPrompt abandons the prompting dial: the prompt fails and the
// dial is hung up (NO CARRIER).
func (m *modem) abortPrompt(why string) {
	m.endPrompting()
	m.logf("modem: dial abandoned: %s", why)
	m.dropCall()
	m.apply(m.ip.DialFailed(m.now(), ReasonNoCarrier, ""))
}

// promptTimedOut abandons a dial whose prompt waited PromptTimeout.
func (m *modem) promptTimedOut() {
	m.endPrompting()
	m.logf("modem: dial abandoned: nothing typed at the prompt within %v", PromptTimeout)
	m.dropCall()
	m.apply(m.ip.DialFailed(m.now(), ReasonNoCarrier, "nothing typed at the prompt in time"))
}

// endPrompting answers a waiting prompt with ErrPromptAborted and forgets
// what was typed.
func (m *modem) endPrompting() {
	p := m.prompt
	if p == nil {
		return
	}
	m.prompt = nil
	if p.req != nil {
		p.ed.wipe()
		p.req.reply <- promptReply{err: ErrPromptAborted}
	}
	clear(p.typeahead)
}
