package callbackd

import (
	"context"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/bridge"
)

// CallbackFunc returns the bridge.CallbackFunc that schedules a bridge
// Server's callbacks with s, as gateway serve wires them: a Job for the
// request's session, user, callback address and listener (ModeV42 with
// the request's ticket after Access Security, ModeText after a text
// login), the request itself as the job's Data for the Handoff; its
// withdraw func is s.Cancel of that session, so that a V.42 callback
// whose CONFIRM could not be sent is never dialled.
func (s *Service) CallbackFunc() bridge.CallbackFunc {
	return func(_ context.Context, req bridge.CallbackRequest) (func(), error) {
		job := Job{Session: req.Session, User: req.Account.Name, Address: req.Account.Callback,
			Mode: ModeText, Listener: req.Listener, Remote: req.Remote, Data: req}
		if req.Mode == "v42" {
			job.Mode = ModeV42
			job.Ticket, _ = req.Ticket.(*auth.Ticket)
		}
		if err := s.Schedule(job); err != nil {
			return nil, err
		}
		return func() { s.Cancel(job.Session) }, nil
	}
}
