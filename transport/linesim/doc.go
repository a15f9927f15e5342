// Package linesim simulates telephone lines in memory for tests and
// benchmarks: a seeded, deterministic pair of connected transport.Line
// values with configurable impairments, and an in-memory Network of
// listeners and dialers for in-process end-to-end tests of the gateway.
//
// # Impairments
//
// Each direction of a pair has its own Impairments: bit errors (BitErrorRate,
// each bit flipped independently), octet drops and duplicates (DropRate,
// DupRate, per octet), burst noise (Bursts: runs of garbled octets),
// a fixed one-way Latency, outage windows during which everything sent is
// lost (Outages, OutageFunc), and a bit-rate cap (BitRate with BitsPerChar,
// 10 bits per character on a start-stop line: start bit, 8 data bits, stop
// bit: the start-stop character that ITU-T V.14 carries).
//
// Impairment decisions are a pure function of the seed and of the position
// of each octet in the stream: the same octets written with the same seed
// are corrupted in the same places, however the writer splits them into
// Write calls and whatever the timing. Only outages depend on time (the
// moment an octet is on the wire); with a fake clock, such as the time
// package inside a testing/synctest bubble, they are deterministic too.
// Every impairment draws from its own random stream (derived from the seed,
// the direction and the impairment), so enabling one impairment does not
// move the errors of another. Rare events are placed by geometric skips,
// not by a random draw per bit or per octet, so a line at BER 1e-5 costs
// little more than a perfect one.
//
// Burst intervals and lengths are counted in octets, not time, for the same
// reason. With a rate cap, octets arrive one character time apart and an
// octet written while the wire is busy waits for it; Write itself blocks only
// when Config.Buffer octets are queued (on the way or unread), so make Buffer
// small, a few hundred octets, to model a modem's transmit buffer rather
// than a deep queue.
// Line.SentStats counts what the impairments did, so a test can compare what
// a protocol delivered with what the line destroyed.
//
// A zero Seed picks a random seed and reports it through Config.Logf, so any
// failure can be reproduced by setting the seed it logged.
//
// # Line contract
//
// A Line follows the contract of package transport. Both directions are
// buffered, unlike net.Pipe, so both ends may write first without
// deadlock; the buffer is bounded (Config.Buffer octets per direction, not
// yet read by the peer), and Write blocks while the far side's buffer is full.
// Close hangs up: octets already accepted by Write stay deliverable and the
// peer reads them, then io.EOF; Read and Write on the closed end return
// errors wrapping transport.ErrHungUp; Write towards a peer that hung up
// returns ErrPeerHungUp (which wraps transport.ErrHungUp too). A Line also
// implements transport.Deadliner.
//
// # Network
//
// NewNetwork returns an in-memory switchboard: Listen(name) answers calls,
// Dial(ctx, name) places one; each call is a new pair, perfect or as set by
// Network.SetConfig.
//
// All blocking waits on channels (no sleeps, no sync.Cond), and timing uses
// Config.Clock (the time package by default), so tests can run a line in a
// testing/synctest bubble with fake time.
package linesim
