package bridge

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/testutil"
)

// TestStartUsersFileMode: Start, loading the users file itself (no
// Verifier), logs a warning for a file other users can read and refuses
// one they can write, naming the file and the chmod that fixes it.
func TestStartUsersFileMode(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, c := range []struct {
		mode    os.FileMode
		warn    bool // a warning is logged
		refused bool // Start fails
	}{
		{0o600, false, false},
		{0o640, true, false},
		{0o644, true, false},
		{0o620, false, true},
		{0o602, false, true},
	} {
		t.Run(c.mode.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.StateDir = t.TempDir()
			cfg.UsersFile = filepath.Join(t.TempDir(), "users.toml")
			if err := auth.NewUsers().Save(cfg.UsersFile); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(cfg.UsersFile, c.mode); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zapcore.DebugLevel)
			g, err := Start(context.Background(), cfg, StartOptions{Logger: zap.New(core)})
			if c.refused {
				if err == nil {
					g.Shutdown(context.Background())
					t.Fatal("Start loaded a users file others can write")
				}
				if !errors.Is(err, auth.ErrUsersFilePerm) || !strings.Contains(err.Error(), "chmod 600") {
					t.Errorf("Start: %v, want ErrUsersFilePerm saying chmod 600", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g.Shutdown(context.Background())
			warned := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("other users can read the password hashes").All()
			if c.warn && (len(warned) != 1 || !strings.Contains(warned[0].Message, cfg.UsersFile)) {
				t.Errorf("warnings logged: %v, want one naming %s", warned, cfg.UsersFile)
			}
			if !c.warn && len(warned) != 0 {
				t.Errorf("mode %v: warnings logged: %v", c.mode, warned)
			}
		})
	}
}

// TestStartCountsInterruptedCalls: the records Start writes for calls a
// previous gateway left open (a crash, a kill) are counted in
// dialgate_calls_total, as every other record is; an alert on
// result="interrupted" never fired before (ops trial).
func TestStartCountsInterruptedCalls(t *testing.T) {
	testutil.CheckGoroutines(t)
	cfg := testConfig(t)
	cfg.StateDir = t.TempDir()
	st, err := store.Open(cfg.StateDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for s := uint64(1); s <= 2; s++ {
		if err := st.OpenCall(store.CallRecord{Session: s, Listener: "test", Remote: "192.0.2.1:4000", Start: now, Answer: now}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close() // the gateway dies with both calls open
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Start(context.Background(), cfg, StartOptions{Verifier: &fakeVerifier{}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	if got := counterValue(t, reg, "dialgate_calls_total", "test", store.ResultInterrupted); got != 2 {
		t.Errorf(`dialgate_calls_total{listener="test",result="interrupted"} = %v, want 2`, got)
	}
	if got := counterValue(t, reg, "dialgate_sessions_bridged_total"); got != 0 {
		t.Errorf("dialgate_sessions_bridged_total = %v: the previous gateway counted those", got)
	}
}
