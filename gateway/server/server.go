package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/explorer"
	"github.com/baybus/baybus/gateway/outbox"
	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// DefaultListen is the HTTP address unless told otherwise.
const DefaultListen = "127.0.0.1:8480"

// Config configures a standalone gateway. Zero fields take the documented
// defaults.
type Config struct {
	// Consortium is the consortium directory, as `baybus keys init` or
	// `baybus up` write it: trust.json, and for each city served
	// keys/city-<city>.key and nats/city-<city>.nk (or a JWT .creds file of
	// that name); tls/ for certificates; clients/tokens.json for tokens.
	// A city deploying its gateway alone needs only its own files there.
	Consortium string
	// NATS is the bus URL, comma-separated for a cluster; default
	// nats://127.0.0.1:4222.
	NATS string
	// Cities are the city tokens served; default all eleven.
	Cities []string
	// Listen is the HTTP address; default DefaultListen.
	Listen string
	// Node names this gateway in /readyz and the logs; default the host
	// name.
	Node   string
	TLS    TLSConfig
	Auth   AuthConfig
	HTTP   HTTPConfig
	Ledger LedgerConfig
	// DataDir holds what the gateway keeps: its outbox of published,
	// unsealed batches (DataDir/outbox, locked while open). Default
	// <Consortium>/gateways/<Node>.
	DataDir string
	// Gateway tunes the gateway: limits, batching, the outbox's
	// RepublishAfter, MaxBacklog (default DefaultMaxBacklog with a
	// ledger). A Ledger set here is used instead of the query client.
	// Chain, Node, Ready, Auth, Outbox, Registerer and Logger are set by
	// Start.
	Gateway gateway.Config
	// Connect opens a city's own bus connection; default bus.Connect to
	// NATS with the consortium's credentials of city-<city>. `up` passes
	// in-process connections here.
	Connect func(city string) (*nats.Conn, error)
	// Signer returns a city's signing key; default keys/city-<city>.key of
	// the consortium.
	Signer func(city string) (keys.Signer, error)
	// Registry receives the metrics and is served at /metrics; default a
	// new one with the Go and process collectors.
	Registry *prometheus.Registry
	Logger   *slog.Logger // default slog.Default()
}

// TLSConfig says how the HTTP listener is secured. A listener bound beyond
// loopback serves TLS, from an operator's certificate or one the
// consortium CA issues; plaintext there needs Insecure. On loopback TLS is
// optional.
type TLSConfig struct {
	// CertFile and KeyFile are an operator-supplied server certificate
	// and key (PEM).
	CertFile, KeyFile string
	// FromConsortium has the consortium CA (tls/ca.crt and tls/ca.key)
	// issue a server certificate, kept as tls/gateway-<node>.crt and
	// reused across restarts.
	FromConsortium bool
	// Hosts are the names and addresses that certificate covers; default
	// the listen host (if not a wildcard), the host name, and localhost.
	Hosts []string
	// ClientCAFile is a PEM file of the CAs client certificates must
	// chain to; default the consortium CA (tls/ca.crt) when it exists.
	// Client certificates are then accepted as credentials (mutual TLS).
	ClientCAFile string
	// RequireClientCert refuses TLS connections without a client
	// certificate from those CAs (no tokens).
	RequireClientCert bool
	// Insecure allows plaintext HTTP on an address beyond loopback.
	Insecure bool
}

// AuthConfig says how requests are authenticated.
type AuthConfig struct {
	// TokenFile is the token file; default clients/tokens.json of the
	// consortium. A missing file holds no tokens (every token request is
	// 401 until `baybus gateway token add` makes one).
	TokenFile string
	// Unauthenticated serves without authentication. Only on loopback;
	// for development and tests.
	Unauthenticated bool
}

// LedgerConfig says how the gateway reaches the orderers: through their
// query service (ledger/query), verifying every answer against the trust
// bundle. The ledger gives wait=commit, GET /v1/tx, the proof route, the
// backlog limit and the outbox.
type LedgerConfig struct {
	// Disabled runs the gateway without a ledger: receipts say "accepted"
	// only, wait=commit is 501, proofs are 503, nothing is kept.
	Disabled bool
	// Orderers are asked in turn; default every orderer of the trust
	// bundle.
	Orderers []string
	// Timeout bounds one request to one orderer; default the client's
	// (5 s).
	Timeout time.Duration
	// Outbox tunes the outbox.
	Outbox outbox.Config
}

// DefaultMaxBacklog is the gateway's backlog limit with a ledger: two
// blocks' worth of batches at the orderers' default of 16 batches a block
// (ledger/node), one being decided and one ready. Orderers configured with
// other blocks want Gateway.MaxBacklog set to match.
const DefaultMaxBacklog = 32

// HTTPConfig bounds what a connection costs. Zero fields take the
// defaults.
type HTTPConfig struct {
	ReadHeaderTimeout time.Duration // default 10s
	// ReadTimeout bounds reading a whole request, body included, so a slow
	// body cannot hold a connection; default 60s.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from its headers to the end of the
	// answer; default the longest a request may be held (BulkWait +
	// BacklogWait + CommitTimeout) plus 30s.
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration // default 120s
	MaxHeaderBytes int           // default 64 KiB
	// MaxConns bounds open connections. At the cap a new connection
	// takes the place of the one idle the longest (a keep-alive between
	// requests), which is closed; only when none is idle does it wait for
	// one to close or fall idle. Default 1024.
	MaxConns int
}

func (c HTTPConfig) withDefaults(g gateway.Config) HTTPConfig {
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = orDefault(g.BulkWait, 5*time.Second) + orDefault(g.BacklogWait, 10*time.Second) +
			orDefault(g.CommitTimeout, 30*time.Second) + 30*time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.MaxConns == 0 {
		c.MaxConns = 1024
	}
	return c
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// NewHTTPServer returns an http.Server for h with the bounds of c.
func NewHTTPServer(h http.Handler, c HTTPConfig, log *slog.Logger) *http.Server {
	c = c.withDefaults(gateway.Config{})
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// ListenError is a listener that could not be opened (a busy port, an
// address not of this host). Start returns it at once, before it connects
// to anything.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	hint := ""
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		hint = " (the address is in use: another gateway or `baybus up` may run there; choose another address)"
	}
	return fmt.Sprintf("server: listen on %s: %v%s", e.Addr, e.Err, hint)
}

func (e *ListenError) Unwrap() error { return e.Err }

// ErrInsecure is returned for plaintext, or no authentication, on an
// address beyond loopback without the explicit option.
var ErrInsecure = errors.New("server: insecure")

// Server is a running standalone gateway.
type Server struct {
	cfg    Config
	gw     *gateway.Gateway
	srv    *http.Server
	ln     net.Listener
	capped *capListener // under ln (and its TLS): the connection cap
	url    string
	conns  []*nats.Conn // one per city, in Cities' order
	qconn  *nats.Conn   // the query client's
	ledger *query.Client
	outbox *outbox.Store
	// explorer serves the read API and the explorer (nil without a
	// ledger that reads the chain).
	explorer *explorer.Explorer
	store    *share.Store // rules version 3: the cities' personal data
	index    *share.Index // rules version 3: the chain's grants and access records
	routes   []string
	done     chan struct{}
	once     sync.Once
}

// Start opens the listener first (so a busy port is reported at once),
// then connects each city to the bus with its own credentials, and serves
// until Shutdown.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.NATS == "" {
		cfg.NATS = nats.DefaultURL
	}
	if len(cfg.Cities) == 0 {
		cfg.Cities = schemas.CityTokens()
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(cfg.Consortium, "gateways", certName(cfg.Node))
	}
	for _, c := range cfg.Cities {
		if _, err := schemas.LookupCity(c); err != nil {
			return nil, err
		}
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	trust, err := keys.LoadBundle(filepath.Join(cfg.Consortium, keys.TrustFile))
	if err != nil {
		return nil, err
	}
	loopback, err := IsLoopback(cfg.Listen)
	if err != nil {
		return nil, &ListenError{Addr: cfg.Listen, Err: err}
	}
	tlsConf, err := serverTLS(cfg, loopback)
	if err != nil {
		return nil, err
	}
	authn, err := authenticator(cfg, loopback, tlsConf)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, &ListenError{Addr: cfg.Listen, Err: err}
	}
	hc := cfg.HTTP.withDefaults(cfg.Gateway)
	capped := newCapListener(ln, hc.MaxConns)
	ln = capped
	scheme := "http"
	if tlsConf != nil {
		ln, scheme = tls.NewListener(ln, tlsConf), "https"
	}
	s := &Server{cfg: cfg, ln: ln, capped: capped, url: scheme + "://" + ln.Addr().String(), done: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = ln.Close()
			s.close()
		}
	}()

	connect, signer := cfg.Connect, cfg.Signer
	if connect == nil {
		connect = func(city string) (*nats.Conn, error) {
			name := bus.IdentityName(bus.RoleCity, city)
			return bus.Connect(cfg.NATS, bus.SeedPath(cfg.Consortium, name), name+"@"+cfg.Node)
		}
	}
	if signer == nil {
		signer = func(city string) (keys.Signer, error) { return keys.ReadFile(keys.CityKeyPath(cfg.Consortium, city)) }
	}
	gcfg := cfg.Gateway
	if gcfg.Ledger == nil && !cfg.Ledger.Disabled {
		// The first city's identity asks the query service, on a
		// connection of its own so queries never queue behind publishes.
		if s.qconn, err = connect(cfg.Cities[0]); err != nil {
			return nil, err
		}
		s.ledger, err = query.NewClient(query.ClientConfig{Conn: s.qconn, Trust: trust, Orderers: cfg.Ledger.Orderers,
			Timeout: cfg.Ledger.Timeout, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		gcfg.Ledger = s.ledger
	}
	if gcfg.Ledger != nil {
		if gcfg.MaxBacklog == 0 {
			gcfg.MaxBacklog = DefaultMaxBacklog
		}
		ocfg := cfg.Ledger.Outbox
		ocfg.Logger = cfg.Logger
		if s.outbox, err = outbox.Open(filepath.Join(cfg.DataDir, "outbox"), ocfg); err != nil {
			return nil, err
		}
		gcfg.Outbox = s.outbox
	}
	gcfg.Chain, gcfg.Node, gcfg.Auth, gcfg.Registerer = trust.Chain, cfg.Node, authn, cfg.Registry
	gcfg.Readers = trust.Reader
	gcfg.Logger = cfg.Logger
	gcfg.Ready = s.busReady
	if ch, ok := gcfg.Ledger.(explorer.Chain); ok {
		// The read API and the explorer read the chain through the same
		// verifying client.
		if s.explorer, err = explorer.New(explorer.Config{Chain: ch, Auth: authn, Readers: trust.Reader, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		gcfg.TxContent = s.explorer.TxContent
	}
	// The share service reads the chain through the query client: this
	// server's, or the one a Ledger given in Config.Gateway is.
	chain, _ := gcfg.Ledger.(share.Chain)
	sharing := trust.Rules >= block.Rules3 && chain != nil
	if sharing {
		// Rules version 3: the cities' personal data stays here, and only
		// digests of it are published (gateway/share).
		if s.store, err = share.OpenStore(filepath.Join(cfg.DataDir, "share", "disclosures"), share.StoreConfig{Chain: trust.Chain, Log: cfg.Logger}); err != nil {
			return nil, err
		}
		if s.index, err = share.OpenIndex(filepath.Join(cfg.DataDir, "share", "index"), share.IndexConfig{Chain: chain, Log: cfg.Logger}); err != nil {
			return nil, err
		}
		gcfg.Redactor = s.store
	} else if trust.Rules >= block.Rules3 {
		return nil, fmt.Errorf("server: chain %s is of rules version 3, whose gateways keep the cities' personal data and read grants from the ledger: run it with the orderers' query service", trust.Chain)
	}
	s.gw = gateway.New(gcfg)
	for _, city := range cfg.Cities {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key, err := signer(city)
		if err != nil {
			return nil, err
		}
		nc, err := connect(city)
		if err != nil {
			return nil, err
		}
		s.conns = append(s.conns, nc)
		// A connection that comes back may find a bus that restarted and
		// lost what it had acknowledged: what the outbox keeps goes again.
		prev := nc.ReconnectHandler()
		nc.SetReconnectHandler(func(c *nats.Conn) {
			if prev != nil {
				prev(c)
			}
			s.gw.RepublishNow()
		})
		pub, err := bus.NewPublisher(nc)
		if err != nil {
			return nil, err
		}
		if err := s.gw.AddCity(city, key, pub); err != nil {
			return nil, err
		}
	}
	mux := &routes{mux: http.NewServeMux()}
	s.gw.Register(mux)
	if sharing {
		svc, err := share.New(share.Config{Trust: trust, Gateway: s.gw, Chain: chain, Store: s.store, Index: s.index, Auth: authn, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		svc.Register(mux)
		s.index.Start(time.Second)
	} else {
		share.Unavailable(mux, fmt.Sprintf("chain %s is of rules version %d: sharing under the owner's control needs a chain of rules version 3 (a new consortium)", trust.Chain, max(trust.Rules, 1)))
	}
	mux.Handle("GET "+api.RouteMetrics, s.gw.Authenticated(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})))
	if s.explorer != nil {
		s.explorer.Register(mux)
	} else {
		explorer.RegisterStatic(mux) // the page and the API document, without the chain
	}
	s.routes = mux.patterns
	s.srv = NewHTTPServer(mux.mux, hc, cfg.Logger)
	s.srv.ConnState = capped.Track
	if s.explorer != nil {
		s.srv.RegisterOnShutdown(s.explorer.Close) // ends the block streams, which Shutdown would wait for
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("gateway HTTP server stopped", "err", err)
		}
	}()
	cfg.Logger.Info("gateway up", "url", s.url, "node", cfg.Node, "chain", trust.Chain, "cities", cfg.Cities, "bus", cfg.NATS,
		"auth", authDescription(authn), "ledger", gcfg.Ledger != nil, "outbox", s.outbox != nil)
	return s, nil
}

// busReady is the gateway's bus probe: every city's connection is up and
// its server answers a round trip (no JetStream API call: a city's
// identity need not be allowed any).
func (s *Server) busReady(ctx context.Context) error {
	var problems []string
	for i, nc := range s.conns {
		city := s.cfg.Cities[i]
		if !nc.IsConnected() {
			problems = append(problems, fmt.Sprintf("%s: bus connection %s", city, strings.ToLower(nc.Status().String())))
			continue
		}
		if err := nc.FlushWithContext(ctx); err != nil {
			problems = append(problems, fmt.Sprintf("%s: bus does not answer: %v", city, err))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// URL is where the gateway serves, e.g. https://10.0.0.5:8480.
func (s *Server) URL() string { return s.url }

// Addr is the listener's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Gateway returns the gateway served.
func (s *Server) Gateway() *gateway.Gateway { return s.gw }

// Registry returns the metrics registry served at /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.cfg.Registry }

// Ledger returns the query client the gateway waits on, or nil (a Ledger
// given in Config.Gateway, or none).
func (s *Server) Ledger() *query.Client { return s.ledger }

// Routes returns the patterns the gateway serves ("GET /v1/blocks"), in
// the order registered: what its OpenAPI document must describe.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// routes records the patterns registered on a mux.
type routes struct {
	mux      *http.ServeMux
	patterns []string
}

func (m *routes) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.mux.Handle(pattern, h)
}

func (m *routes) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// ShareStore returns the store of the cities' personal data (rules
// version 3), or nil.
func (s *Server) ShareStore() *share.Store { return s.store }

// Outbox returns the gateway's outbox, or nil without a ledger.
func (s *Server) Outbox() *outbox.Store { return s.outbox }

// Shutdown stops taking requests, waits for those in flight (until ctx
// ends), flushes the cities' queued batches and closes the outbox, the
// ledger client and the bus connections.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		err = s.srv.Shutdown(ctx)
		<-s.done
		s.close()
	})
	return err
}

// close releases what Start acquired, in reverse order.
func (s *Server) close() {
	if s.explorer != nil {
		s.explorer.Close()
	}
	if s.gw != nil {
		s.gw.Close()
	}
	if s.outbox != nil {
		if err := s.outbox.Close(); err != nil {
			s.cfg.Logger.Warn("gateway: closing the outbox", "err", err)
		}
	}
	if s.index != nil {
		if err := s.index.Close(); err != nil {
			s.cfg.Logger.Warn("gateway: closing the share index", "err", err)
		}
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.cfg.Logger.Warn("gateway: closing the store of personal data", "err", err)
		}
	}
	if s.ledger != nil {
		s.ledger.Close()
	}
	if s.qconn != nil {
		s.qconn.Close()
	}
	for _, nc := range s.conns {
		nc.Close()
	}
}

// IsLoopback reports whether a listen address is on loopback only: a
// loopback IP, or "localhost". A wildcard host (":8480", "0.0.0.0") is
// not; a host name is if it resolves to loopback addresses only.
func IsLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "" {
		return false, nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback(), nil
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return false, err
	}
	return len(ips) > 0 && !slices.ContainsFunc(ips, func(ip net.IP) bool { return !ip.IsLoopback() }), nil
}

// serverTLS builds the listener's TLS configuration, or nil for plaintext.
func serverTLS(cfg Config, loopback bool) (*tls.Config, error) {
	t := cfg.TLS
	var cert *tls.Certificate
	switch {
	case t.CertFile != "" || t.KeyFile != "":
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, errors.New("server: a TLS certificate needs both its certificate and its key file")
		}
		c, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("server: TLS certificate: %w", err)
		}
		cert = &c
	case t.FromConsortium:
		ca, err := consortium.LoadCA(cfg.Consortium, nil)
		if err != nil {
			return nil, fmt.Errorf("server: TLS from the consortium CA: %w", err)
		}
		hosts := t.Hosts
		if len(hosts) == 0 {
			hosts = consortium.ListenHosts(cfg.Listen)
		}
		iss, err := ca.EnsureCert(cfg.Consortium, consortium.CertSpec{Name: "gateway-" + certName(cfg.Node), Role: "server",
			Usage: consortium.UsageServer, Hosts: hosts})
		if err != nil {
			return nil, err
		}
		c, err := iss.TLSCertificate()
		if err != nil {
			return nil, err
		}
		cert = &c
	}
	if cert == nil {
		if !loopback && !t.Insecure {
			return nil, fmt.Errorf("%w: %s is beyond loopback: serve TLS (a certificate and key, or one from the consortium CA) or allow plaintext explicitly", ErrInsecure, cfg.Listen)
		}
		if t.RequireClientCert {
			return nil, errors.New("server: client certificates need TLS")
		}
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
	pool, err := clientCAs(cfg)
	if err != nil {
		return nil, err
	}
	if pool != nil {
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
		if t.RequireClientCert {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	} else if t.RequireClientCert {
		return nil, errors.New("server: client certificates need a client CA (the consortium's tls/ca.crt, or a CA file)")
	}
	return tc, nil
}

// clientCAs returns the pool client certificates are verified against,
// or nil if there is none.
func clientCAs(cfg Config) (*x509.CertPool, error) {
	if cfg.TLS.ClientCAFile != "" {
		return consortium.LoadCAPool(cfg.TLS.ClientCAFile)
	}
	path, _ := consortium.CAPaths(cfg.Consortium)
	if _, err := os.Stat(path); err != nil {
		return nil, nil
	}
	return consortium.LoadCAPool(path)
}

// certName makes a node name fit a certificate name.
func certName(node string) string {
	b := []byte(node)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "gateway"
	}
	return string(b[:min(len(b), 48)])
}

// authenticator builds the request authenticator: client certificates
// when TLS verifies them, tokens from the token file otherwise.
func authenticator(cfg Config, loopback bool, tc *tls.Config) (auth.Authenticator, error) {
	if cfg.Auth.Unauthenticated {
		if !loopback {
			return nil, fmt.Errorf("%w: serving without authentication is allowed on loopback only, not on %s", ErrInsecure, cfg.Listen)
		}
		return nil, nil
	}
	path := cfg.Auth.TokenFile
	if path == "" {
		path = auth.TokenPath(cfg.Consortium)
	}
	var ch auth.Chain
	if !(tc != nil && tc.ClientAuth == tls.RequireAndVerifyClientCert) {
		store, err := auth.OpenTokens(path, auth.TokenConfig{})
		if err != nil {
			return nil, err
		}
		ch.Tokens = store
	}
	if tc != nil && tc.ClientCAs != nil {
		ch.Certs = &auth.CertAuth{}
	}
	return ch, nil
}

func authDescription(a auth.Authenticator) string {
	ch, ok := a.(auth.Chain)
	if !ok {
		return "none (loopback development only)"
	}
	var parts []string
	if ch.Certs != nil {
		parts = append(parts, "client certificates")
	}
	if ch.Tokens != nil {
		parts = append(parts, "tokens from "+ch.Tokens.Path())
	}
	return strings.Join(parts, " or ")
}
