// Package lapm implements the V.42 error-correcting link layer, LAPM (Link
// Access Procedure for Modems, ITU-T V.42 clause 8), over dialgate's octet
// lines.
//
// It holds, one concern per file:
//
//   - detect.go: the detection phase (V.42 §7.2.1; ODP and ADP in start-stop
//     characters, timer T400), deciding between LAPM and the
//     non-error-correcting fallback.
//   - framing.go and fcs.go: synchronous HDLC framing (V.42 §8.1.1 to §8.1.5,
//     ISO/IEC 13239): flags, zero-bit insertion, abort and idle handling, the 16-
//     and 32-bit frame check sequences. After detection the line carries
//     the HDLC bit stream packed least significant bit first into octets.
//   - frame.go: the address and control fields of I, S and U frames
//     (V.42 §8.2.1, §8.2.2, §8.2.4; modulo 128; C/R per originator and answerer).
//   - xid.go: the XID information field (V.42 §8.10, Tables 11a and 11b,
//     ISO/IEC 8885) and the parameter negotiation of N401, k, FCS-32 and
//     SREJ; private parameter sets carry the Access Security handshake.
//   - link.go, machine.go, timers.go, stats.go, transform.go: the link
//     state machine (establishment, data transfer with REJ and SREJ
//     recovery, T401/T403/N400, release, break) and the Link API, an
//     io.ReadWriteCloser for the data phase.
//
// Clause numbers are those of V.42 (03/2002). The facts this package
// relies on, and where they come from, are in V42.md of the design notes. The package never imports a logging
// framework; the Link takes a narrow Printf logger.
package lapm
