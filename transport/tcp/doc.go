// Package tcp provides dialgate's TCP lines: raw lines ("tcp://host:port",
// octets untouched) and telnet-modem lines ("telnet://host:port"), the way
// WiFi modems, tcpser and telnet clients reach a BBS.
//
// Telnet mode implements RFC 854 (NVT, IAC command structure, IAC doubling,
// CR NUL / CR LF) and RFC 855 (option negotiation and subnegotiation) with
// the RFC 1143 Q method (section 7), so negotiation can never loop, and the
// options BINARY (RFC 856), ECHO (RFC 857), SUPPRESS-GO-AHEAD (RFC 858),
// TERMINAL-TYPE (RFC 1091) and NAWS (RFC 1073). The answering side opens
// with WILL SGA, WILL BINARY, DO BINARY, DO NAWS, DO TTYPE; the calling
// side waits to be asked, or with Options.Open opens with DO BINARY, DO
// SGA (a modem emulator answering a callback, such as tcpser, takes the
// call for telnet only when its first octet is IAC, and never opens
// itself); the window size
// and terminal type the peer announces appear in Line.Info and on
// Line.WindowChanges. BREAK, IP and AYT arrive as transport events (AYT is
// also answered with a short visible text). Peers that send no negotiation
// at all, or garbage, still work: malformed sequences are dropped with a
// log line, and a subnegotiation is given up at DefaultMaxSubneg octets
// (what follows is data again), so that a damaged octet read as IAC SB
// costs a bounded stretch of the stream, not the rest of it. A peer that floods
// commands needing a reply (AYT, option flips) while not reading what we
// send cannot grow the reply queue past a few KiB: further replies are
// dropped with a log line.
//
// The telnet codec (codec.go) and the negotiation (qmethod.go, telnet.go)
// are pure state machines without I/O; line.go joins them to a net.Conn,
// control.go carries the gateway's requests to the peer's telnet and the
// peer's window sizes and events to the bridge.
//
// A telnet Write sends each 1 MiB of data (writeChunk) with one system
// call: when escapes (IAC IAC, CR NUL) are rare, as in an LAPM bit stream,
// which has no IAC inside its frames, the runs between them go out
// straight from the caller's buffer with writev; otherwise the chunk is
// encoded into a pooled buffer. Read decodes in place. When a write deadline cuts a Write
// short, its count is exact and writing the rest later continues the
// stream (see Line.Write).
//
// # Delivery at close
//
// Every octet accepted by Write reaches the peer before the connection goes
// away: Close flushes pending output, half-closes (FIN), and keeps reading
// and discarding until the peer's FIN or the Options.Linger deadline, so the
// kernel never answers unread data with a RST (which would make the peer's
// kernel drop data it had not yet read). What it discards counts against
// a read budget (SetReadBudget) as Read's octets do: once that is spent,
// Close stops waiting. On a line over a MeterWire connection (a TLS
// server line: tls.Server(MeterWire(c), cfg)) the budget counts every
// octet of the connection too, TLS records, tags and padding included.
// Read returns io.EOF only after
// every octet the peer sent has been returned. CloseWrite half-closes
// without hanging up.
package tcp
