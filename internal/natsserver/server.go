package natsserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/schemas/bus"
)

// ServerConfig configures an embedded nats-server.
type ServerConfig struct {
	Name       string          // server name; default "baybus"
	StoreDir   string          // JetStream file store directory (required)
	Listen     string          // client address, e.g. "127.0.0.1:4222" or "127.0.0.1:-1"; "" = in-process only
	Identities *bus.Identities // users and their permissions (required)
	// SyncInterval is JetStream's fsync interval: "" keeps the server's
	// default (2 minutes), "always" fsyncs every write.
	SyncInterval string
	// Clustering: all three set to join a cluster (a clustered server must
	// listen; nats-server issue #5174).
	ClusterName   string
	ClusterListen string   // e.g. "127.0.0.1:6222"
	Routes        []string // e.g. "nats://127.0.0.1:6223"
	// Gateway joins this server's cluster to others in a supercluster;
	// nil for none. Its Name must be ClusterName.
	Gateway *GatewayConfig
	// Tags are the server's JetStream placement tags (server_tags), e.g.
	// "region:guangdong": a stream whose Placement names tags gets its
	// replicas only on servers that carry them all.
	Tags []string
	// Monitor is the HTTP monitoring address (/healthz, /varz, /jsz), e.g.
	// "127.0.0.1:8222"; "" for none.
	Monitor string
	// StartTimeout bounds the wait for the server to take clients; default
	// 10 s. A listener that cannot open, or any other fatal start error,
	// ends the wait at once with the server's reason.
	StartTimeout time.Duration
	// TLS of the client port, routes, gateway and monitoring port
	// (tls.go). Required for any of them bound beyond loopback unless
	// Insecure.
	TLS *TLS
	// Insecure allows plaintext on listeners beyond loopback.
	Insecure bool
	Logger   *slog.Logger
}

// GatewayConfig is one server's NATS gateway: the link from its cluster to
// the other clusters of a supercluster. Every server of a cluster gets the
// same Remotes; each opens one outbound connection to each remote cluster
// and takes inbound ones on Listen.
type GatewayConfig struct {
	Name   string // the cluster's gateway name (= ServerConfig.ClusterName)
	Listen string // e.g. "127.0.0.1:7222"
	// Advertise is the address other clusters dial for this server, when
	// it differs from Listen (a proxy or NAT in between). Servers learn
	// one another's gateway addresses by gossip, so the advertised one is
	// the one every remote ends up using.
	Advertise string
	Remotes   []RemoteGateway // the other clusters; an entry for this one is ignored by the server
}

// RemoteGateway is another cluster of the supercluster and some of its
// servers' gateway addresses (one is enough: the rest are gossiped).
type RemoteGateway struct {
	Name string
	URLs []string // e.g. "nats://127.0.0.1:7232"
}

// Embedded is a running in-process nats-server.
type Embedded struct {
	srv *server.Server
	ids *bus.Identities
	tls bool // the client port is TLS
}

// Config renders the server configuration: one account GBA with JetStream
// holding every identity with its permissions, and a system account.
func (c *ServerConfig) Config() (string, error) {
	if c.StoreDir == "" || c.Identities == nil {
		return "", fmt.Errorf("natsserver: server config needs a store dir and identities")
	}
	if err := c.checkPlaintext(); err != nil {
		return "", err
	}
	name := c.Name
	if name == "" {
		name = "baybus"
	}
	var b strings.Builder
	q := strconv.Quote
	list := func(ss []string) string {
		parts := make([]string, len(ss))
		for i, s := range ss {
			parts[i] = q(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	fmt.Fprintf(&b, "server_name: %s\n", q(name))
	if c.Listen != "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return "", fmt.Errorf("natsserver: listen %q: %w", c.Listen, err)
		}
		fmt.Fprintf(&b, "host: %s\nport: %s\n", q(host), port)
	}
	if c.TLS != nil && (c.Listen != "" || c.Monitor != "") {
		b.WriteString(c.TLS.block("", !c.TLS.ClientCertsOptional))
	}
	fmt.Fprintf(&b, "max_payload: %d\n", 1<<20)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %s\n", q(c.StoreDir))
	if c.SyncInterval != "" {
		fmt.Fprintf(&b, "  sync_interval: %s\n", q(c.SyncInterval))
	}
	b.WriteString("}\naccounts {\n  GBA {\n    jetstream: enabled\n    users: [\n")
	// An empty allow list would allow everything: render it as deny all.
	perm := func(allow []string) string {
		if len(allow) == 0 {
			return `{deny: [">"]}`
		}
		return "{allow: " + list(allow) + "}"
	}
	for _, u := range c.Identities.Users {
		p := bus.PermissionsOf(u)
		resp := ""
		if p.Respond {
			resp = fmt.Sprintf(", allow_responses: {max: -1, expires: %s}", q(bus.ResponseTTL.String()))
		}
		fmt.Fprintf(&b, "      {nkey: %s, permissions: {publish: %s, subscribe: %s%s}}\n",
			q(u.Public), perm(p.Publish), perm(p.Subscribe), resp)
	}
	b.WriteString("    ]\n  }\n  SYS {}\n}\nsystem_account: SYS\n")
	if len(c.Tags) > 0 {
		fmt.Fprintf(&b, "server_tags: %s\n", list(c.Tags))
	}
	if c.Monitor != "" {
		if c.TLS != nil {
			fmt.Fprintf(&b, "https: %s\n", q(c.Monitor))
		} else {
			fmt.Fprintf(&b, "http: %s\n", q(c.Monitor))
		}
	}
	if c.ClusterName != "" {
		host, port, err := net.SplitHostPort(c.ClusterListen)
		if err != nil {
			return "", fmt.Errorf("natsserver: cluster listen %q: %w", c.ClusterListen, err)
		}
		fmt.Fprintf(&b, "cluster {\n  name: %s\n  host: %s\n  port: %s\n  routes: %s\n", q(c.ClusterName), q(host), port, list(c.Routes))
		if c.TLS != nil {
			b.WriteString(c.TLS.block("  ", false))
		}
		b.WriteString("}\n")
	}
	if g := c.Gateway; g != nil {
		if g.Name == "" || g.Name != c.ClusterName {
			return "", fmt.Errorf("natsserver: gateway name %q must be the cluster name %q", g.Name, c.ClusterName)
		}
		host, port, err := net.SplitHostPort(g.Listen)
		if err != nil {
			return "", fmt.Errorf("natsserver: gateway listen %q: %w", g.Listen, err)
		}
		fmt.Fprintf(&b, "gateway {\n  name: %s\n  host: %s\n  port: %s\n", q(g.Name), q(host), port)
		if g.Advertise != "" {
			fmt.Fprintf(&b, "  advertise: %s\n", q(g.Advertise))
		}
		if c.TLS != nil {
			b.WriteString(c.TLS.block("  ", false))
		}
		b.WriteString("  gateways: [\n")
		for _, r := range g.Remotes {
			fmt.Fprintf(&b, "    {name: %s, urls: %s}\n", q(r.Name), list(r.URLs))
		}
		b.WriteString("  ]\n}\n")
	}
	return b.String(), nil
}

// StartServer starts an embedded server and waits until it accepts clients.
// A listener that cannot open (a busy port) is a *ListenError before
// anything is written to StoreDir; any other fatal start error (a store
// directory another server holds, a bad option) is returned with the
// server's own reason as soon as it logs it, not after a time-out.
func StartServer(cfg ServerConfig) (*Embedded, error) {
	text, err := cfg.Config()
	if err != nil {
		return nil, err
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(text); err != nil {
		return nil, fmt.Errorf("natsserver: server config: %w", err)
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	}
	opts.NoSigs = true
	if err := CheckListeners(opts); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o755); err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	srv, err := Start(opts, cfg.Logger, cfg.StartTimeout)
	if err != nil {
		return nil, err
	}
	return &Embedded{srv: srv, ids: cfg.Identities, tls: cfg.TLS != nil && cfg.Listen != ""}, nil
}

// DefaultStartTimeout bounds how long Start waits for a server to take
// clients when its caller gives no bound.
const DefaultStartTimeout = 10 * time.Second

// ErrStart is wrapped by every error of a server that began to start and
// gave up: the message carries the server's own reason.
var ErrStart = errors.New("natsserver: server did not start")

// Start runs a server from processed options (a configuration file or
// string) and returns once it takes clients. The listeners should have been
// checked with CheckListeners first. It logs to log (nil: nowhere) and
// returns the first fatal error the server reports, at once, wrapped in
// ErrStart; a server that neither fails nor becomes ready within timeout
// (0: DefaultStartTimeout) is shut down and ErrStart says which listeners
// it lacked.
func Start(opts *server.Options, log *slog.Logger, timeout time.Duration) (*server.Server, error) {
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fatal := &fatalLogger{slogAdapter: slogAdapter{l: log.With("component", "nats")}, ch: make(chan string, 1)}
	srv.SetLoggerV2(fatal, false, false, false)
	go srv.Start()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case msg := <-fatal.ch:
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, fmt.Errorf("%w: %s", ErrStart, msg)
		default:
		}
		if srv.ReadyForConnections(50 * time.Millisecond) {
			return srv, nil
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, fmt.Errorf("%w within %v: not listening yet on every configured port", ErrStart, timeout)
		}
	}
}

// ListenError is a listener of a server that cannot open: Listener names
// which one in the configuration's terms ("client (port)", "cluster
// (cluster.port)", "gateway (gateway.port)", "monitoring (http)"), so a
// caller can name its own flag for it.
type ListenError struct {
	Listener string
	Addr     string
	Err      error
}

// Listener kinds of a ListenError.
const (
	ListenerClient  = "client (port)"
	ListenerCluster = "cluster (cluster.port)"
	ListenerGateway = "gateway (gateway.port)"
	ListenerMonitor = "monitoring (http)"
)

func (e *ListenError) Error() string {
	hint := ""
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		hint = ": the address is in use (another NATS server or `baybus up` may run there)"
	}
	return fmt.Sprintf("natsserver: %s listener on %s: %v%s", e.Listener, e.Addr, e.Err, hint)
}

func (e *ListenError) Unwrap() error { return e.Err }

// CheckListen opens and closes a client address ("host:port"), so a caller
// can report a busy port before it writes anything: a *ListenError of the
// client listener. A random port (-1, 0) is not checked.
func CheckListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &ListenError{Listener: ListenerClient, Addr: addr, Err: err}
	}
	if p, err := strconv.Atoi(port); err == nil && p <= 0 {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &ListenError{Listener: ListenerClient, Addr: addr, Err: err}
	}
	return ln.Close()
}

// CheckListeners opens and closes every listener opts configure with a
// fixed port, so a busy port is reported at once, naming the listener,
// rather than as a server that never becomes ready. Random ports (-1, 0)
// are not checked.
func CheckListeners(opts *server.Options) error {
	type l struct {
		kind, host string
		port       int
	}
	var ls []l
	if !opts.DontListen {
		ls = append(ls, l{ListenerClient, opts.Host, opts.Port})
	}
	if opts.Cluster.Port != 0 {
		ls = append(ls, l{ListenerCluster, opts.Cluster.Host, opts.Cluster.Port})
	}
	if opts.Gateway.Name != "" {
		ls = append(ls, l{ListenerGateway, opts.Gateway.Host, opts.Gateway.Port})
	}
	if opts.HTTPPort != 0 {
		ls = append(ls, l{ListenerMonitor, opts.HTTPHost, opts.HTTPPort})
	}
	for _, x := range ls {
		if x.port <= 0 {
			continue
		}
		addr := net.JoinHostPort(x.host, strconv.Itoa(x.port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return &ListenError{Listener: x.kind, Addr: addr, Err: err}
		}
		ln.Close()
	}
	return nil
}

// Server returns the underlying nats-server.
func (e *Embedded) Server() *server.Server { return e.srv }

// ClientURL is the address external clients use ("" if in-process only):
// tls://host:port when the client port is TLS.
func (e *Embedded) ClientURL() string {
	if addr := e.srv.Addr(); addr != nil {
		if ta, ok := addr.(*net.TCPAddr); ok {
			scheme := "nats://"
			if e.tls {
				scheme = "tls://"
			}
			return scheme + net.JoinHostPort(ta.IP.String(), strconv.Itoa(ta.Port))
		}
	}
	return ""
}

// Connect opens an in-process connection as the named identity.
func (e *Embedded) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	u, ok := e.ids.Get(name)
	if !ok {
		return nil, fmt.Errorf("natsserver: no identity %q", name)
	}
	opt, err := bus.SeedOption(u.Seed())
	if err != nil {
		return nil, err
	}
	all := append([]nats.Option{nats.InProcessServer(e.srv), nats.Name(name), opt}, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("natsserver: connect as %s: %w", name, err)
	}
	return nc, nil
}

// Shutdown stops the server and waits for it to finish.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

type slogAdapter struct{ l *slog.Logger }

// fatalLogger hands the server's first fatal message to Start: nats-server
// logs a listener or JetStream that cannot start and carries on without
// it, so the log is the only place the reason appears.
type fatalLogger struct {
	slogAdapter
	once sync.Once
	ch   chan string
}

func (a *fatalLogger) Fatalf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	a.l.Error(msg)
	a.once.Do(func() { a.ch <- msg })
}

func (a *slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Tracef(f string, v ...any)  {}
