// Package callbackd places the gateway's callbacks: when a caller whose
// account has a callback address authenticated, the call flow (package
// bridge) hands the call to a Service as a Job and hangs up: after a text
// login, before it says "you will be called back"; over Access Security,
// before phase iv CONFIRM promises the callback (a refused Schedule is
// answered with REJECT callback-unavailable instead). The Service waits the
// configured delay, dials the registered line address through the transport
// registry, proves the call on the new line, and hands the verified session
// back to the bridge.
//
// # Proving the callback
//
// The proof runs behind the Placer interface so that the retry, expiry and
// concurrency policy here does not depend on how the line is brought up:
//
//   - V42 runs DESIGN.md's phases v CALLBACK and vi ACCEPT
//     (docs/access-security.md; Noise NNpsk0 keyed by the callback ticket of
//     the first call) with auth.PlaceCallback, over a LAPM link (ITU-T V.42
//     clause 8) brought up on the dialled line through the V42.Open and
//     V42.Start hooks; LAPM(LAPMConfig) fills them with package lapm
//     (detection as originator, clause 8.2, then XID negotiation, then
//     SABME/UA). The ticket is single use: once CALLBACK has been sent, a
//     failure ends the job.
//   - TextConfirm, for text-login users, asks the person who answered to
//     type the user name the callback is for, and hangs up on anyone else.
//
// A callback that reaches the wrong party, or a party that cannot prove the
// ticket, is hung up on and not retried (ErrWrongParty): whoever answers the
// registered number is not who the call is for, and trying again would only
// ring them again.
//
// # Policy
//
// Every step is timed by an injected Clock:
//
//	Schedule -> Delay -> [wait for a concurrency slot] -> dial -> Place
//	         -> success: Handoff (slot released first)
//	         -> failure: hang up; retry after Backoff(n) unless the error
//	            is permanent, Attempts are used up, or the job expires
//
// At most one job per user and one per callback address is pending (two
// accounts may share a line). A second request of a user supersedes the
// pending one: that job ends with a Superseded record, an attempt of it in
// progress is hung up, and the new job starts once the old one has let go
// of its line and slot; another user's request for a busy address is
// refused (ErrAddressBusy). A job whose caller was not promised it after
// all (the V.42 CONFIRM could not be sent) is withdrawn with Cancel, and
// a V.42 job whose ticket was wiped or used never dials again (Withdrawn);
// a job that ends without a handoff wipes its ticket. So a user holds at most one concurrency slot,
// and logging in again and again only restarts that user's one callback.
// Jobs waiting for a slot are served in the order they began to wait; an
// attempt holds its slot for at most DialTimeout + HandshakeTimeout, and
// the wait counts against the job's expiry (with more callback users
// calling at once than MaxConcurrent, a job can still expire waiting).
//
// Backoff is a pure function of the attempt number. A job expires at
// Job.Expires or Config.Expiry after Schedule, whichever is sooner (for V.42
// the ticket's own expiry too). Each dial attempt, and each job that ends
// without one (expired while waiting, service closed), produces one Attempt
// for the Recorder; the last one of a job has Final set.
package callbackd
