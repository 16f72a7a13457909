package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/consent/consentapi"
	consentstore "github.com/cedula/cedula/consent/sqlstore"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/backend"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/adminapi"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/issuer/rights"
	"github.com/cedula/cedula/issuer/sqlstore"
	"github.com/cedula/cedula/issuer/vci"
	"github.com/cedula/cedula/issuer/vci/vciapi"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/journeys/delivery"
	deliverystore "github.com/cedula/cedula/journeys/delivery/sqlstore"
	"github.com/cedula/cedula/journeys/journeysapi"
	journeystore "github.com/cedula/cedula/journeys/sqlstore"
	mobileapi "github.com/cedula/cedula/mobile-api"
	mobilestore "github.com/cedula/cedula/mobile-api/sqlstore"
	"github.com/cedula/cedula/openapi"
	"github.com/cedula/cedula/verifier"
	verifierstore "github.com/cedula/cedula/verifier/sqlstore"
	"github.com/cedula/cedula/verifier/verifierapi"
	"github.com/cedula/cedula/wallet"
	"github.com/cedula/cedula/wallet/inbox"
	inboxstore "github.com/cedula/cedula/wallet/inbox/sqlstore"
	walletstore "github.com/cedula/cedula/wallet/sqlstore"
	"github.com/cedula/cedula/web"
)

// Server is a wired Cedula server.
type Server struct {
	Config config.Config
	DB     *db.DB
	Store  *sqlstore.Store
	// Registrar registers clients and creates citizens, for the admin
	// API, the configuration and the demo alike.
	Registrar *issuer.Registrar
	// AdminAPI is the issuer room's admin API (mounted on the edge).
	AdminAPI *adminapi.API
	Keys     keys.Manager
	Provider *oidcop.Provider
	// Consent is the consent ledger: purposes, records, decisions.
	Consent *consent.Service
	// Audit is the tamper-evident log; Checkpointer signs its checkpoints.
	Audit        *auditstore.Store
	Checkpointer *audit.Checkpointer
	// Shredder seals audit details under per-subject keys and erases them.
	Shredder *audit.Shredder
	// Pages serves the citizen pages; its session cookie also admits
	// citizens to GET /account/audit.
	Pages *pages.Handler
	// Issuer is the OpenID4VCI credential issuer.
	Issuer *vci.Service
	// Verifier is the OpenID4VP verifier agencies ask presentations of.
	Verifier *verifier.Service
	// Seals seal the messages sent to citizens and check them.
	Seals *journeys.Seals
	// Journeys runs citizen journeys.
	Journeys     *journeys.Service
	journeyStore *journeystore.Store
	alerts       *alertHub
	// Delivery is the journeys' durable outbox.
	Delivery      *delivery.Service
	verifierStore *verifierstore.Store
	// Wallet is the citizens' wallet (the holder side).
	Wallet      *wallet.Service
	walletStore *walletstore.Store
	mobileStore *mobilestore.Store
	inboxStore  *inboxstore.Store
	// Inbox is the citizens' inbox (messages, and their streams).
	Inbox       *inbox.Service
	stopStreams context.CancelFunc
	// consentAPI signs consent receipts and auditViews are the citizens'
	// views of the log, for the mobile API too.
	consentAPI *consentapi.API
	auditViews *auditapi.Views
	// Pseudonyms name citizens in the audit log, for every room.
	Pseudonyms *audit.Pseudonyms
	log        *slog.Logger
	guard      httpapi.Guard
	handler    http.Handler
	edge       *httpapi.Edge
	admin      http.Handler // of the admin listener
	cancel     context.CancelFunc
}

// LongLivedRings are the key rings whose signatures must stay verifiable
// for as long as what they sign is kept — checkpoints of the audit log,
// consent receipts, exports — so their retired keys stay published for a
// century rather than key_retention.
func LongLivedRings() map[string]time.Duration {
	const century = 100 * 365 * 24 * time.Hour
	return map[string]time.Duration{
		audit.CheckpointRing: century, consentapi.ReceiptRing: century, auditapi.ExportRing: century, rights.ExportRing: century,
		// Credentials live up to a year or more, and revocation must stay
		// checkable as long as one is presented.
		vci.IssuerRing: century,
	}
}

// Open opens the database and the keys and applies migrations; it serves
// nothing. migrate and admin commands use it alone.
func Open(ctx context.Context, cfg config.Config) (*db.DB, keys.Manager, error) {
	d, err := db.Open(ctx, cfg.DatabaseURL())
	if err != nil {
		return nil, nil, err
	}
	if _, err := d.Migrate(ctx, sqlstore.Migrations, auditstore.Migrations, consentstore.Migrations, walletstore.Migrations,
		mobilestore.Migrations, inboxstore.Migrations, verifierstore.Migrations, journeystore.Migrations, deliverystore.Migrations); err != nil {
		d.Close()
		return nil, nil, err
	}
	km, err := backend.Open(ctx, backend.Config{URL: cfg.Keys, DataDir: cfg.DataDir, Retention: cfg.KeyRetention.D(),
		RingRetention: LongLivedRings()})
	if err != nil {
		d.Close()
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	return d, km, nil
}

// New builds the whole server.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	d, km, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	log = withRequestIDs(log)
	s := &Server{Config: cfg, DB: d, Keys: km, log: log}
	secret, err := loadSecret(cfg.DataDir, os.Getenv)
	if err != nil {
		d.Close()
		return nil, err
	}
	s.Pseudonyms = audit.NewPseudonyms(secret)
	if err := s.openAudit(); err != nil {
		d.Close()
		return nil, err
	}
	// Every change of the provider's store appends its entry to the log
	// in the change's own transaction.
	s.Store = sqlstore.New(d, sqlstore.WithAudit(s.Audit, s.Pseudonyms))
	s.Registrar = &issuer.Registrar{Store: s.Store}
	if err := s.syncClients(audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "config"})); err != nil {
		s.Audit.Close()
		d.Close()
		return nil, err
	}
	if err := s.openConsent(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.openIssuer(secret); err != nil {
		s.Close()
		return nil, err
	}
	s.walletStore, s.mobileStore, s.inboxStore = walletstore.New(d, s.Audit), mobilestore.New(d), inboxstore.New(d)
	if s.Inbox, err = inbox.New(inbox.Config{Store: s.inboxStore, Sealer: s.Shredder, Subject: s.Pseudonyms.Of}); err != nil {
		s.Close()
		return nil, err
	}
	roots, err := readTrustAnchors(cfg.VerifierTrustAnchors)
	if err != nil {
		s.Close()
		return nil, err
	}
	// Without a configured certificate the verifier's key is certified by
	// a local CA derived from the secret, which this server's own wallet
	// trusts.
	var ca *localCA
	if cfg.VerifierCertificate == "" {
		if ca, err = openLocalCA(cfg.DataDir, secret); err != nil {
			s.Close()
			return nil, err
		}
		if roots == nil {
			roots = x509.NewCertPool()
		}
		roots.AddCert(ca.cert)
	}
	if err := s.openVerifier(secret, ca); err != nil {
		s.Close()
		return nil, err
	}
	s.journeyStore = journeystore.New(s.DB, s.Audit)
	if s.Seals, err = journeys.NewSeals(s.Keys, s.journeyStore, secret, cfg.PublicURL, nil); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.openJourneys(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.Wallet, err = wallet.New(wallet.Config{Store: s.walletStore, Sealer: s.Shredder, Subject: s.Pseudonyms.Of,
		// As the provider does: a server on http:// is a developer's, and
		// its wallet takes offers from issuers on http:// too.
		AllowHTTP:     strings.HasPrefix(cfg.PublicURL, "http://"),
		VerifierRoots: roots, Consents: presentationConsents{s}, Inbox: walletEvents{s}, Logger: log,
		// At issuers' authorization servers the wallet is the wallet app:
		// the citizen's browser comes back to the app's redirect URI.
		ClientID: WalletClientID, RedirectURI: s.walletRedirectURI()}); err != nil {
		s.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cedula_db_group_commits_total", Help: "Transactions of the token group-commit writer."},
			func() float64 { b, _ := s.Store.GroupCommits(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cedula_db_group_commit_writes_total", Help: "Writes carried by the token group-commit writer."},
			func() float64 { _, n := s.Store.GroupCommits(); return float64(n) }))
	s.Provider, err = oidcop.New(ctx, oidcop.Config{
		Issuer:        cfg.PublicURL,
		LoginPath:     "/login",
		AccessTTL:     cfg.Tokens.AccessTTL.D(),
		IDTTL:         cfg.Tokens.IDTTL.D(),
		RefreshTTL:    cfg.Tokens.RefreshTTL.D(),
		Secret:        secret,
		AllowInsecure: strings.HasPrefix(cfg.PublicURL, "http://"),
		Consent:       s.Consent,
		RequirePAR:    cfg.RequirePAR,
		ErrorPage:     s.authorizeErrorPage,
		Grants:        map[string]oidcop.Grant{vci.GrantPreAuthorized: s.Issuer},
		Credentials:   s.Issuer,
		Metadata:      s.providerMetadata(),
		Bridge:        bridge{s},
	}, s.Store, km, log, oidcop.NewMetrics(reg))
	if err != nil {
		d.Close()
		return nil, err
	}
	s.guard = httpapi.Guard{Auth: apiAuth{s}, OnCaller: func(ctx context.Context, c httpapi.Caller) context.Context {
		// Whatever the call changes is recorded with the calling client
		// as actor.
		return audit.WithActor(ctx, audit.Actor{Kind: audit.ActorClient, ID: c.ClientID})
	}, Sessions: citizenSessions{s}}
	edge := httpapi.New(httpapi.Config{BaseURL: cfg.PublicURL, Logger: log, Registry: reg,
		Language: func(r *http.Request) string { return web.Negotiate(r) },
		Classifiers: []httpapi.Classifier{consentapi.Classify, auditapi.Classify, adminapi.Classify, vciapi.Classify,
			verifierapi.Classify, mobileapi.Classify, journeysapi.Classify}})
	e := edge.Echo()
	provider := httpapi.WrapHandler(s.Provider.Handler())
	for _, p := range append(providerPaths, "/.well-known/oauth-authorization-server") {
		e.Any(p, provider)
	}
	probe := []string{http.MethodGet, http.MethodHead}
	e.Match(probe, "/healthz", httpapi.WrapHandler(http.HandlerFunc(healthz)))
	e.Match(probe, "/readyz", httpapi.WrapHandler(http.HandlerFunc(s.ready)))
	s.admin = s.adminHandler(reg)
	if err := s.mountPages(e); err != nil {
		d.Close()
		return nil, err
	}
	s.Registrar.Forget = s.Provider.ForgetClient
	if err := s.mountAdmin(e); err != nil {
		d.Close()
		return nil, err
	}
	if err := s.mountConsent(e); err != nil {
		d.Close()
		return nil, err
	}
	if err := s.mountAudit(e); err != nil {
		d.Close()
		return nil, err
	}
	if err := s.mountIssuer(e); err != nil {
		d.Close()
		return nil, err
	}
	if err := s.mountVerifier(e); err != nil {
		d.Close()
		return nil, err
	}
	if err := s.mountMobile(e); err != nil {
		d.Close()
		return nil, err
	}
	if err := s.mountJourneys(e); err != nil {
		d.Close()
		return nil, err
	}
	if err := openapi.Mount(e); err != nil {
		d.Close()
		return nil, err
	}
	s.edge, s.handler = edge, edge
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	go s.housekeeping(bg)
	go s.watchCredentials(bg)
	go s.runJourneys(bg)
	go s.alerts.run(bg)
	// The inbox's streams end when the listeners shut down (Serve), so
	// that open streams do not hold the shutdown.
	streams, stopStreams := context.WithCancel(bg)
	s.stopStreams = stopStreams
	go s.Inbox.Run(streams)
	go s.Checkpointer.Run(bg)
	go s.Verifier.RunDeliveries(bg, 2*time.Second, s.log)
	go s.Provider.RunLogouts(bg)
	return s, nil
}

// EndStreams ends the inbox's open streams (and any opened later), as
// shutting down needs: a stream would otherwise hold its connection open
// until its token expires.
func (s *Server) EndStreams() {
	if s.stopStreams != nil {
		s.stopStreams()
	}
}

// Routes lists the edge's routes: method and template.
func (s *Server) Routes() [][2]string {
	var out [][2]string
	for _, r := range s.edge.Echo().Routes() {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Close releases the database.
func (s *Server) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	if s.Consent != nil {
		s.Consent.Close()
	}
	if s.Audit != nil {
		s.Audit.Close()
	}
	if s.Store != nil {
		s.Store.Close()
	}
	if s.verifierStore != nil {
		s.verifierStore.Close()
	}
	return s.DB.Close()
}

// ready reports whether the database and the keys answer.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.PingContext(ctx); err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "Not ready", "the database does not answer")
		return
	}
	if _, err := s.Keys.Rings(ctx); err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "Not ready", "the key manager does not answer")
		return
	}
	w.Write([]byte("ready\n"))
}

// every runs fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// housekeeping deletes expired authorization requests and tokens.
func (s *Server) housekeeping(ctx context.Context) {
	every(ctx, 10*time.Minute, func() {
		now := time.Now()
		if _, err := s.Store.DeleteAuthRequestsBefore(ctx, now.Add(-time.Hour)); err != nil {
			s.log.WarnContext(ctx, "housekeeping: auth requests", "err", err)
		}
		if _, err := s.Store.DeleteTokensBefore(ctx, now.Add(-time.Hour)); err != nil {
			s.log.WarnContext(ctx, "housekeeping: tokens", "err", err)
		}
		if _, err := s.Store.DeleteSpentNoncesBefore(ctx, now); err != nil {
			s.log.WarnContext(ctx, "housekeeping: spent c_nonces", "err", err)
		}
		if _, err := s.Store.DeleteExpiredSessions(ctx, now); err != nil {
			s.log.WarnContext(ctx, "housekeeping: sessions", "err", err)
		}
		if _, err := s.walletStore.DeleteExpiredPending(ctx, now); err != nil {
			s.log.WarnContext(ctx, "housekeeping: pending wallet acceptances", "err", err)
		}
		// Deferred credentials fall due: each poll claims its transaction,
		// so replicas running this at once ask each issuer once.
		if n, err := s.Wallet.PollDeferred(ctx, now); err != nil {
			s.log.WarnContext(ctx, "housekeeping: deferred credentials", "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "housekeeping: deferred credentials received", "credentials", n)
		}
		if _, err := s.mobileStore.Purge(ctx, now.Add(-mobileapi.RecordTTL)); err != nil {
			s.log.WarnContext(ctx, "housekeeping: idempotency records", "err", err)
		}
		if _, _, err := s.Verifier.Housekeep(ctx); err != nil {
			s.log.WarnContext(ctx, "housekeeping: presentation requests", "err", err)
		}
		// Consents past their purpose's retention expire, audited, and
		// the agencies' tokens that rested on them are revoked.
		if n, err := s.Consent.Expire(ctx, now); err != nil {
			s.log.WarnContext(ctx, "housekeeping: consent expiry", "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "housekeeping: consents expired", "records", n)
		}
	})
}

// watchCredentials re-reads, every WalletWatchInterval, the status lists
// of the credentials the wallets hold, and warns of those about to
// expire: the citizens are told in their inbox. Every replica does it; a
// change is told once (wallet.CheckStatuses).
func (s *Server) watchCredentials(ctx context.Context) {
	every(ctx, s.Config.WalletWatchInterval.D(), func() {
		if n, err := s.Wallet.CheckStatuses(ctx, ""); err != nil {
			s.log.WarnContext(ctx, "wallet watch: status lists", "err", err, "told", n)
		}
		if n, err := s.Wallet.WarnExpiring(ctx); err != nil {
			s.log.WarnContext(ctx, "wallet watch: expiring credentials", "err", err, "told", n)
		}
	})
}

// syncClients creates or updates the clients declared in the configuration.
func (s *Server) syncClients(ctx context.Context) error {
	var errs []error
	configured := false
	for _, cc := range s.Config.Clients {
		configured = configured || cc.ID == WalletClientID
		c, err := clientFromConfig(cc)
		if err == nil {
			_, err = s.Registrar.RegisterClient(ctx, c, issuer.Registration{By: issuer.Operator})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("client %q: %w", cc.ID, err))
		}
	}
	if !configured && len(s.Config.WalletRedirectURIs) > 0 {
		if _, err := s.Registrar.RegisterClient(ctx, s.walletClient(), issuer.Registration{By: issuer.Operator}); err != nil {
			errs = append(errs, fmt.Errorf("client %q: %w", WalletClientID, err))
		}
	}
	return errors.Join(errs...)
}

// WalletClientID is the citizens' wallet app: a public client (PKCE,
// PAR, DPoP-bound tokens) of the mobile API, registered by every server
// unless the configuration defines it.
const WalletClientID = "cedula-wallet"

// walletClient is the wallet app's registration: the mobile API's scope,
// and the credential configurations' scopes, which the wallet asks for
// when the citizen logs in at this server as an issuer (OpenID4VCI
// authorization code flow).
func (s *Server) walletClient() issuer.Client {
	sc := []string{scopes.Wallet}
	if types, err := s.credentialTypes(); err == nil { // an error is openIssuer's to report
		for _, t := range types {
			sc = append(sc, t.ID)
		}
	}
	return issuer.Client{ID: WalletClientID, Name: "Cedula", RedirectURIs: s.Config.WalletRedirectURIs,
		GrantTypes: []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}, AuthMethod: issuer.AuthNone,
		SubjectType: issuer.SubjectPairwise, RequirePAR: true, Scopes: sc}
}

// walletRedirectURI is where issuers send the citizen's browser back to
// the wallet app after a login for a credential: the first of the wallet
// app's redirect URIs (the configured client's, when the configuration
// declares it); "" leaves the wallet without the authorization code flow.
func (s *Server) walletRedirectURI() string {
	uris := s.Config.WalletRedirectURIs
	for _, c := range s.Config.Clients {
		if c.ID == WalletClientID {
			uris = c.RedirectURIs
		}
	}
	if len(uris) == 0 {
		return ""
	}
	return uris[0]
}

func clientFromConfig(cc config.Client) (issuer.Client, error) {
	c := issuer.Client{
		ID: cc.ID, Name: cc.Name, RedirectURIs: cc.RedirectURIs, PostLogoutRedirectURIs: cc.PostLogoutRedirectURIs,
		GrantTypes: cc.GrantTypes, AuthMethod: cc.AuthMethod, SubjectType: cc.SubjectType, SectorID: cc.SectorID,
		IDTokenAlg: cc.IDTokenAlg, BackchannelLogoutURI: cc.BackchannelLogoutURI, RequirePAR: cc.RequirePAR, Scopes: cc.Scopes,
	}
	if cc.JWKSFile != "" {
		b, err := os.ReadFile(cc.JWKSFile)
		if err != nil {
			return c, err
		}
		c.JWKS = b
	}
	if cc.SecretSHA256File != "" {
		b, err := os.ReadFile(cc.SecretSHA256File)
		if err != nil {
			return c, err
		}
		h, err := decodeHex(strings.TrimSpace(string(b)))
		if err != nil || len(h) != 32 {
			return c, fmt.Errorf("%s is not a hex SHA-256 digest", cc.SecretSHA256File)
		}
		c.SecretHash = h
	}
	return c, nil
}

// Addrs are the addresses Run listens on; Admin is "" when the admin
// listener is disabled.
type Addrs struct{ Public, Admin string }

// Run serves the public handler on the configured address, and the admin
// handler on the admin address unless it is disabled, until ctx ends; then
// it shuts both down gracefully. ready, when not nil, receives the bound
// addresses once both listen.
func (s *Server) Run(ctx context.Context, ready func(Addrs)) error {
	type listener struct {
		ln  net.Listener
		srv *http.Server
	}
	var ls []listener
	defer func() {
		for _, l := range ls {
			l.ln.Close()
		}
	}()
	var addrs Addrs
	for _, l := range []struct {
		addr    string
		handler http.Handler
		bound   *string
		write   time.Duration
	}{
		{s.Config.Listen, s.handler, &addrs.Public, 60 * time.Second},
		// No write timeout: a CPU profile or trace runs as long as asked.
		{s.Config.AdminListen, s.admin, &addrs.Admin, 0},
	} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return err
		}
		*l.bound = ln.Addr().String()
		ls = append(ls, listener{ln, &http.Server{
			Handler:           l.handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      l.write,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}})
	}
	if s.Config.AdminExposed() {
		s.log.Warn("the admin listener is not on loopback: metrics and profiles of this process are served to whoever reaches it",
			"admin_listen", addrs.Admin)
	}
	if ready != nil {
		ready(addrs)
	}
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- l.srv.Serve(l.ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	s.EndStreams()
	for _, l := range ls {
		errs = append(errs, l.srv.Shutdown(sctx))
	}
	return errors.Join(errs...)
}

// providerMetadata are the authorization server metadata members of the
// specifications the provider serves beside OpenID Connect: OpenID4VCI's
// (§12.3) and the OIDC bridge's (OpenID Connect for Identity Assurance
// 1.0 §8).
func (s *Server) providerMetadata() map[string]any {
	md := map[string]any{"pre-authorized_grant_anonymous_access_supported": true,
		"authorization_details_types_supported": []string{vci.DetailsType}}
	for k, v := range s.Verifier.BridgeMetadata() {
		md[k] = v
	}
	return md
}
