package modem

import (
	"fmt"
	"strconv"
)

// Result is a result code (V.250 5.7.1, table 1; codes above 8 are the
// common Hayes/Rockwell vendor numbers for CONNECT <rate>).
type Result int

// Result codes with their V.250 numeric values.
const (
	ResOK         Result = 0
	ResConnect    Result = 1
	ResRing       Result = 2
	ResNoCarrier  Result = 3
	ResError      Result = 4
	ResNoDialtone Result = 6
	ResBusy       Result = 7
	ResNoAnswer   Result = 8
)

func (r Result) String() string {
	switch r {
	case ResOK:
		return "OK"
	case ResConnect:
		return "CONNECT"
	case ResRing:
		return "RING"
	case ResNoCarrier:
		return "NO CARRIER"
	case ResError:
		return "ERROR"
	case ResNoDialtone:
		return "NO DIALTONE"
	case ResBusy:
		return "BUSY"
	case ResNoAnswer:
		return "NO ANSWER"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// connectCodes are the numeric codes for CONNECT <rate> (vendor table).
var connectCodes = map[int]int{
	1200: 5, 2400: 10, 4800: 11, 9600: 12, 7200: 13, 12000: 14, 14400: 15,
	19200: 16, 38400: 17, 57600: 18, 115200: 19, 300: 1, 16800: 20, 21600: 21,
	24000: 22, 26400: 23, 28800: 24, 31200: 25, 33600: 26,
}

// Reason is why a call could not be placed, answered or kept; it maps to a
// result code according to the X level.
type Reason int

// Failure reasons.
const (
	ReasonNoCarrier  Reason = iota // the call failed or dropped (protocol, authentication, hang-up)
	ReasonBusy                     // the gateway is busy
	ReasonNoAnswer                 // nobody answered (refused, timed out)
	ReasonNoDialtone               // no network to dial on (unreachable, name does not resolve)
	ReasonError                    // the dial string is wrong (unknown name, bad address)
)

func (r Reason) String() string {
	switch r {
	case ReasonNoCarrier:
		return "no carrier"
	case ReasonBusy:
		return "busy"
	case ReasonNoAnswer:
		return "no answer"
	case ReasonNoDialtone:
		return "no dialtone"
	case ReasonError:
		return "error"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// resultFor maps a failure reason to the result code allowed at level x
// (Hayes X0..X4: X2 adds NO DIALTONE, X3 adds BUSY, X4 adds both; NO
// ANSWER is reported from X3 on).
func resultFor(r Reason, x int) Result {
	switch r {
	case ReasonBusy:
		if x >= 3 {
			return ResBusy
		}
	case ReasonNoAnswer:
		if x >= 3 {
			return ResNoAnswer
		}
	case ReasonNoDialtone:
		if x == 2 || x >= 4 {
			return ResNoDialtone
		}
	case ReasonError:
		return ResError
	}
	return ResNoCarrier
}

// formatResult appends a result code as the profile asks: nothing with Q1;
// "<CR><LF>text<CR><LF>" verbose; "digits<CR>" numeric (V.250 5.7.1).
func formatResult(dst []byte, p *Profile, r Result, text string) []byte {
	if p.Quiet {
		return dst
	}
	cr, lf := p.Regs[RegCR], p.Regs[RegLF]
	if !p.Verbose {
		n := int(r)
		if text != "" && r == ResConnect {
			n = connectNumber(text)
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
		return append(dst, cr)
	}
	dst = append(dst, cr, lf)
	if text == "" {
		text = r.String()
	}
	dst = append(dst, text...)
	return append(dst, cr, lf)
}

// connectNumber is the numeric code for a verbose CONNECT text.
func connectNumber(text string) int {
	var rate int
	if _, err := fmt.Sscanf(text, "CONNECT %d", &rate); err == nil {
		if c, ok := connectCodes[rate]; ok {
			return c
		}
	}
	return int(ResConnect)
}

// infoLine appends an information text line (V.250 5.7.2): framed by
// CR LF in verbose mode, followed by CR LF in numeric mode.
func infoLine(dst []byte, p *Profile, text string) []byte {
	return infoLines(dst, p, text)
}

// infoLines appends an information text of several lines, as one
// response: the header CR LF once (verbose mode), then each line
// followed by CR LF, so the lines are not double-spaced (a Hayes or USR
// modem lists AT&V so).
func infoLines(dst []byte, p *Profile, lines ...string) []byte {
	cr, lf := p.Regs[RegCR], p.Regs[RegLF]
	if p.Verbose {
		dst = append(dst, cr, lf)
	}
	for _, l := range lines {
		dst = append(dst, l...)
		dst = append(dst, cr, lf)
	}
	return dst
}
