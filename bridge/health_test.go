package bridge

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/internal/store"
)

// troubledStore is a store.File whose reservations of session numbers
// fail as on a full disk.
type troubledStore struct {
	*store.File
	failed func(error)
}

func (s *troubledStore) SetReserveFailed(f func(error)) { s.failed = f }
func (s *troubledStore) Health() error {
	return errors.New("store: state_dir x not writable since T: no space left on device")
}

// TestServerStoreHealthAndDraining: the Server passes the store's trouble
// on for /healthz (StoreHealth) and logs each failed reservation of
// session numbers as an ERROR; Draining says when Shutdown began.
func TestServerStoreHealthAndDraining(t *testing.T) {
	c := testConfig(t)
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts := &troubledStore{File: st}
	core, logs := observer.New(zap.ErrorLevel)
	s, err := New(Options{Config: c, Store: ts, Verifier: &fakeVerifier{}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StoreHealth(); err == nil {
		t.Error("StoreHealth is nil for a store that cannot write")
	}
	if ts.failed == nil {
		t.Fatal("the Server did not ask to hear of failed reservations")
	}
	ts.failed(syscall.ENOSPC)
	if n := logs.FilterMessageSnippet("session numbers not reserved").Len(); n != 1 {
		t.Errorf("%d ERROR lines for one failed reservation", n)
	}
	if s.Draining() {
		t.Error("Draining before Shutdown")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !s.Draining() {
		t.Error("not Draining after Shutdown")
	}
	healthy, _ := newTestServer(t, c, &fakeVerifier{})
	if err := healthy.StoreHealth(); err != nil {
		t.Errorf("StoreHealth of a fresh store: %v", err)
	}
}
