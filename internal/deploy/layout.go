package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// lay writes everything the processes read before they start: the
// consortium (created on first use, reopened after), each process's own
// credentials directory, the city tokens, every NATS server's
// configuration and the WAN's.
func lay(p *Plan, cfg Config) error {
	// A new consortium is of the newest rules (personal data only as
	// digests, issue 15); one made before (`keys init --rules N` into the
	// state directory) keeps its own.
	cc, err := consortium.OpenOrCreate(p.consortiumDir(), consortium.Spec{Chain: cfg.Chain, Orderers: cfg.Orderers, Scheme: cfg.Scheme, Rules: keys.MaxRules})
	if err != nil {
		return err
	}
	for _, pr := range p.ofKind(KindOrderer) {
		name := strings.TrimPrefix(pr.Name, "orderer-")
		if err := copyCreds(p.consortiumDir(), pr.Creds, []string{
			keys.TrustFile,
			rel(keys.OrdererKeyPath("", name)),
			rel(bus.SeedPath("", pr.Name)),
		}); err != nil {
			return err
		}
	}
	for _, pr := range p.ofKind(KindGateway) {
		ca, _ := consortium.CAPaths("")
		files := []string{keys.TrustFile, rel(ca)}
		for _, c := range pr.Cities {
			files = append(files, rel(keys.CityKeyPath("", c)), rel(bus.SeedPath("", bus.IdentityName(bus.RoleCity, c))))
		}
		if err := copyCreds(p.consortiumDir(), pr.Creds, files); err != nil {
			return err
		}
		// One development token per city (publish and read), valid at
		// its region's gateway only: each gateway has its token file. A
		// copy goes where `baybus up` keeps its tokens, DIR/clients.
		if _, err := auth.EnsureDevTokens(pr.Creds, pr.Cities, auth.TokenConfig{}); err != nil {
			return err
		}
		for _, c := range pr.Cities {
			if err := copyFile(auth.DevTokenPath(pr.Creds, c), auth.DevTokenPath(p.Dir, c)); err != nil {
				return err
			}
		}
	}
	for _, pr := range p.ofKind(KindNATS) {
		text, err := natsConfig(p, pr, cc.Identities)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(pr.Data, 0o755); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		// The configuration holds public NKeys and permissions, no secret.
		header := fmt.Sprintf("# %s of the baybus deployment in %s, written by `baybus cluster up`:\n# edits are lost on the next up.\n", pr.Name, p.Dir)
		if err := keys.WriteFileAtomic(filepath.Join(pr.Data, "nats.conf"), []byte(header+text), 0o644); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
	}
	if p.WAN != nil {
		raw, err := json.MarshalIndent(wanFile(p), "", "  ")
		if err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		if err := os.MkdirAll(filepath.Join(p.Dir, "wan"), 0o755); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		if err := keys.WriteFileAtomic(filepath.Join(p.Dir, "wan", "wan.json"), append(raw, '\n'), 0o644); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
	}
	return nil
}

// natsConfig renders one server's configuration: its region's cluster,
// routed to every server of the region (a server alone in its region
// routes to itself, which JetStream needs and the server ignores), and a
// gateway to the other regions, through their WAN proxies when there are
// any.
func natsConfig(p *Plan, pr *Proc, ids *bus.Identities) (string, error) {
	reg, _ := p.Region(pr.Region)
	var routes []string
	for _, s := range reg.Servers {
		peer, _ := p.Proc(s)
		routes = append(routes, "nats-route://"+peer.Endpoint("cluster"))
	}
	gw := &natsserver.GatewayConfig{Name: reg.Name, Listen: pr.Endpoint("gateway"), Advertise: pr.Endpoint("proxy")}
	for _, other := range p.Regions {
		if other.Name == reg.Name {
			continue
		}
		var urls []string
		for _, s := range other.Servers {
			peer, _ := p.Proc(s)
			addr := peer.Endpoint("proxy")
			if addr == "" {
				addr = peer.Endpoint("gateway")
			}
			urls = append(urls, "nats://"+addr)
		}
		gw.Remotes = append(gw.Remotes, natsserver.RemoteGateway{Name: other.Name, URLs: urls})
	}
	cfg := natsserver.ServerConfig{Name: strings.TrimPrefix(pr.Name, "nats-"), StoreDir: filepath.Join(pr.Data, "jetstream"),
		Listen: pr.Endpoint("client"), Identities: ids, ClusterName: reg.Name, ClusterListen: pr.Endpoint("cluster"),
		Routes: routes, Gateway: gw, Tags: []string{"region:" + reg.Name}, Monitor: pr.Endpoint("monitoring")}
	cfg.SyncInterval = p.SyncInterval
	return cfg.Config()
}

// rel strips the leading separator a path joined to "" keeps.
func rel(path string) string {
	return strings.TrimPrefix(filepath.Clean(path), string(filepath.Separator))
}

// copyCreds copies files (relative paths) from the consortium to a
// process's credentials directory, keeping their modes: a process gets
// its own secrets and nothing else.
func copyCreds(from, to string, files []string) error {
	for _, f := range files {
		if err := copyFile(filepath.Join(from, f), filepath.Join(to, f)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	raw, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if err := keys.WriteFileAtomic(to, raw, st.Mode().Perm()); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return nil
}
