package bridge

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
	"github.com/dialgate/dialgate/transport/linesim"
)

// TestBridgeCallbackRefused: a proved callback the Server cannot bridge
// tells the party that answered why, in the words of every refused call,
// and (but after the drain deadline) records it: once the Server has shut
// down, "the gateway is shutting down" and no record; while it drains,
// the same words (not "callback not connected") and a busy record; for a
// listener the configuration no longer has, "gateway error" and an error
// record.
func TestBridgeCallbackRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		listener string
		setup    func(s *Server)
		heard    string
		err      error
		errText  string
		result   string
		reason   string
	}{
		{name: "shut down", listener: "test", setup: func(s *Server) { s.Shutdown(context.Background()) },
			heard: msgShutdown, err: ErrShutdown},
		{name: "draining", listener: "test", setup: func(s *Server) { s.slots.drain() },
			heard: msgShutdown, errText: "gateway shutting down", result: store.ResultBusy, reason: "callback not bridged: gateway shutting down"},
		{name: "unknown listener", listener: "gone", setup: func(*Server) {},
			heard: msgError, err: ErrUnknownListener, result: store.ResultError, reason: `callback not bridged: no listener named "gone"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			st, err := store.Open(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			v := &fakeVerifier{users: map[string]string{"cb": "pw"}, accounts: map[string]Account{"cb": {Callback: "sim://cb"}}}
			s, err := New(Options{Config: testConfig(t), Store: st, Verifier: v})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			tc.setup(s)
			party, gw := linesim.NewPair(linesim.Config{Seed: 1, Name: "cb"})
			defer party.Close()
			heard := make(chan string, 1)
			go func() {
				b, _ := io.ReadAll(party)
				heard <- string(b)
			}()
			err = s.BridgeCallback(CallbackSession{Line: gw, Attempts: 1,
				Request: CallbackRequest{Session: 7, Account: Account{Name: "cb", Callback: "sim://cb"}, Listener: tc.listener, Mode: "text"}})
			if err == nil || tc.err != nil && !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("BridgeCallback: %v", err)
			}
			gw.Close()
			if got := <-heard; got != tc.heard {
				t.Errorf("the party heard %q, want %q", got, tc.heard)
			}
			recs := records(t, st)
			if tc.result == "" {
				if len(recs) != 0 {
					t.Errorf("records after shutdown: %+v", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0].Session != 7 || recs[0].Mode != "callback" || recs[0].Result != tc.result || recs[0].Reason != tc.reason {
				t.Errorf("records: %+v", recs)
			}
		})
	}
}
