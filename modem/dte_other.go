//go:build !linux

package modem

import "errors"

// ErrUnsupported is returned by the DTE constructors on systems other than
// Linux (the pty, termios and stdio handling use Linux interfaces).
var ErrUnsupported = errors.New("modem: DTE devices are supported on Linux only")

// PTY is a pseudo-terminal DTE (Linux only).
type PTY struct{}

// OpenPTY fails: not supported on this system.
func OpenPTY(link string) (*PTY, error) { return nil, ErrUnsupported }

// Path is empty.
func (p *PTY) Path() string                { return "" }
func (p *PTY) Read(b []byte) (int, error)  { return 0, ErrUnsupported }
func (p *PTY) Write(b []byte) (int, error) { return 0, ErrUnsupported }
func (p *PTY) Close() error                { return nil }

// SerialConfig describes a serial port DTE.
type SerialConfig struct {
	Device   string
	Baud     int
	DataBits int
	Parity   string
	StopBits int
	Flow     string
	DTR      string
	DCD      string
	DSR      string
	RI       string
}

// Serial is a serial-port DTE (Linux only).
type Serial struct{}

// OpenSerial fails: not supported on this system.
func OpenSerial(c SerialConfig) (*Serial, error) { return nil, ErrUnsupported }

func (s *Serial) Read(b []byte) (int, error)  { return 0, ErrUnsupported }
func (s *Serial) Write(b []byte) (int, error) { return 0, ErrUnsupported }
func (s *Serial) Close() error                { return nil }

// Stdio is the stdio DTE (Linux only).
type Stdio struct{}

// OpenStdio fails: not supported on this system.
func OpenStdio() (*Stdio, error) { return nil, ErrUnsupported }

func (s *Stdio) Read(b []byte) (int, error)  { return 0, ErrUnsupported }
func (s *Stdio) Write(b []byte) (int, error) { return 0, ErrUnsupported }
func (s *Stdio) Close() error                { return nil }
