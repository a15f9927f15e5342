package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dialgate/dialgate/auth"
	"github.com/dialgate/dialgate/internal/config"
	"github.com/dialgate/dialgate/internal/store"
	"github.com/dialgate/dialgate/internal/tlscert"
	"github.com/dialgate/dialgate/transport"
)

// StartOptions are what Start needs besides the configuration.
type StartOptions struct {
	Logger *zap.Logger
	// Verifier checks logins; nil builds an AuthVerifier over the
	// configuration's users file (Start fails if it cannot load it, and
	// logs its Warnings).
	Verifier Verifier
	Metrics  *Metrics
	V42      V42Answerer
	Callback CallbackFunc
	Now      func() time.Time
	// SessionBlock is the store's session-number reservation size (0:
	// store.DefaultBlock).
	SessionBlock int
}

// ListenError is Start's error for a listener it could not open: which
// one, and why (its message is Err's).
type ListenError struct {
	Listener, Address string
	Err               error
}

func (e *ListenError) Error() string { return e.Err.Error() }
func (e *ListenError) Unwrap() error { return e.Err }

// Gateway is a running gateway: the Server, its store and its listeners.
// It is the small API integration tests use: start a gateway on loopback
// (port 0 in listener addresses picks free ports), dial Addr(name), stop it
// with Shutdown.
type Gateway struct {
	*Server
	Store    *store.File
	Verifier Verifier

	mu        sync.Mutex
	listeners map[string]transport.Listener
	certs     map[string]*tlscert.Cert // the TLS listeners' certificates
	order     []string
	serveWG   sync.WaitGroup
	once      sync.Once
	stopAfter func() bool
}

// Start opens the store in cfg.StateDir and the configured listeners and
// answers calls until Shutdown (or until ctx ends, which shuts down at
// once, as Shutdown with an expired deadline does).
func Start(ctx context.Context, cfg *config.Config, opts StartOptions) (*Gateway, error) {
	st, err := store.Open(cfg.StateDir, opts.SessionBlock)
	if err != nil {
		return nil, err
	}
	// An alert on calls_total{result="interrupted"} sees them (ops
	// trial: only the warning below said so).
	opts.Metrics.callsRecovered(st.InterruptedRecords())
	if n := st.Interrupted(); n > 0 && opts.Logger != nil {
		opts.Logger.Warn("calls were in progress when the gateway last stopped without ending them (crash, kill or power cut): recorded with result interrupted",
			zap.Int("calls", n), zap.String("records", st.RecordsPath()))
	}
	v := opts.Verifier
	if v == nil {
		users, err := auth.LoadUsers(cfg.UsersFile)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("bridge: %w", err)
		}
		log := opts.Logger
		if log == nil {
			log = zap.NewNop()
		}
		// A users file others may read: loaded, and said so.
		for _, w := range users.Warnings() {
			log.Warn(w)
		}
		v = NewAuthVerifier(cfg, users, log.Named("auth"))
	}
	srv, err := New(Options{
		Config: cfg, Store: st, Verifier: v, Logger: opts.Logger, Metrics: opts.Metrics,
		Now: opts.Now, V42: opts.V42, Callback: opts.Callback,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	g := &Gateway{Server: srv, Store: st, Verifier: v, listeners: map[string]transport.Listener{}, certs: map[string]*tlscert.Cert{}}
	// A TLS handshake or PROXY header gets the handshake deadline, at
	// most DefaultTLSHandshakeTimeout: each one waiting holds one of
	// the listener's maxTLSPending slots.
	prepTimeout := min(cfg.Security.HandshakeDeadline.Duration, DefaultTLSHandshakeTimeout)
	for _, lc := range cfg.Listeners {
		// allowed_sources as reloaded: the next upgrades follow it.
		restricted := func() bool {
			now, _ := srv.st.Load().cfg.Listener(lc.Name)
			return len(now.AllowedSources) > 0
		}
		l, cert, err := openListener(lc, cfg.GatewayName, opts.Logger, prepTimeout, restricted)
		if err != nil {
			for _, o := range g.listeners {
				o.Close()
			}
			st.Close()
			return nil, &ListenError{Listener: lc.Name, Address: string(lc.Address), Err: err}
		}
		g.listeners[lc.Name] = l
		if cert != nil {
			g.certs[lc.Name] = cert
			srv.logCertificate(lc.Name, cert, "serving TLS certificate")
		}
		g.order = append(g.order, lc.Name)
	}
	for _, name := range g.order {
		l := g.listeners[name]
		g.serveWG.Add(1)
		go func() {
			defer g.serveWG.Done()
			if err := srv.Serve(name, l); err != nil && !errors.Is(err, ErrShutdown) {
				srv.log.Error("listener stopped", zap.String("listener", name), zap.Error(err))
			}
		}()
	}
	g.stopAfter = context.AfterFunc(ctx, func() {
		expired, cancel := context.WithCancel(context.Background())
		cancel()
		_ = g.Shutdown(expired)
	})
	return g, nil
}

// ReloadCertificates reads every TLS listener's certificate and key
// files again (SIGHUP), so that a certificate renewed in place is served
// to the next handshakes; connections already made keep theirs. A pair
// that does not load leaves the listener's certificate as it was, and is
// logged as an error. It returns the number of certificates that
// changed. (A certificate that has expired or soon will is among the
// configuration's warnings, config.Config.Warnings.)
func (g *Gateway) ReloadCertificates() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := 0
	for _, name := range g.order {
		cert := g.certs[name]
		if cert == nil {
			continue
		}
		ok, err := cert.Reload()
		if err != nil {
			g.log.Error("reload: TLS certificate not loaded; still serving the one loaded before", zap.String("listener", name),
				zap.String("serving", tlscert.Describe(cert.Leaf())), zap.Error(err))
			continue
		}
		if ok {
			changed++
			g.logCertificate(name, cert, "reload: serving a new TLS certificate")
		}
	}
	return changed
}

// logCertificate says which certificate listener name serves (msg).
func (s *Server) logCertificate(name string, cert *tlscert.Cert, msg string) {
	s.log.Info(msg, zap.String("listener", name), zap.String("certificate", tlscert.Describe(cert.Leaf())))
}

// Addr is the address listener name answers on, as a line URL with the
// real port (useful with port 0), or "" for an unknown name.
func (g *Gateway) Addr(name string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l, ok := g.listeners[name]; ok {
		return l.Addr()
	}
	return ""
}

// Shutdown stops answering, drains calls until ctx ends (then hangs up the
// rest), and closes the store. It returns ctx.Err() when calls had to be
// cut.
func (g *Gateway) Shutdown(ctx context.Context) error {
	var err error
	g.once.Do(func() {
		if g.stopAfter != nil {
			g.stopAfter()
		}
		err = g.Server.Shutdown(ctx)
		g.serveWG.Wait()
		if cerr := g.Store.Close(); cerr != nil {
			// Records kept in memory through a full disk that still
			// could not be written, say.
			g.Server.log.Error("state directory not closed cleanly", zap.Error(cerr))
			if err == nil {
				err = cerr
			}
		}
	})
	return err
}
