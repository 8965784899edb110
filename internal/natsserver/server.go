package natsserver

import (
	"fmt"
	"github.com/baybus/baybus/schemas/bus"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
	Logger        *slog.Logger
}

// Embedded is a running in-process nats-server.
type Embedded struct {
	srv *server.Server
	ids *bus.Identities
}

// Config renders the server configuration: one account GBA with JetStream
// holding every identity with its permissions, and a system account.
func (c *ServerConfig) Config() (string, error) {
	if c.StoreDir == "" || c.Identities == nil {
		return "", fmt.Errorf("natsserver: server config needs a store dir and identities")
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
	if c.ClusterName != "" {
		host, port, err := net.SplitHostPort(c.ClusterListen)
		if err != nil {
			return "", fmt.Errorf("natsserver: cluster listen %q: %w", c.ClusterListen, err)
		}
		fmt.Fprintf(&b, "cluster {\n  name: %s\n  host: %s\n  port: %s\n  routes: %s\n}\n", q(c.ClusterName), q(host), port, list(c.Routes))
	}
	return b.String(), nil
}

// StartServer starts an embedded server and waits until it accepts clients.
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
	if err := os.MkdirAll(cfg.StoreDir, 0o755); err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(&slogAdapter{l: cfg.Logger.With("component", "nats")}, false, false, false)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsserver: nats-server did not become ready")
	}
	return &Embedded{srv: srv, ids: cfg.Identities}, nil
}

// Server returns the underlying nats-server.
func (e *Embedded) Server() *server.Server { return e.srv }

// ClientURL is the address external clients use ("" if in-process only).
func (e *Embedded) ClientURL() string {
	if addr := e.srv.Addr(); addr != nil {
		if ta, ok := addr.(*net.TCPAddr); ok {
			return "nats://" + net.JoinHostPort(ta.IP.String(), strconv.Itoa(ta.Port))
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

func (a *slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Tracef(f string, v ...any)  {}
