// Package modem is dialgate's Hayes-compatible modem emulator: the DCE a
// retro computer (the DTE) talks to over a pty, a serial device or stdio.
// It interprets AT commands, dials a gateway (or any telnet BBS) when told
// to, relays data while online, escapes back to command mode on "+++" and
// answers incoming calls (the gateway's callback) by ringing the DTE.
//
// The package follows the command-line conventions of ITU-T V.250
// (formerly V.25 ter): clause 5.1 (command line prefix "AT" and "A/"
// repetition), 5.2 (line editing with S3/S5, spaces ignored), 5.3 (basic
// and S-parameter syntax, chaining several commands on one line),
// 5.7 (result codes, verbose and numeric, with S3/S4 framing),
// 6.1 (Z, &F, I, &V-style reporting), 6.2 (E, Q, V, X, S3, S4, S5),
// 6.3 (D with T/P modifiers and L, A, H, O, S0, S6, S7, S8, S10) and the
// Hayes escape sequence (S2, S12 guard time) that V.250 leaves to vendors.
// Extended "+" commands are accepted only where a terminal program needs
// them (+FCLASS, +GMI, ...). Result-code numbers above 8 (CONNECT <rate>) are
// a vendor choice; we use the common Hayes/Rockwell table.
//
// The layers:
//
//   - Interp (interp.go, parse.go, result.go) is a pure state machine: bytes
//     from the DTE and events from the call (connected, failed, carrier lost,
//     ringing) go in with the current time; bytes for the DTE, bytes for the
//     line and Actions (dial, hang up, answer, save the profile) come out.
//     It does no I/O and reads no clock, so every guard time is testable.
//   - Modem (modem.go) runs an Interp against a DTE (any io.ReadWriter) and
//     the injected Dialer and Answerer, one goroutine owning the state.
//   - Phonebook (phonebook.go) resolves what the DTE dialed (a name, a
//     number, user@host:port, a line URL) to a Target with credentials; the
//     file is TOML, must be mode 0600, and passwords never reach a log.
//   - dte_unix.go opens the DTE: a pty (with an optional stable symlink), a
//     serial device configured through termios, or stdio.
//
// How a call is placed (plain telnet, or V.42 detection, LAPM and Access
// Security) is the Dialer's business; the package does not depend on it.
package modem
