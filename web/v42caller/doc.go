// Package v42caller is the caller side of a dialgate call with V.42 error
// correction and Access Security, written for the browser terminal's
// WebAssembly build (web/wasm, GOOS=js GOARCH=wasm) and usable anywhere:
// V.42 detection (ITU-T V.42 clause 8, originator), LAPM parameter
// negotiation (§8.10), the Access Security phases i–iv inside XID frames
// (docs/access-security.md, package auth) with the gateway's host key
// checked before the password leaves, then the sealed data phase after
// SABME/UA (§8.3).
//
// Line is a line whose octets the embedder carries: in the browser, the
// WebSocket's messages are fed in with Feed and Line's writes are handed to
// a send function; in tests two Lines are joined back to back.
//
// WatchStall tells the embedder when the gateway stops answering an
// established session's link (its polls unanswered: the page's
// "stalled"), seconds before the link gives up and ends the call, and
// when it answers again.
package v42caller
