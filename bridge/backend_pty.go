//go:build unix

package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/transport"
)

// ptyKillGrace is how long a pty child has between SIGHUP and SIGKILL.
const ptyKillGrace = 2 * time.Second

// ptyBackend runs a program on a pseudo-terminal for each session.
type ptyBackend struct {
	name string
	argv []string
	dir  string
	env  []string
	term string
}

// newPTYBackend builds a pty backend from its configuration (Unix only:
// backend_pty_other.go refuses it elsewhere).
func newPTYBackend(b config.Backend) (Backend, error) {
	return &ptyBackend{name: b.Name, argv: b.Command, dir: b.Dir, env: b.Env, term: b.Term}, nil
}

func (b *ptyBackend) Connect(ctx context.Context, s Session) (BackendConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.Command(b.argv[0], b.argv[1:]...)
	cmd.Dir = b.dir
	// Telnet clients announce their terminal type in capitals (RFC 1091
	// names are case-insensitive; inetutils telnet sends "XTERM"), but
	// terminfo looks TERM up by its lower-case file name, so a curses
	// program would find no "XTERM" entry. telnetd lowercases it too.
	term := strings.ToLower(s.Term)
	if term == "" {
		term = b.term
	}
	cmd.Env = append(minimalEnv(), b.env...)
	cmd.Env = append(cmd.Env,
		"TERM="+term,
		"DIALGATE_USER="+s.User,
		"DIALGATE_SESSION="+strconv.FormatUint(s.Number, 10),
		"DIALGATE_REMOTE="+s.Remote,
		"DIALGATE_LISTENER="+s.Listener,
	)
	ws := &pty.Winsize{Cols: 80, Rows: 24}
	if s.Window.Cols > 0 && s.Window.Rows > 0 {
		ws = &pty.Winsize{Cols: uint16(min(s.Window.Cols, 0xFFFF)), Rows: uint16(min(s.Window.Rows, 0xFFFF))}
	}
	started, err := startPTY(cmd, ws, s.LineRate)
	if err != nil {
		if b.dir != "" {
			// The child's chdir fails as "fork/exec PROGRAM: ...",
			// which names the program, not the directory.
			if st, serr := os.Stat(b.dir); serr != nil {
				return nil, fmt.Errorf("%w: %s: dir %s: %v", ErrBackendUnavailable, b.argv[0], b.dir, errors.Unwrap(serr))
			} else if !st.IsDir() {
				return nil, fmt.Errorf("%w: %s: dir %s is not a directory", ErrBackendUnavailable, b.argv[0], b.dir)
			}
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrBackendUnavailable, b.argv[0], err)
	}
	ptmx, err := pollable(started)
	if err != nil {
		// The child runs already: hang it up as a session's end would.
		c := &ptyConn{ptmx: started, cmd: cmd, pgid: cmd.Process.Pid, exited: make(chan struct{})}
		go c.reap()
		c.Close()
		return nil, fmt.Errorf("%w: %s: pty: %v", ErrBackendUnavailable, b.argv[0], err)
	}
	c := &ptyConn{ptmx: ptmx, cmd: cmd, pgid: cmd.Process.Pid, exited: make(chan struct{})}
	c.packet = packetMode(ptmx)
	go c.reap()
	return c, nil
}

// startPTY starts cmd on a new pty of size ws as pty.StartWithSize does
// (the child a session and process group leader with the pty as its
// controlling terminal), with the terminal's speed set to the line's
// rate first (setTermSpeed; rate 0: left at the system's default) so
// that a program that reads it as it starts sees the caller's speed: a
// curses program pads for it (BBS trial: nethack at 2,400 bit/s sent 360
// NULs of padding for 38,400 in a 640-octet screen, 20 of 300 for
// 2,400).
func startPTY(cmd *exec.Cmd, ws *pty.Winsize, rate int) (*os.File, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	if err := pty.Setsize(ptmx, ws); err != nil {
		ptmx.Close()
		return nil, err
	}
	if rate > 0 {
		if err := setTermSpeed(tty, rate); err != nil {
			ptmx.Close()
			return nil, fmt.Errorf("terminal speed %d: %w", rate, err)
		}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		ptmx.Close()
		return nil, err
	}
	return ptmx, nil
}

// withFD runs fn with f's descriptor without making f blocking (as Fd
// would).
func withFD(f *os.File, fn func(fd int)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}

// minimalEnv is the environment a pty child inherits from the gateway:
// only what a program needs to run, nothing of the daemon's secrets.
func minimalEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := os.LookupEnv("PATH"); !ok {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return env
}

type ptyConn struct {
	ptmx *os.File
	cmd  *exec.Cmd
	pgid int

	exited  chan struct{} // closed when the child has been reaped
	waitErr error

	closeOnce sync.Once
	hupOnce   sync.Once
	hupAt     time.Time   // when hangUp sent SIGHUP, under hupOnce
	killed    atomic.Bool // Close sent SIGKILL to a program that outlived SIGHUP

	// sizeMu orders Resize (an ioctl on ptmx) before the close of
	// ptmx: the pump closes the backend without waiting for its
	// control forwarder, and an ioctl on a closed (or reused)
	// descriptor must not happen. ptmxClosed is set under it.
	sizeMu     sync.Mutex
	ptmxClosed bool

	// Packet mode (TIOCPKT, see packetMode): each read of the master
	// starts with a status octet. Read's alone, as the pump reads from
	// one goroutine: stopped while the terminal's output is stopped
	// (the caller's Ctrl-S, IXON), held the output read meanwhile,
	// readErr the master's error, returned once held is out.
	packet  bool
	stopped bool
	held    []byte
	readErr error
	small   [64]byte
}

// The status octet of a read in packet mode (tty_ioctl(4): the same
// values on Linux and the BSDs).
const (
	pktData       = 0x00 // data follows
	pktFlushWrite = 0x02 // the terminal's output queue was flushed
	pktStop       = 0x04 // output stopped (Ctrl-S)
	pktStart      = 0x08 // output restarted (Ctrl-Q)
)

// hangUp sends SIGHUP (and SIGCONT, so stopped jobs see it) to the
// process group once, and reports when it did.
func (c *ptyConn) hangUp() time.Time {
	c.hupOnce.Do(func() {
		c.hupAt = time.Now()
		_ = syscall.Kill(-c.pgid, syscall.SIGHUP)
		_ = syscall.Kill(-c.pgid, syscall.SIGCONT)
	})
	return c.hupAt
}

func (c *ptyConn) reap() {
	c.waitErr = c.cmd.Wait()
	// The leader is gone; whatever it left in its group goes too.
	_ = syscall.Kill(-c.pgid, syscall.SIGHUP)
	close(c.exited)
	// Wake a Read that waits on a terminal a job of the program, in a
	// process group of its own, still holds open (see Read). Without
	// the poller (not Linux) there are no deadlines and this fails.
	_ = c.ptmx.SetReadDeadline(time.Now().Add(ptyExitDrain))
}

// ptyExitDrain is how long the session outlives its program while the
// terminal stays silent: the program's last output is read, then the
// session ends, although a job the program left in a process group of
// its own may still hold the terminal open.
const ptyExitDrain = 200 * time.Millisecond

// ptyEIOReads is how many EIO answers in a row a read of the master takes
// before the terminal counts as closed (readPastEIO).
const ptyEIOReads = 3

// readPastEIO reads the master with read, taking EIO (the terminal's last
// holder has closed it) only when ptyEIOReads reads in a row answer it.
// Linux can answer EIO while what the program wrote just before it exited
// is still on its way, readable on the next read: a race of the gateway's
// read with the program's exit lost its last line (a door's goodbye) in
// about one exit in 4,000 after a burst of output under load, and in one
// in a few hundred after an Abort Output (TestPTYAbortOutputDropsQueued
// failed so; the next read found the line after 32 of 32 such EIOs).
func readPastEIO(read func([]byte) (int, error), p []byte) (int, error) {
	n, err := read(p)
	for try := 1; n == 0 && errors.Is(err, syscall.EIO) && try < ptyEIOReads; try++ {
		if try > 1 {
			time.Sleep(time.Millisecond)
		}
		n, err = read(p)
	}
	return n, err
}

// Read returns io.EOF once the child and everything holding the pty's
// other end are gone and all output has been read (Linux reports EIO),
// or once the child has exited and no output came for ptyExitDrain.
// The latter is a job an interactive shell put in a process group of
// its own (`sleep 300 & exit`, which the SIGHUP to the leader's group
// misses): it holds the terminal open, and the caller sat on a dead
// line until they hung up (telnet-clients trial). telnetd and sshd end
// the session when the shell exits; so does the gateway.
//
// In packet mode the output read while the terminal is stopped (the
// caller typed Ctrl-S, as a program in cooked mode leaves IXON on) is
// held until it is started again, and dropped if the terminal flushes
// its output (an interrupt, without NOFLSH): the octets the master held
// when the terminal stopped would otherwise still reach the caller,
// about 4 KiB, 17 s of a 2,400 bit/s line (slow-lines trial: Ctrl-S
// stopped nothing a caller could see). telnetd reads its pty so too.
func (c *ptyConn) Read(p []byte) (int, error) {
	if !c.packet {
		return c.readMaster(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	tried := false
	for {
		if !c.stopped && len(c.held) > 0 {
			if c.readErr == nil && !tried {
				// While what was held goes out (a paced line takes
				// a while), a Ctrl-S or an interrupt's flush that
				// came since still applies to it: take what the
				// master has now, without waiting, once a Read (64
				// octets at most: the held octets drain faster than
				// they grow).
				tried = true
				if n, ok := tryRead(c.ptmx, c.small[:]); ok {
					c.status(c.small[:n])
					continue
				}
			}
			n := copy(p, c.held)
			c.held = c.held[n:]
			if len(c.held) == 0 {
				c.held = nil
			}
			return n, nil
		}
		if c.readErr != nil {
			return 0, c.readErr
		}
		buf := p
		if len(buf) < 2 {
			buf = c.small[:] // room for the status octet and data
		}
		n, err := c.readMaster(buf)
		if n > 1 && buf[0] == pktData && !c.stopped && len(buf) == len(p) {
			return copy(p, p[1:n]), nil
		}
		if n > 0 {
			c.status(buf[:n])
		}
		if err != nil {
			// What is held goes out first, stopped or not: the
			// program has gone (or the call ends).
			c.readErr, c.stopped = err, false
		}
	}
}

// status takes one packet-mode read of the master, b: output is held,
// a status octet stops, restarts or flushes what is held.
func (c *ptyConn) status(b []byte) {
	st := b[0]
	if st == pktData {
		c.held = append(c.held, b[1:]...)
		return
	}
	if st&pktFlushWrite != 0 {
		c.held = nil
	}
	if st&pktStop != 0 {
		c.stopped = true
	}
	if st&pktStart != 0 {
		c.stopped = false
	}
}

// readMaster reads the master as Read says, in packet mode with the
// status octet first.
func (c *ptyConn) readMaster(p []byte) (int, error) {
	exited := false
	select {
	case <-c.exited:
		exited = true
		_ = c.ptmx.SetReadDeadline(time.Now().Add(ptyExitDrain))
	default:
	}
	n, err := readPastEIO(c.ptmx.Read, p)
	if err != nil {
		if !exited {
			select {
			case <-c.exited:
				exited = true
			default:
			}
		}
		if errors.Is(err, syscall.EIO) || errors.Is(err, os.ErrClosed) || (exited && errors.Is(err, os.ErrDeadlineExceeded)) {
			err = io.EOF
		}
	}
	return n, err
}

func (c *ptyConn) Write(p []byte) (int, error) { return c.ptmx.Write(p) }

// takesEnterAsCR: a pty's input is a terminal's (terminalInput).
func (c *ptyConn) takesEnterAsCR() bool { return true }

// CloseWrite: a terminal has no half-close; the caller hanging up is a
// hang-up, so the process group gets SIGHUP as on a modem disconnect
// (POSIX general terminal interface, "Modem Disconnect"). Close follows.
//
// What the caller sent last may still wait in the terminal's input
// queue (an upload's tail): the hang-up waits while the program reads
// it, up to ptyDrainMax, and no longer than ptyDrainStall once the
// program stops reading. SIGHUP at once cut uploads short by up to
// 20 KiB while the record counted them delivered (file-transfer trial).
func (c *ptyConn) CloseWrite() error {
	c.drainInput()
	select {
	case <-c.exited:
	default:
		c.hangUp()
	}
	return nil
}

// How long CloseWrite lets the program read the input queued for it,
// and how many polls in a row must find the queue empty. ptyInputQueued
// counts the octets still in the kernel's tty buffer work too; the
// polls after the first are a margin for a kernel whose poll does not
// run that work (one poll alone then missed most of a recent write).
const (
	ptyDrainMax   = 2 * time.Second
	ptyDrainStall = 250 * time.Millisecond
	ptyDrainPoll  = 10 * time.Millisecond
	ptyDrainEmpty = 3
)

// drainInput returns once the program has read its terminal's input (it
// stayed empty for ptyDrainEmpty polls), has exited, stopped reading for
// ptyDrainStall, or ptyDrainMax passed.
func (c *ptyConn) drainInput() {
	start := time.Now()
	last, lastAt, empty := -1, start, 0
	for {
		n, ok := ptyInputQueued(c.ptmx)
		t := time.Now()
		if n == 0 {
			empty++
		} else {
			empty = 0
		}
		switch {
		case !ok || empty >= ptyDrainEmpty || t.Sub(start) >= ptyDrainMax:
			return
		case n != last:
			last, lastAt = n, t
		case t.Sub(lastAt) >= ptyDrainStall:
			return
		}
		select {
		case <-c.exited:
			return
		case <-time.After(ptyDrainPoll):
		}
	}
}

func (c *ptyConn) Resize(w transport.WindowSize) error {
	if w.Cols <= 0 || w.Rows <= 0 {
		return nil
	}
	c.sizeMu.Lock()
	defer c.sizeMu.Unlock()
	if c.ptmxClosed {
		return os.ErrClosed
	}
	// Not pty.Setsize, which takes the descriptor with Fd (pollable).
	var err error
	cerr := withFD(c.ptmx, func(fd int) {
		err = unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(min(w.Cols, 0xFFFF)), Row: uint16(min(w.Rows, 0xFFFF))})
	})
	if err == nil {
		err = cerr
	}
	return err
}

var _ programEnder = (*ptyConn)(nil)

// ProgramEnd says how the program ended, after Close (which reaps it).
func (c *ptyConn) ProgramEnd() string {
	select {
	case <-c.exited:
	default:
		return ""
	}
	if c.waitErr == nil {
		return ""
	}
	return c.waitErr.Error()
}

// ProgramCrashed implements programEnder.
func (c *ptyConn) ProgramCrashed() bool {
	select {
	case <-c.exited:
	default:
		return false
	}
	var ee *exec.ExitError
	if !errors.As(c.waitErr, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return false
	}
	switch ws.Signal() {
	case syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGPIPE:
		return false
	case syscall.SIGKILL:
		// Ours after ptyKillGrace, or someone else's (the OOM killer).
		return !c.killed.Load()
	}
	return true
}

// Interrupt sends the terminal's interrupt character (VINTR, ^C), which
// the line discipline turns into SIGINT for the foreground group, for an
// interrupt and a break alike; for an abort output (telnet AO) it drops
// the program's output waiting in the pty (dropOutput, Linux).
func (c *ptyConn) Interrupt(e transport.Event) error {
	if e == transport.EventAbortOutput {
		return c.dropOutput()
	}
	_, err := c.ptmx.Write([]byte{0x03})
	return err
}

// Close hangs up: SIGHUP to the process group (if CloseWrite has not sent
// it), SIGKILL once ptyKillGrace has passed since the SIGHUP if the child
// has not exited, and waits until it is reaped.
func (c *ptyConn) Close() error {
	c.closeOnce.Do(func() {
		select {
		case <-c.exited:
		default:
			t := time.NewTimer(ptyKillGrace - time.Since(c.hangUp()))
			select {
			case <-c.exited:
			case <-t.C:
				c.killed.Store(true)
				_ = syscall.Kill(-c.pgid, syscall.SIGKILL)
				<-c.exited
			}
			t.Stop()
		}
		_ = syscall.Kill(-c.pgid, syscall.SIGKILL) // stragglers that ignored SIGHUP
		c.sizeMu.Lock()
		c.ptmxClosed = true
		c.ptmx.Close()
		c.sizeMu.Unlock()
	})
	return nil
}
