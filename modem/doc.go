// Package modem is dialgate's Hayes-compatible modem emulator: the DCE a
// retro computer (the DTE) talks to over a pty, a serial device or stdio.
// It interprets AT commands, dials a gateway (or any telnet BBS) when told
// to, relays data while online, escapes back to command mode on "+++" and
// answers incoming calls (the gateway's callback) by ringing the DTE.
//
// The package follows the command-line conventions of ITU-T V.250
// (formerly V.25 ter), clause numbers as in its 2003 edition: clause 5.2
// (command line: "AT"/"at" prefix, S3 termination, S5 editing, spaces
// and control characters other than S3 and S5 ignored, several commands
// on one line), 5.2.4 ("A/" repeats the last
// line), 5.7 (result codes, verbose and numeric, framed by S3/S4);
// 6.1.1 Z, 6.1.2 &F, 6.1.3 I; 6.2.1-6.2.3 S3/S4/S5, 6.2.4 E, 6.2.5 Q,
// 6.2.6 V, 6.2.7 X, 6.2.8 &C, 6.2.9 &D; 6.3.1 D (its T and P
// modifiers, and W , ! @ / $ skipped in a number; a quoted dial string as
// WiFi modems take it), 6.3.5 A, 6.3.6 H, 6.3.7 O, 6.3.8 S0, 6.3.9 S6, 6.3.10 S7,
// 6.3.11 S8, 6.3.12 S10, 6.3.13/6.3.14 L/M (accepted, no speaker). The
// escape sequence ("+++" with S2 and the S12 guard time), &W, &V, DL, S1
// and the numeric codes above 8 for CONNECT <rate> are Hayes conventions
// that V.250 leaves to manufacturers; we follow the common Hayes/Rockwell
// behaviour. Extended "+" commands are accepted only where terminal
// programs send them (+FCLASS, +GMI, +IPR, ...).
//
// The layers:
//
//   - Interp (interp.go, parse.go, result.go) is a pure state machine: bytes
//     from the DTE and events from the call (connected, failed, carrier lost,
//     ringing) go in with the current time; bytes for the DTE, bytes for the
//     line and Actions (dial, hang up, answer, save the profile) come out.
//     It does no I/O and reads no clock, so every guard time is testable.
//   - Run (modem.go) drives an Interp against a DTE (any io.ReadWriteCloser)
//     and the injected Dialer and Answerer, one goroutine owning the state.
//   - lines.go adapts transport lines: PlainDialer (telnet-modem calls,
//     CONNECT without /LAPM), LineAnswerer (auto-answer on a listener, with
//     a Verify hook for the V.42 callback ticket; it reads a ringing line so
//     that a caller hanging up stops the ringing, and keeps what the caller
//     sent for the answer) and LineCall.
//   - prompt.go lets a Dialer ask the DTE's user for a line during a dial
//     (a login the phonebook does not hold): Prompter, from the dial's
//     context.
//   - Phonebook (phonebook.go) resolves what the DTE dialed (a name, a
//     number, user@host:port, a line URL) to a Target with credentials; the
//     file is TOML, must be mode 0600, and passwords never reach a log.
//   - dte_linux.go opens the DTE: a pty (with an optional stable symlink), a
//     serial device configured through termios (DTR from the DTE watched
//     on a status input; DCD per &C, DSR per &S and RI while ringing
//     driven on outputs; &K flow control set in termios), or stdio. A pty
//     or stdio has no modem-control lines: Run does &K4 XON/XOFF in band
//     there (CarrierSetter, DSRSetter, RingSetter, FlowSetter in modem.go).
//     A DTR drop is acted on whatever the output is doing: output Run
//     still holds for the DTE that went is discarded; a pty also discards
//     what the kernel holds, so none of it reaches the next DTE. A serial
//     port flushes the kernel's output queue (TCOFLUSH) at the drop, but
//     a Write already held up by flow control is not interrupted: what it
//     still has to write when the flow resumes is sent.
//
// How a call is placed (plain telnet, or V.42 detection, LAPM and Access
// Security) is the Dialer's business; the package does not depend on it.
package modem
