package modem

import (
	"bytes"
	"context"
	"errors"
	"time"
	"unicode/utf8"
)

// Prompter asks the DTE's user for a line while a dial is in progress:
// a Dialer that needs a login the phonebook does not hold (an Access
// Security gateway dialed without credentials) gets one from the dial's
// context with PrompterFrom. While a dial prompts, what the DTE types is
// the answer, not a key that abandons the dial.
type Prompter interface {
	// Prompt writes text to the DTE and returns the line typed after it,
	// without its end (CR), of at most max characters (further ones are
	// rung at with BEL; max <= 0 means maxPromptLine). Of text only CR,
	// LF and printable ASCII reach the DTE, anything else shows as '?'
	// (text may carry a name the far end chose). With echo false the
	// typed characters are not echoed (a password), and the line is never
	// taken for a command. The caller wipes the returned bytes after use.
	// It fails with an error wrapping ErrPromptAborted when the user gives
	// up (Ctrl-C, ATH typed as an echoed line, DTR drop) or the dial's
	// prompts have together waited PromptTimeout, and with ctx's error
	// when ctx ends (the caller ends ctx when the far end stops waiting).
	Prompt(ctx context.Context, text string, echo bool, max int) ([]byte, error)
}

// ErrPromptAborted is returned (wrapped) by Prompter.Prompt when the user
// abandoned the prompt or let it time out.
var ErrPromptAborted = errors.New("modem: prompt abandoned")

// PromptTimeout bounds how long the prompts of one dial wait for their
// lines, all of them together (a login and its password): 45 s leaves the
// gateway's default handshake deadline (security.handshake_deadline,
// 60 s, which covers the whole Access Security handshake) time for the
// rest of the handshake.
const PromptTimeout = 45 * time.Second

// maxPromptLine bounds a typed line when the Prompt call gives no bound;
// further characters are ignored (and rung at with BEL) until CR or a
// backspace.
const maxPromptLine = 128

// maxTypeahead bounds what is kept of the typing between two prompts.
const maxTypeahead = 2048

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
	max  int // the most characters kept; 0 means maxPromptLine
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
		// A character, not an octet: a UTF-8 one is several.
		n := 1
		if r, size := utf8.DecodeLastRune(e.buf); r != utf8.RuneError || size > 1 {
			n = size
		}
		clear(e.buf[len(e.buf)-n:])
		e.buf = e.buf[:len(e.buf)-n]
		if e.echo {
			return []byte("\b \b"), editMore
		}
		return nil, editMore
	case lf:
		return nil, editMore // the LF of a CR LF line end
	}
	limit := e.max
	if limit <= 0 {
		limit = maxPromptLine
	}
	if c < 0x20 || len(e.buf) >= limit {
		return []byte{bel}, editMore
	}
	if e.buf == nil {
		e.buf = make([]byte, 0, limit) // never grown: no stray copies
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
// wants out, as from any dial). Only an echoed line is asked: a hidden
// one is a password, whatever it reads as.
func isHangup(line []byte) bool {
	s := bytes.ToUpper(bytes.ReplaceAll(line, []byte(" "), nil))
	return bytes.Equal(s, []byte("ATH")) || bytes.Equal(s, []byte("ATH0"))
}

// promptReq is a Prompt call waiting in the loop.
type promptReq struct {
	gen   uint64
	text  string
	echo  bool
	max   int
	reply chan promptReply // buffered 1
}

type promptReply struct {
	line []byte
	err  error
}

// prompting is the loop's state while a dial prompts: the request being
// answered (nil between two prompts of the same dial) and what was typed
// ahead of the next prompt. deadline is set at the dial's first prompt
// and bounds all of them (PromptTimeout).
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

func (p dialPrompter) Prompt(ctx context.Context, text string, echo bool, max int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		// The gateway hung up (or the dial ended) since the last line:
		// no prompt on a dead call.
		return nil, err
	}
	req := &promptReq{gen: p.gen, text: text, echo: echo, max: max, reply: make(chan promptReply, 1)}
	if !p.m.send(event{kind: evPrompt, gen: p.gen, prompt: req}) {
		return nil, context.Canceled
	}
	select {
	case r := <-req.reply:
		return r.line, r.err
	case <-ctx.Done():
		// The loop answers every request it takes; wipe a line that
		// comes late. A request still queued when Run ends is never
		// taken: the wait ends with Run.
		go func() {
			select {
			case r := <-req.reply:
				clear(r.line)
			case <-p.m.ctx.Done():
				select {
				case r := <-req.reply:
					clear(r.line)
				default:
				}
			}
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
		m.prompt = &prompting{gen: req.gen, deadline: m.now().Add(PromptTimeout)}
	}
	p := m.prompt
	p.req, p.ed = req, lineEditor{echo: req.echo, max: req.max}
	m.toDTE(printable(req.text))
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
			if p.typeahead == nil {
				p.typeahead = make([]byte, 0, maxTypeahead) // never grown
			}
			if len(p.typeahead) < maxTypeahead {
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
			if p.ed.echo && isHangup(p.ed.buf) {
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
	m.logf("modem: dial abandoned: the login was not typed within %v", PromptTimeout)
	m.dropCall()
	m.apply(m.ip.DialFailed(m.now(), ReasonNoCarrier, "the login was not typed in time"))
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

// printable returns text as shown to the DTE: CR, LF and printable ASCII
// as they are, any other octet as '?'. A name from the far end (the
// gateway's) must not send control codes to the terminal, C1 ones
// (0x80-0x9F, CSI at 0x9B on an 8-bit terminal) included, even as part
// of a UTF-8 sequence.
func printable(text string) []byte {
	b := make([]byte, 0, len(text))
	for _, r := range text { // one '?' per character, not per octet
		if r != cr && r != lf && (r < 0x20 || r > 0x7e) {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return b
}
