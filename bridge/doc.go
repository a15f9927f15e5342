// Package bridge is the gateway's call flow: it answers calls on lines
// (package transport), gives each a session number and a line slot,
// authenticates the caller — V.42 LAPM with Access Security, or the text
// login for callers without V.42 (ITU-T V.42 clause 8 detection decides) —
// and bridges the session to a backend (raw TCP, telnet, a program on a
// pty, or the built-in demo board) until either side hangs up. Every call,
// answered or not, ends in one call record (package internal/store).
//
// # Call flow
//
//	accept -> session number -> line slot (none: "BUSY", hang up)
//	       -> detection per listener (v42 = detect | lapm | off)
//	       -> V.42: LAPM + Access Security (or text login over LAPM)
//	       -> no V.42: text login (policy permitting)
//	       -> backend, bytes both ways until either side hangs up
//	       -> "NO CARRIER (why)" to the caller, call record
//
// # Contracts
//
// When the backend ends the session, everything it sent is written to the
// caller before the closing message and the hang-up; when the caller hangs
// up, everything the caller sent is written to the backend before it is
// closed. pty children are reaped and their process group killed on
// hang-up. Reload swaps users and backends for new calls without touching
// calls in progress; Shutdown stops answering and drains.
//
// The text login follows RFC 854/857 conventions on telnet lines: the
// gateway takes over echo (transport.EchoController) so passwords are not
// echoed, and echoes the user name itself.
package bridge
