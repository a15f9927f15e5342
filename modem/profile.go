package modem

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
)

// NumRegs is the number of S-registers the emulator keeps (S0..S99).
// Registers without a meaning here are stored and reported, so init strings
// that set vendor registers (S95, S36, ...) work.
const NumRegs = 100

// S-register numbers with a meaning in this emulator (V.250 6.2, 6.3; S2 and
// S12 are the Hayes escape registers).
const (
	RegAutoAnswer  = 0  // S0: rings before auto-answer, 0 = off
	RegRingCount   = 1  // S1: rings counted for the current incoming call
	RegEscape      = 2  // S2: escape character, > 127 disables escape
	RegCR          = 3  // S3: command line terminator
	RegLF          = 4  // S4: response formatting character
	RegBS          = 5  // S5: command line editing character
	RegDialTone    = 6  // S6: seconds to wait for dial tone (reported only)
	RegCarrierWait = 7  // S7: seconds to wait for a connection when dialing or answering, 0 = forever
	RegCommaPause  = 8  // S8: comma dial pause (reported only)
	RegCarrierLoss = 10 // S10: tenths of a second before hanging up after carrier loss (see Interp.CarrierLost)
	RegGuard       = 12 // S12: escape guard time in fiftieths of a second
)

// Profile is the part of the modem's state that &W saves, Z restores and &F
// resets to factory defaults.
type Profile struct {
	Echo    bool // E: echo command characters
	Quiet   bool // Q: suppress result codes
	Verbose bool // V: result codes as words (true) or digits
	X       int  // X: extended result code level 0..4
	DCD     int  // &C: 0 DCD always on, 1 DCD follows carrier
	DTR     int  // &D: 0 ignore DTR, 1 escape on drop, 2 hang up, 3 reset
	DSR     int  // &S: 0 DSR always on, 1 DSR on while a call is in progress
	Flow    int  // &K: 0-2 none, 3 RTS/CTS, 4 and 5 XON/XOFF, 6 both (see FlowOf)
	// EC is \N, the error control of calls dialed by address (see
	// ModeOfEC): 0 and 1 normal (no V.42: a plain call), 2 and 4
	// reliable (V.42 required), 3 and 5-7 auto-reliable (the factory
	// value: V.42 when the other end answers it).
	EC   int
	Regs [NumRegs]byte
}

// MaxEC is the largest \N value.
const MaxEC = 7

// ModeOfEC is the call mode \N selects for a dial string that is not a
// phonebook entry (an entry has its own mode).
func ModeOfEC(n int) Mode {
	switch n {
	case 0, 1:
		return ModePlain
	case 2, 4:
		return ModeV42
	}
	return ModeAuto
}

// MaxFlow is the largest &K value.
const MaxFlow = 6

// Flow is the local flow control between the DTE and the modem.
type Flow struct {
	// RTSCTS: circuits 105/106; the DTE's RTS off stops our output, our
	// CTS off stops the DTE's.
	RTSCTS bool
	// XONXOFF: DC3 (XOFF, 0x13) from the DTE stops our output until DC1
	// (XON, 0x11); both are flow control, never data.
	XONXOFF bool
}

func (f Flow) String() string {
	switch {
	case f.RTSCTS && f.XONXOFF:
		return "RTS/CTS and XON/XOFF"
	case f.RTSCTS:
		return "RTS/CTS"
	case f.XONXOFF:
		return "XON/XOFF"
	}
	return "none"
}

// FlowOf is the flow control &Kk selects, as on Hayes-compatible modems:
// &K0 none (&K1 and &K2, vendor variants, too), &K3 RTS/CTS, &K4
// XON/XOFF, &K5 "transparent" XON/XOFF (treated as &K4), &K6 both.
func FlowOf(k int) Flow {
	switch k {
	case 3:
		return Flow{RTSCTS: true}
	case 4, 5:
		return Flow{XONXOFF: true}
	case 6:
		return Flow{RTSCTS: true, XONXOFF: true}
	}
	return Flow{}
}

// Factory returns the factory profile (&F): E1 Q0 V1 X4 &C1 &D2 &K0 &S0
// with the customary register defaults. (&K0: `gateway modem --flow`
// chooses the flow control at start; a Hayes modem's factory &K3 would
// stall a DTE whose cable has no RTS/CTS.)
func Factory() Profile {
	p := Profile{Echo: true, Verbose: true, X: 4, DCD: 1, DTR: 2, EC: 3}
	p.Regs[RegEscape] = '+'
	p.Regs[RegCR] = '\r'
	p.Regs[RegLF] = '\n'
	p.Regs[RegBS] = 8
	p.Regs[RegDialTone] = 2
	p.Regs[RegCarrierWait] = 50
	p.Regs[RegCommaPause] = 2
	p.Regs[9] = 6
	p.Regs[RegCarrierLoss] = 14
	p.Regs[11] = 95
	p.Regs[RegGuard] = 50
	return p
}

// profileFile is the on-disk form of a Profile (TOML).
type profileFile struct {
	Echo    bool           `toml:"echo"`
	Quiet   bool           `toml:"quiet"`
	Verbose bool           `toml:"verbose"`
	X       int            `toml:"x"`
	DCD     int            `toml:"dcd"`
	DTR     int            `toml:"dtr"`
	DSR     int            `toml:"dsr"`
	Flow    int            `toml:"flow"`
	EC      *int           `toml:"ec"` // \N; absent (files from before it): the factory 3
	Regs    map[string]int `toml:"registers"`
}

// ErrProfile is wrapped by LoadProfile for a malformed profile file.
var ErrProfile = errors.New("modem: bad profile file")

// LoadProfile reads a profile saved by SaveProfile. A missing file returns
// Factory() and no error. Registers missing from the file keep their
// factory values.
func LoadProfile(path string) (Profile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Factory(), nil
	}
	if err != nil {
		return Profile{}, fmt.Errorf("modem: profile: %w", err)
	}
	var f profileFile
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return Profile{}, fmt.Errorf("%w %s: %v", ErrProfile, path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return Profile{}, fmt.Errorf("%w %s: unknown key %s", ErrProfile, path, und[0])
	}
	p := Factory()
	p.Echo, p.Quiet, p.Verbose = f.Echo, f.Quiet, f.Verbose
	if f.X < 0 || f.X > 4 || f.DCD < 0 || f.DCD > 1 || f.DTR < 0 || f.DTR > 3 || f.DSR < 0 || f.DSR > 1 || f.Flow < 0 || f.Flow > MaxFlow {
		return Profile{}, fmt.Errorf("%w %s: x, dcd, dtr, dsr or flow out of range", ErrProfile, path)
	}
	p.X, p.DCD, p.DTR, p.DSR, p.Flow = f.X, f.DCD, f.DTR, f.DSR, f.Flow
	if f.EC != nil {
		if *f.EC < 0 || *f.EC > MaxEC {
			return Profile{}, fmt.Errorf("%w %s: ec out of range", ErrProfile, path)
		}
		p.EC = *f.EC
	}
	for k, v := range f.Regs {
		var n int
		if _, err := fmt.Sscanf(k, "S%d", &n); err != nil || n < 0 || n >= NumRegs || fmt.Sprintf("S%d", n) != k {
			return Profile{}, fmt.Errorf("%w %s: register name %q", ErrProfile, path, k)
		}
		if v < 0 || v > 255 {
			return Profile{}, fmt.Errorf("%w %s: register %s value %d", ErrProfile, path, k, v)
		}
		p.Regs[n] = byte(v)
	}
	return p, nil
}

// SaveProfile writes p to path atomically (temporary file and rename),
// mode 0600. Only registers that differ from the factory profile are
// written.
func SaveProfile(path string, p Profile) error {
	ec := p.EC
	f := profileFile{Echo: p.Echo, Quiet: p.Quiet, Verbose: p.Verbose, X: p.X, DCD: p.DCD, DTR: p.DTR, DSR: p.DSR, Flow: p.Flow, EC: &ec, Regs: map[string]int{}}
	fac := Factory()
	for i, v := range p.Regs {
		if v != fac.Regs[i] {
			f.Regs[fmt.Sprintf("S%d", i)] = int(v)
		}
	}
	var buf bytes.Buffer
	buf.WriteString("# dialgate modem profile, written by AT&W\n")
	if err := toml.NewEncoder(&buf).Encode(f); err != nil {
		return fmt.Errorf("modem: profile: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".profile-*")
	if err != nil {
		return fmt.Errorf("modem: profile: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("modem: profile: %w", err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("modem: profile: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("modem: profile: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("modem: profile: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("modem: profile: %w", err)
	}
	return nil
}
