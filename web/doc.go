// Package web serves dialgate's browser terminal: a page with xterm.js
// that connects over WebSocket (RFC 6455) to a line endpoint of the same
// origin, offers the "binary" subprotocol (transport/ws), sends terminal
// size changes as {"type":"resize","cols":N,"rows":M} control messages,
// breaks as {"type":"break"} on the text login, and a {"type":"ping"}
// every 10 s, whose {"type":"pong"} answers tell a live line from one
// that went silent (shown as stalled), and shows the call's status
// (connecting, busy with the gateway's reason, denied, callback, hung up)
// from what the gateway says before it hangs up. The caller logs in inside
// the terminal (the gateway's text login, mode "text"), or, in mode "v42",
// through a form whose credentials go to the V.42 caller compiled to
// WebAssembly (web/wasm over web/v42caller: LAPM per ITU-T V.42, Access
// Security per docs/access-security.md), which pins the gateway's host key
// in the browser's local storage. No secret is ever put in a URL.
//
// The page is built from web/ui and web/wasm (npm ci; node build.mjs)
// into web/static, which is committed and embedded with go:embed, so the
// gateway serves it with no internet access. TestEmbeddedCurrent rebuilds it and fails when
// the embedded copy is stale.
//
// # Security headers
//
// Every response carries X-Content-Type-Options: nosniff,
// Referrer-Policy: no-referrer, X-Frame-Options: DENY and a
// Content-Security-Policy (W3C CSP Level 3) that admits scripts only from
// the page's origin (no inline scripts, no eval; 'wasm-unsafe-eval' lets
// the page compile its WebAssembly caller), WebSocket and fetch connections
// only to the page's origin ('self', which CSP Level 3 §6.7.2.8 extends to
// ws: and wss:), and <style> elements only from the origin or with the
// per-response nonce (xterm.js creates its own style elements; the page
// hands them the nonce). Style attributes are allowed: xterm.js colours
// 24-bit-colour cells with them.
//
// The page connects to the line path from its "line" query parameter (a
// path on the same origin, absolute or relative to the page; anything
// else is ignored), else from Options.LinePath, which the handler writes
// into the page relative to the page's own path, so that a reverse proxy
// may serve both under a path prefix. The WebSocket listener itself
// refuses foreign origins (transport/ws), so the page cannot be turned
// against another site.
package web
