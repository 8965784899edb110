package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// Defaults of Config.
const (
	DefaultDir      = "cluster"
	DefaultChain    = "gba"
	DefaultOrderers = 5
	DefaultServers  = 3
	DefaultBindHost = "127.0.0.1"
	// DefaultBasePort puts every port of the deployment in 24000-24799,
	// below Linux's ephemeral range and apart from `baybus up`'s 4222,
	// 8480 and 9480 (the layout is in docs/deployment.md).
	DefaultBasePort     = 24000
	DefaultReadyTimeout = 2 * time.Minute
)

// Region is one of the three regions: a NATS cluster of its own, the
// orderers and city gateways of its members.
type Region struct {
	Name         string // NATS cluster and gateway name: guangdong, hongkong, macao
	Jurisdiction schemas.Jurisdiction
}

// Regions are the deployment's regions, in order: one per jurisdiction.
var Regions = [...]Region{{"guangdong", schemas.CN}, {"hongkong", schemas.HK}, {"macao", schemas.MO}}

// DefaultStreamRegion is the region whose cluster holds the streams'
// replicas unless told otherwise (docs/deployment.md says why).
const DefaultStreamRegion = "guangdong"

// RegionOf returns the region of a jurisdiction.
func RegionOf(j schemas.Jurisdiction) string {
	for _, r := range Regions {
		if r.Jurisdiction == j {
			return r.Name
		}
	}
	return ""
}

// ordererRegion is where an orderer runs: the demonstration nodes of Hong
// Kong and Macao in their regions, Qianhai (Shenzhen), Hengqin (Zhuhai),
// Nansha (Guangzhou) and every city-named orderer in Guangdong.
func ordererRegion(name string) string {
	if c, err := schemas.LookupCity(name); err == nil {
		return RegionOf(c.Jurisdiction)
	}
	return "guangdong"
}

// Config describes a deployment on one host. Zero fields take the
// defaults above.
type Config struct {
	Dir string // state directory (everything the deployment keeps); default DefaultDir
	// Chain is the chain id of a new consortium, default DefaultChain; a
	// deployment started again keeps its own (a different one is an
	// error).
	Chain  string
	Scheme string // signature scheme of a new consortium; default Ed25519
	// Orderers is the size of a new consortium's orderer set, 4 to 11;
	// default the five demonstration nodes, or the existing consortium's.
	Orderers int
	// Servers are the NATS servers of each region, in the order of
	// Regions; a single value applies to all three. Default 3 each.
	Servers []int
	// StreamRegion is the region whose cluster holds the streams'
	// replicas, min(3, its servers) of them; default DefaultStreamRegion.
	StreamRegion string
	// BindHost is the address every listener binds; default loopback.
	BindHost string
	// BasePort is the first port of the fixed layout (docs/deployment.md);
	// default DefaultBasePort.
	BasePort int
	// Ports, if set, hands out the ports instead of BasePort's layout
	// (tests: n ports that are free now).
	Ports func(n int) ([]int, error)
	// WAN, if set, puts a toxiproxy process with latency, jitter and loss
	// on every connection between regions.
	WAN *WANConfig
	// ProofOrderers publish license proofs on gba.proofs.>; default one
	// per region that has an orderer (hongkong, macao, nansha), so a
	// region's readers keep their proofs when another region is cut off.
	ProofOrderers []string
	// Binary is the baybus executable every process runs; default a copy
	// of this executable in Dir/bin, so the deployment outlives a `go run`.
	Binary string
	// Env is added to every process's environment.
	Env []string
	// LogLevel of every process; default info.
	LogLevel string
	// SyncInterval is every NATS server's JetStream sync_interval: "always"
	// or a duration such as "10s"; empty keeps nats-server's (2 minutes).
	// "always" is not the default: on nats-server 2.15.2 it makes a
	// replicated stream's restart truncate its store to the Raft snapshot
	// and replay the log, which fails on an S2-compressed block after a
	// kill -9 ("smb.truncate: error reading compression reader") and
	// leaves the stream dead on every replica (docs/faults.md).
	SyncInterval string
	// ReadyTimeout bounds the wait for every process to be ready; default
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	Logger       *slog.Logger // progress; default slog.Default()
}

// WANConfig is the emulated network between the regions: the one-way
// latency into each region (so the round trip between two regions is the
// sum of theirs), its jitter, and loss as TCP shows it to an application:
// a lost segment holds the stream until it is sent again.
type WANConfig struct {
	// Latency into each region; default guangdong 3 ms, hongkong and
	// macao 2 ms (round trips of 5 ms Guangdong-Hong Kong and
	// Guangdong-Macao, 4 ms Hong Kong-Macao).
	Latency map[string]time.Duration `json:"latency"`
	Jitter  time.Duration            `json:"jitter"` // default 1 ms
	// Loss is the share of reads held back by LossDelay; default 0.001.
	Loss      float64       `json:"loss"`
	LossDelay time.Duration `json:"lossDelay"` // default 200 ms, Linux's least retransmission time-out
}

func (w WANConfig) withDefaults() WANConfig {
	lat := map[string]time.Duration{"guangdong": 3 * time.Millisecond, "hongkong": 2 * time.Millisecond, "macao": 2 * time.Millisecond}
	for r, d := range w.Latency {
		lat[r] = d
	}
	w.Latency = lat
	if w.Jitter == 0 {
		w.Jitter = time.Millisecond
	}
	if w.Loss == 0 {
		w.Loss = 0.001
	}
	if w.LossDelay == 0 {
		w.LossDelay = 200 * time.Millisecond
	}
	return w
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, fmt.Errorf("deploy: %w", err)
	}
	c.Dir = dir
	// An existing consortium gives what was not asked for.
	if b, err := keys.LoadBundle(filepath.Join(dir, keys.TrustFile)); err == nil {
		if c.Chain == "" {
			c.Chain = b.Chain
		}
		if c.Orderers == 0 {
			c.Orderers = len(b.Orderers)
		}
	}
	if c.Chain == "" {
		c.Chain = DefaultChain
	}
	if c.Scheme == "" {
		c.Scheme = keys.Ed25519
	}
	if c.Orderers == 0 {
		c.Orderers = DefaultOrderers
	}
	switch len(c.Servers) {
	case 0:
		c.Servers = []int{DefaultServers, DefaultServers, DefaultServers}
	case 1:
		c.Servers = []int{c.Servers[0], c.Servers[0], c.Servers[0]}
	case len(Regions):
	default:
		return c, fmt.Errorf("deploy: servers %v: give one count, or one per region (%s)", c.Servers, regionNames())
	}
	for i, n := range c.Servers {
		if n < 1 || n > 9 {
			return c, fmt.Errorf("deploy: %d NATS servers in %s: want 1 to 9", n, Regions[i].Name)
		}
	}
	if c.StreamRegion == "" {
		c.StreamRegion = DefaultStreamRegion
	}
	if !slices.ContainsFunc(Regions[:], func(r Region) bool { return r.Name == c.StreamRegion }) {
		return c, fmt.Errorf("deploy: stream region %q: want one of %s", c.StreamRegion, regionNames())
	}
	if c.BindHost == "" {
		c.BindHost = DefaultBindHost
	}
	if c.BasePort == 0 {
		c.BasePort = DefaultBasePort
	}
	if c.BasePort < 1024 || c.BasePort > 65535-800 {
		return c, fmt.Errorf("deploy: base port %d: want 1024 to %d", c.BasePort, 65535-800)
	}
	if c.WAN != nil {
		w := c.WAN.withDefaults()
		c.WAN = &w
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.SyncInterval != "" && c.SyncInterval != "always" {
		if d, err := time.ParseDuration(c.SyncInterval); err != nil || d <= 0 {
			return c, fmt.Errorf("deploy: sync interval %q: want always or a positive duration", c.SyncInterval)
		}
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

func regionNames() string {
	var names []string
	for _, r := range Regions {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

// Kind is what a process of the deployment is.
type Kind string

// Kinds, in the order Up starts them.
const (
	KindWAN     Kind = "wan"     // toxiproxy between the regions (--wan only)
	KindNATS    Kind = "nats"    // `baybus nats`: one NATS server
	KindOrderer Kind = "orderer" // `baybus orderer`
	KindGateway Kind = "gateway" // `baybus gateway` for a region's cities
)

// Endpoint is one address a process listens on.
type Endpoint struct {
	Name string `json:"name"` // client, cluster, gateway, monitoring, proxy, http, api
	Addr string `json:"addr"`
	URL  string `json:"url"`
}

// Proc is one process of the deployment.
type Proc struct {
	Name   string     `json:"name"` // e.g. nats-guangdong-1, orderer-hongkong, gateway-macao, wan
	Kind   Kind       `json:"kind"`
	Region string     `json:"region,omitempty"`
	Args   []string   `json:"args"`             // after the binary
	Listen []Endpoint `json:"listen"`           // where it serves
	Health string     `json:"health,omitempty"` // URL that answers 200 once it is ready
	Cities []string   `json:"cities,omitempty"` // a gateway's
	// Creds is the directory of everything secret this process holds (a
	// copy of its own files from the consortium, nothing else).
	Creds string `json:"creds,omitempty"`
	Data  string `json:"data,omitempty"`
}

// Endpoint returns the address named name ("" if none).
func (p *Proc) Endpoint(name string) string {
	for _, e := range p.Listen {
		if e.Name == name {
			return e.Addr
		}
	}
	return ""
}

// RegionPlan is one region as deployed.
type RegionPlan struct {
	Name         string               `json:"name"`
	Jurisdiction schemas.Jurisdiction `json:"jurisdiction"`
	Cities       []string             `json:"cities"`
	Orderers     []string             `json:"orderers"`
	Servers      []string             `json:"servers"`    // process names of its NATS servers
	NATS         string               `json:"nats"`       // its servers' client URLs, comma-separated
	GatewayURL   string               `json:"gatewayUrl"` // its city gateways' HTTP API
}

// Plan is a whole deployment: every process, its command line and
// addresses. Up writes it to Dir/plan.json; Down, Status and the bench
// read it back.
type Plan struct {
	Version        int          `json:"version"`
	Chain          string       `json:"chain"`
	Dir            string       `json:"dir"`
	Binary         string       `json:"binary"`
	Env            []string     `json:"env,omitempty"`
	Regions        []RegionPlan `json:"regions"`
	Procs          []Proc       `json:"procs"`
	StreamRegion   string       `json:"streamRegion"`
	StreamReplicas int          `json:"streamReplicas"`
	// SyncInterval is the NATS servers' sync_interval (Config's); empty
	// for nats-server's default.
	SyncInterval string     `json:"syncInterval,omitempty"`
	WAN          *WANConfig `json:"wan,omitempty"`
	Orderers     []string   `json:"orderers"`
}

const planVersion = 1

// PlanFile is the plan's name in the state directory.
const PlanFile = "plan.json"

// Paths inside the state directory. The state directory is laid out as
// `baybus up`'s data directory is (the consortium at its top, each
// orderer's data in orderers/<name>), so the tools that read a stopped
// node's data (verify-chain, proof, licenses, reconcile --data) and the
// consortium commands (keys add-reader, keys cert) take it as it is.
func (p *Plan) consortiumDir() string      { return p.Dir }
func (p *Plan) logPath(name string) string { return filepath.Join(p.Dir, "logs", name+".log") }
func (p *Plan) pidPath(name string) string { return filepath.Join(p.Dir, "run", name+".pid") }
func (p *Plan) hostDir(name string) string { return filepath.Join(p.Dir, "hosts", name) }

// ConsortiumDir is the full consortium (every key and credential, the
// CA): what an administrator keeps offline in a real deployment. The
// operator and service identities are used from here. It is the state
// directory itself.
func (p *Plan) ConsortiumDir() string { return p.consortiumDir() }

// Proc returns the process called name.
func (p *Plan) Proc(name string) (*Proc, bool) {
	i := slices.IndexFunc(p.Procs, func(x Proc) bool { return x.Name == name })
	if i < 0 {
		return nil, false
	}
	return &p.Procs[i], true
}

// Region returns the region called name.
func (p *Plan) Region(name string) (*RegionPlan, bool) {
	i := slices.IndexFunc(p.Regions, func(r RegionPlan) bool { return r.Name == name })
	if i < 0 {
		return nil, false
	}
	return &p.Regions[i], true
}

// CityGateway returns the gateway URL serving city and the file of that
// city's bearer token (publish and read), DIR/clients/<city>.token as
// `baybus up` keeps it; the token is valid at that gateway only.
func (p *Plan) CityGateway(city string) (url, tokenFile string, err error) {
	for _, pr := range p.Procs {
		if pr.Kind == KindGateway && slices.Contains(pr.Cities, city) {
			return "http://" + pr.Endpoint("http"), auth.DevTokenPath(p.Dir, city), nil
		}
	}
	return "", "", fmt.Errorf("deploy: no gateway serves %q", city)
}

// ErrNoPlan is returned for a state directory without a deployment.
var ErrNoPlan = errors.New("deploy: no deployment here (run `scripts/cluster up` first)")

// LoadPlan reads dir/plan.json.
func LoadPlan(dir string) (*Plan, error) {
	raw, err := os.ReadFile(filepath.Join(dir, PlanFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoPlan, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("deploy: %s: %w", filepath.Join(dir, PlanFile), err)
	}
	if p.Version != planVersion {
		return nil, fmt.Errorf("deploy: %s: plan version %d, this baybus reads %d", filepath.Join(dir, PlanFile), p.Version, planVersion)
	}
	return &p, nil
}

func (p *Plan) write() error {
	raw, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if err := keys.WriteFileAtomic(filepath.Join(p.Dir, PlanFile), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return nil
}

// port slots of the fixed layout, as offsets from BasePort: region r
// (0..2), server s (0..8), orderer i, gateway of region r.
func slotClient(r, s int) int  { return 10*r + s }
func slotCluster(r, s int) int { return 100 + 10*r + s }
func slotGateway(r, s int) int { return 200 + 10*r + s }
func slotMonitor(r, s int) int { return 300 + 10*r + s }
func slotProxy(r, s int) int   { return 400 + 10*r + s }
func slotOrderer(i int) int    { return 500 + i }
func slotHTTP(r int) int       { return 600 + r }

const slotWANAPI = 700

// newPlan lays out the deployment: names, addresses and command lines.
func newPlan(cfg Config, binary string) (*Plan, error) {
	orderers, err := schemas.OrdererNames(cfg.Orderers)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	proofs := cfg.ProofOrderers
	if len(proofs) == 0 {
		// The last orderer of each region publishes: in Guangdong that is
		// Nansha, not Qianhai, which leads view 0 and should not build
		// proofs inside its commits.
		for _, r := range Regions {
			var last string
			for _, o := range orderers {
				if ordererRegion(o) == r.Name {
					last = o
				}
			}
			if last != "" {
				proofs = append(proofs, last)
			}
		}
	}
	for _, o := range proofs {
		if !slices.Contains(orderers, o) {
			return nil, fmt.Errorf("deploy: proof orderer %q is not one of %v", o, orderers)
		}
	}

	// Slots in a fixed order; ports from BasePort's layout or cfg.Ports.
	var slots []int
	for r := range Regions {
		for s := range cfg.Servers[r] {
			slots = append(slots, slotClient(r, s), slotCluster(r, s), slotGateway(r, s), slotMonitor(r, s))
			if cfg.WAN != nil {
				slots = append(slots, slotProxy(r, s))
			}
		}
		slots = append(slots, slotHTTP(r))
	}
	for i := range orderers {
		slots = append(slots, slotOrderer(i))
	}
	if cfg.WAN != nil {
		slots = append(slots, slotWANAPI)
	}
	port := map[int]int{}
	if cfg.Ports != nil {
		ports, err := cfg.Ports(len(slots))
		if err != nil {
			return nil, fmt.Errorf("deploy: ports: %w", err)
		}
		if len(ports) != len(slots) {
			return nil, fmt.Errorf("deploy: ports: got %d, want %d", len(ports), len(slots))
		}
		for i, s := range slots {
			port[s] = ports[i]
		}
	} else {
		for _, s := range slots {
			port[s] = cfg.BasePort + s
		}
	}
	addr := func(slot int) string { return net.JoinHostPort(cfg.BindHost, strconv.Itoa(port[slot])) }

	p := &Plan{Version: planVersion, Chain: cfg.Chain, Dir: cfg.Dir, Binary: binary, Env: cfg.Env, WAN: cfg.WAN,
		StreamRegion: cfg.StreamRegion, Orderers: orderers, SyncInterval: cfg.SyncInterval}
	for i, r := range Regions {
		if r.Name == cfg.StreamRegion {
			p.StreamReplicas = min(3, cfg.Servers[i])
		}
	}
	logLevel := []string{"--log-level", cfg.LogLevel}
	if cfg.WAN != nil {
		p.Procs = append(p.Procs, Proc{Name: "wan", Kind: KindWAN,
			Args:   append([]string{"cluster", "wan", "--config", filepath.Join(cfg.Dir, "wan", "wan.json")}, logLevel...),
			Listen: []Endpoint{{Name: "api", Addr: addr(slotWANAPI), URL: "http://" + addr(slotWANAPI)}},
			Health: "http://" + addr(slotWANAPI) + "/version"})
	}
	for r, reg := range Regions {
		rp := RegionPlan{Name: reg.Name, Jurisdiction: reg.Jurisdiction}
		for _, c := range schemas.CitiesIn(reg.Jurisdiction) {
			rp.Cities = append(rp.Cities, c.Token)
		}
		for _, o := range orderers {
			if ordererRegion(o) == reg.Name {
				rp.Orderers = append(rp.Orderers, o)
			}
		}
		var urls []string
		for s := range cfg.Servers[r] {
			name := fmt.Sprintf("nats-%s-%d", reg.Name, s+1)
			rp.Servers = append(rp.Servers, name)
			urls = append(urls, "nats://"+addr(slotClient(r, s)))
			dir := filepath.Join(cfg.Dir, "servers", name)
			pr := Proc{Name: name, Kind: KindNATS, Region: reg.Name, Data: dir,
				Args: append([]string{"nats", "--config", filepath.Join(dir, "nats.conf")}, logLevel...),
				Listen: []Endpoint{
					{Name: "client", Addr: addr(slotClient(r, s)), URL: "nats://" + addr(slotClient(r, s))},
					{Name: "cluster", Addr: addr(slotCluster(r, s)), URL: "nats-route://" + addr(slotCluster(r, s))},
					{Name: "gateway", Addr: addr(slotGateway(r, s)), URL: "nats://" + addr(slotGateway(r, s))},
					{Name: "monitoring", Addr: addr(slotMonitor(r, s)), URL: "http://" + addr(slotMonitor(r, s))},
				},
				Health: "http://" + addr(slotMonitor(r, s)) + "/healthz"}
			if cfg.WAN != nil {
				pr.Listen = append(pr.Listen, Endpoint{Name: "proxy", Addr: addr(slotProxy(r, s)), URL: "nats://" + addr(slotProxy(r, s))})
			}
			p.Procs = append(p.Procs, pr)
		}
		rp.NATS = strings.Join(urls, ",")
		rp.GatewayURL = "http://" + addr(slotHTTP(r))
		p.Regions = append(p.Regions, rp)
	}
	for i, o := range orderers {
		reg, _ := p.Region(ordererRegion(o))
		id := "orderer-" + o
		data, creds := filepath.Join(cfg.Dir, "orderers", o), p.hostDir(id)
		args := []string{"orderer", "--id", o, "--nats", reg.NATS,
			"--creds", filepath.Join(creds, "nats", id+".nk"), "--trust", filepath.Join(creds, keys.TrustFile),
			"--key", keys.OrdererKeyPath(creds, o), "--data", data, "--listen", addr(slotOrderer(i))}
		if !slices.Contains(proofs, o) {
			args = append(args, "--no-proofs")
		}
		p.Procs = append(p.Procs, Proc{Name: id, Kind: KindOrderer, Region: reg.Name, Creds: creds, Data: data,
			Args:   append(args, logLevel...),
			Listen: []Endpoint{{Name: "http", Addr: addr(slotOrderer(i)), URL: "http://" + addr(slotOrderer(i))}},
			Health: "http://" + addr(slotOrderer(i)) + "/readyz"})
	}
	for r := range p.Regions {
		reg := &p.Regions[r]
		name := "gateway-" + reg.Name
		data, creds := filepath.Join(cfg.Dir, "gateways", reg.Name), p.hostDir(name)
		p.Procs = append(p.Procs, Proc{Name: name, Kind: KindGateway, Region: reg.Name, Cities: reg.Cities, Creds: creds, Data: data,
			Args: append([]string{"gateway", "--nats", reg.NATS, "--consortium", creds, "--cities", strings.Join(reg.Cities, ","),
				"--listen", addr(slotHTTP(r)), "--node", name, "--data", data}, logLevel...),
			Listen: []Endpoint{{Name: "http", Addr: addr(slotHTTP(r)), URL: reg.GatewayURL}},
			Health: reg.GatewayURL + "/readyz"})
	}
	return p, nil
}

// ofKind returns the processes of one kind, in plan order.
func (p *Plan) ofKind(k Kind) []*Proc {
	var out []*Proc
	for i := range p.Procs {
		if p.Procs[i].Kind == k {
			out = append(out, &p.Procs[i])
		}
	}
	return out
}
