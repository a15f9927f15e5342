// Package ws carries dialgate lines over WebSocket (RFC 6455) using
// github.com/gorilla/websocket. It answers calls with a Listener that is both
// an http.Handler (mountable at any path of someone else's http.ServeMux)
// and a transport.Listener, places calls with Dial, and registers the line
// schemes "ws" and "wss" with package transport.
//
// # Subprotocols
//
// A client offers subprotocols in Sec-WebSocket-Protocol (RFC 6455 §1.9,
// §4.1, §11.3.4); the listener selects the FIRST one the client offers that
// it supports (RFC 6455 §4.2.2 leaves the choice to the server; we honour the
// client's order, as the browser terminals listing them expect) and reports
// it in LineInfo.Subproto. A client offering only subprotocols we do not
// support is refused with HTTP 400 and a log line.
//
//   - "binary": octets travel in binary messages (opcode 0x2, §5.6), any
//     number of octets per message. A text message (opcode 0x1) is a JSON
//     control message (below).
//   - "" (no subprotocol offered): the same as "binary".
//   - "plain": octets travel in text messages; each octet b is the Unicode
//     code point U+0000+b, UTF-8 encoded (octets 0x00-0x7F take one byte,
//     0x80-0xFF two). This is what fTelnet's WebSocketConnection does when
//     the "plain" protocol is in use: it sends String.fromCharCode(octet)
//     for each octet, which the browser's WebSocket encodes as UTF-8, and
//     maps each received character back with charCode & 0xFF. Received
//     code points above U+00FF (a browser user typing "€") cannot stand
//     for an octet; each becomes '?' (0x3F). A text message that is not
//     valid UTF-8 fails the connection with close code 1007 (§8.1).
//   - "base64": octets travel in text messages holding the standard base64
//     encoding (RFC 4648 §4, padded) of the octets, as websockify's base64
//     protocol and fTelnet do. A message that is not valid base64 fails the
//     connection with close code 1007.
//
// In every subprotocol a binary message received carries raw octets, so a
// client that ignores the negotiated protocol for binary data still works.
//
// # Control messages
//
// With "binary" (or no subprotocol) a text message is a JSON control
// message of at most MaxControlSize bytes, an object with a "type" member:
//
//	{"type":"resize","cols":132,"rows":50}
//	{"type":"term","name":"xterm-256color"}
//	{"type":"break"}
//	{"type":"ping"}
//	{"type":"pong"}
//	{"type":"notice","text":"the gateway is shutting down: this call ends within 30 s"}
//
// "resize" announces the terminal size: cols and rows are integers in
// 1..65535 (the range of telnet NAWS, RFC 1073). It updates Info().Window
// and is sent on WindowChanges. Line.SendWindowSize sends one.
//
// "term" announces the terminal type, as telnet's TTYPE does (RFC
// 1091): name must be a terminfo name (at most 40 of [A-Za-z0-9._+-],
// starting with a letter or digit) or "UNKNOWN" (none). It sets
// Info().TermType, which the gateway passes to a pty program as TERM and
// to a telnet backend; the last one received counts. Line.SendTermType
// sends one.
//
// "break" is a break signal, the WebSocket line's telnet BREAK (RFC 854):
// it is sent on Events as transport.EventBreak, which the gateway passes
// to the backend as an interrupt. Breaks are bounded: one arriving while
// one is unread on Events is merged with it, and one within 250 ms of the
// last one passed on is dropped, so a flood of them interrupts the
// backend at most four times a second and logs nothing. Line.SendBreak
// sends one.
//
// "ping" asks for a "pong" text message: a browser cannot see the pings
// and pongs of RFC 6455 (§5.5.2, §5.5.3), so the terminal page pings this
// way to notice a dead line. A ping within a second of the last one
// answered gets no pong. The pong is sent by the goroutine that sends
// pings (after any Write in progress), so the pongs add no goroutine or
// timer per line (that goroutine runs even when PingInterval is
// negative, for the pongs). A "pong" received is ignored.
//
// "notice" carries words for the user from the gateway: text is one line
// of printable ASCII, at most MaxNoticeLen octets. The browser page shows
// it in its status line; a Line reading one ignores it, without a log
// line. Line.SendNotice sends one; the gateway does, to its WebSocket
// callers in session, when it starts to drain.
//
// Members other than those named are ignored, so later versions may add
// fields. A control message of an unknown type, a malformed one (not a
// JSON object, missing or out-of-range fields) and an oversized one are
// ignored with a log line (the first eight of a line; then one saying the
// rest are not logged); none of them ends the line.
//
// # Lines and closing
//
// Read and Write move raw octets (the subprotocol encoding is invisible to
// the caller). Each Line runs one reader goroutine that reads messages into
// a bounded buffer (so the peer is throttled by TCP when nobody Reads),
// answers pings and handles control messages (text messages of "plain"
// and "base64" are decoded a few KiB at a time as they arrive, never held
// whole; when one turns out invalid and fails the line with 1007, octets
// decoded from its earlier part have been delivered already), and one
// goroutine that sends pings (§5.5.2) when PingInterval is positive, and
// the pongs of "ping" control messages. Writes
// from several goroutines are serialized; a Write returns after its octets
// were handed to the kernel, sent as messages of at most WriteSize octets
// (64 KiB in "binary", as websockify sends; 32 KiB in "plain" and
// "base64", at most 64 KiB encoded), each in one frame (a dialed line's
// masked too). A peer must take binary messages of 64 KiB (browsers and
// websockify's clients do).
//
// Close follows the transport.Line contract: it waits for a Write in
// progress, sends a close frame with status 1000 after every octet Write
// accepted (§5.5.1), waits for the peer's close frame while discarding data
// that arrives meanwhile, and only then closes the TCP connection, so that
// no reset destroys data still in the peer's receive buffer. Both waits
// together are bounded by CloseTimeout; when it runs out, Close closes the
// connection anyway and returns an error. When the peer closes, Read returns every
// octet received before the peer's close frame, then io.EOF; the close
// frame is answered at once, so later Writes fail with ErrPeerHungUp. A
// peer that closes with status 1009 refused a message as too big (it
// takes less than the messages of up to 64 KiB a line sends): Read
// returns ErrPeerRefusedMessage instead of io.EOF, and Writes wrap it
// too, so that the gateway's call record says why the call ended.
//
// A message larger than the read limit fails the line with close code 1009
// (§7.4.1) and a log line; Read then returns the data received before it
// followed by an error wrapping ErrMessageTooBig. If nothing (not even a
// pong) arrives from the peer for IdleTimeout, the line is closed with
// status 1001 and Read returns an error wrapping ErrIdleTimeout.
//
// # Before the upgrade
//
// A Listen server reads a request's header within HTTPReadHeaderTimeout
// and at most MaxHeaderBytes of it (431 beyond), closes keep-alive
// connections idle for HTTPIdleTimeout, and holds at most
// Options.MaxConns connections that are not lines, Options.MaxConnsPerSource
// of them from one address; a connection over these bounds closes the
// one that has waited longest without a request in progress (silent,
// slow headers, idle keep-alive), or is closed at once when every one
// has a request in progress. A request, body included, must arrive within HTTPReadTimeout; a
// response that is not a line must hand the client each 32 KiB within
// HTTPWriteStallTimeout and end within HTTPResponseTimeout
// (Listener.BoundResponses), so that slow readers cannot hold the
// connection bounds. A plain HTTP request to a TLS port is answered with
// a redirect to https:// (NewTLSListener). A server that mounts a
// Listener elsewhere applies the same with these constants,
// Listener.LimitConns and Listener.BoundResponses. Upgraded connections
// are lines: the gateway's line slots bound them.
//
// # Origins and proxies
//
// Browsers send an Origin header (RFC 6454); the listener accepts an upgrade
// when the header is absent (non-browser clients), when it matches
// Options.AllowedOrigins, or when the origin's host[:port] equals the
// request's Host (same origin). Anything else is refused with HTTP 403 and
// a log line (cross-site WebSocket hijacking, RFC 6455 §10.2).
//
// The same origin does not count on a connection to a loopback address
// (127.0.0.0/8, ::1; whatever address the server listens on), nor on one
// to a private or link-local address from a private, link-local or
// loopback one (a LAN), nor anywhere while Options.NamesListedOnly says so
// (a listener that answers only some callers), unless the Host is
// "localhost" or an IP literal, with or without a port: an attacker's page
// on evil.example whose DNS name is then pointed at 127.0.0.1 (DNS
// rebinding) is its own origin, with Host and Origin both evil.example,
// and would reach a gateway on loopback (or one that answers only some
// addresses, through the browser of a user at one) that the attacker
// cannot reach otherwise. Such a request is refused with a log line that
// says to list the origin in allowed_origins (Options.AllowedOrigins);
// a reverse proxy on the same machine that passes the public Host needs
// that too. The caller's
// address is the TCP peer, unless the TCP peer is listed in
// Options.TrustedProxies: then the right-most address in X-Forwarded-For
// that is not itself a trusted proxy is used (with port 0, the caller's
// port being unknown; LineInfo.Proxied: a backend's PROXY protocol
// header, package bridge, carries that address with source port 0). A
// trusted proxy's
// X-Forwarded-Proto "https" (its last value) marks the line Secure
// (Transport "wss"), with or without X-Forwarded-For: a proxy that sends
// only X-Forwarded-Proto leaves the line with its own address, and
// Proxied false. Any other X-Forwarded-Proto, and the header from a peer
// that is not trusted, leaves a plain connection plain (a TLS connection
// is Secure whatever the header says).
package ws
