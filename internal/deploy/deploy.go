package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/schemas/bus"
)

// Deployment is a deployment on this host: its plan, and the processes it
// started. Its methods are safe for concurrent use.
type Deployment struct {
	Plan *Plan
	log  *slog.Logger
	now  func() time.Time
	hc   *http.Client
	// dieWithParent has the kernel kill every process this one starts
	// when it dies (tests, so a failed test leaves no orphans).
	dieWithParent bool

	mu     sync.Mutex
	exited map[string]chan struct{} // closed when a process started here is reaped
}

// Options of Open and Up beyond the plan.
type Options struct {
	Logger *slog.Logger // default slog.Default()
	// DieWithParent kills the processes this deployment starts when the
	// process that started them dies (tests).
	DieWithParent bool
}

// Open returns the deployment kept in dir, to inspect or control it.
func Open(dir string, opt Options) (*Deployment, error) {
	p, err := LoadPlan(dir)
	if err != nil {
		return nil, err
	}
	return newDeployment(p, opt), nil
}

func newDeployment(p *Plan, opt Options) *Deployment {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Deployment{Plan: p, log: opt.Logger, now: time.Now, dieWithParent: opt.DieWithParent,
		hc: &http.Client{Timeout: 2 * time.Second}, exited: map[string]chan struct{}{}}
}

// PortError is a port of the plan that is taken: Up reports it before it
// starts anything.
type PortError struct {
	Proc, Endpoint, Addr string
	Err                  error
}

func (e *PortError) Error() string {
	return fmt.Sprintf("deploy: %s %s port %s: %v (stop what holds it, or choose another --base-port)", e.Proc, e.Endpoint, e.Addr, e.Err)
}

func (e *PortError) Unwrap() error { return e.Err }

// Errors of Up.
var (
	// ErrRunning is returned for a state directory whose deployment still
	// runs.
	ErrRunning = errors.New("deploy: the deployment runs")
	// ErrChanged is returned for a deployment started again with other
	// NATS servers than it had.
	ErrChanged = errors.New("deploy: the deployment's servers changed")
)

func serverNames(p *Plan) []string {
	var out []string
	for _, pr := range p.ofKind(KindNATS) {
		out = append(out, pr.Name)
	}
	return out
}

// Up lays out and starts a deployment: the consortium (created in
// Dir/consortium on first use), every process's credentials, the NATS
// supercluster, the streams (as the operator), the orderers, and the
// city gateways, each waited for until ready. A deployment stopped with
// Down starts again on its state. On failure, what was started is
// stopped again.
func Up(ctx context.Context, cfg Config, opt Options) (_ *Deployment, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if opt.Logger == nil {
		opt.Logger = cfg.Logger
	}
	binary := cfg.Binary
	p, err := newPlan(cfg, binary)
	if err != nil {
		return nil, err
	}
	if old, err := LoadPlan(cfg.Dir); err == nil {
		od := newDeployment(old, opt)
		var live []string
		for _, pr := range old.Procs {
			if pid, ok := od.running(pr.Name); ok {
				live = append(live, fmt.Sprintf("%s (pid %d)", pr.Name, pid))
			}
		}
		if len(live) > 0 {
			return nil, fmt.Errorf("%w in %s: %s; stop it first (down), or start single processes (start NAME)",
				ErrRunning, cfg.Dir, strings.Join(live, ", "))
		}
		// JetStream keeps its cluster's members in its stores: a
		// deployment comes back with the servers it had.
		if was, now := serverNames(old), serverNames(p); !slices.Equal(was, now) {
			return nil, fmt.Errorf("%w: %s ran the NATS servers %s; this up asks for %s (give the same --servers, or down --purge first)",
				ErrChanged, cfg.Dir, strings.Join(was, ", "), strings.Join(now, ", "))
		}
	} else if !errors.Is(err, ErrNoPlan) {
		return nil, err
	}
	if err := checkPorts(p); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if binary == "" {
		if p.Binary, err = installBinary(cfg.Dir); err != nil {
			return nil, err
		}
	}
	if err := lay(p, cfg); err != nil {
		return nil, err
	}
	if err := p.write(); err != nil {
		return nil, err
	}
	d := newDeployment(p, opt)
	defer func() {
		if err != nil {
			d.log.Warn("deploy: start failed, stopping what started", "err", err)
			_ = d.Down(context.Background())
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	start := d.now()
	for _, k := range []Kind{KindWAN, KindNATS} {
		if err := d.startKind(ctx, k); err != nil {
			return nil, err
		}
	}
	d.log.Info("deploy: NATS supercluster ready", "servers", len(p.ofKind(KindNATS)), "took", d.now().Sub(start).Round(time.Millisecond))
	if err := d.ensureStreams(ctx); err != nil {
		return nil, err
	}
	d.log.Info("deploy: streams ready", "region", p.StreamRegion, "replicas", p.StreamReplicas)
	for _, k := range []Kind{KindOrderer, KindGateway} {
		if err := d.startKind(ctx, k); err != nil {
			return nil, err
		}
		d.log.Info("deploy: ready", "kind", k, "took", d.now().Sub(start).Round(time.Millisecond))
	}
	return d, nil
}

// installBinary copies this executable to dir/bin/baybus, so the
// deployment keeps running, and can restart a process, after a `go run`
// that started it has removed its build.
func installBinary(dir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	to := filepath.Join(dir, "bin", "baybus")
	if self == to {
		return to, nil
	}
	in, err := os.Open(self)
	if err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(to), ".baybus-*")
	if err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return "", fmt.Errorf("deploy: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", fmt.Errorf("deploy: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	// A rename replaces a binary that is running without touching it.
	if err := os.Rename(tmp.Name(), to); err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	return to, nil
}

// checkPorts opens and closes every port of the plan.
func checkPorts(p *Plan) error {
	for _, pr := range p.Procs {
		for _, e := range pr.Listen {
			ln, err := net.Listen("tcp", e.Addr)
			if err != nil {
				return &PortError{Proc: pr.Name, Endpoint: e.Name, Addr: e.Addr, Err: err}
			}
			ln.Close()
		}
	}
	return nil
}

// StartAttempts is how many times Up and Start start a process that exits
// before it is ready, as a service manager's restart on failure would: a
// process may give up on a bus that is still electing its leaders.
const StartAttempts = 3

// startKind starts every process of a kind and waits until each is ready.
func (d *Deployment) startKind(ctx context.Context, k Kind) error {
	procs := d.Plan.ofKind(k)
	for _, pr := range procs {
		if err := d.spawn(pr); err != nil {
			return err
		}
	}
	for _, pr := range procs {
		if err := d.waitReady(ctx, pr, StartAttempts-1); err != nil {
			return err
		}
	}
	return nil
}

// waitReady polls a process's health URL until it answers 200. A process
// that exits meanwhile is started again, restarts times at most.
func (d *Deployment) waitReady(ctx context.Context, pr *Proc, restarts int) error {
	var last string
	for {
		if _, ok := d.running(pr.Name); !ok {
			if restarts <= 0 {
				return fmt.Errorf("deploy: %s exited while starting: %s", pr.Name, d.tail(pr.Name, 12))
			}
			restarts--
			d.log.Warn("deploy: process exited while starting; starting it again", "proc", pr.Name, "log", d.tail(pr.Name, 3))
			if err := d.spawn(pr); err != nil {
				return err
			}
			continue
		}
		code, body, err := d.get(ctx, pr.Health)
		if err == nil && code == http.StatusOK {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("deploy: %s not ready (%s): %w; log %s", pr.Name, last, context.Cause(ctx), d.Plan.logPath(pr.Name))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *Deployment) get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(body), nil
}

// LogPath is where a process's output goes.
func (d *Deployment) LogPath(name string) string { return d.Plan.logPath(name) }

// LogTail returns the last n lines of a process's log.
func (d *Deployment) LogTail(name string, n int) string { return d.tail(name, n) }

// tail returns the last n lines of a process's log.
func (d *Deployment) tail(name string, n int) string {
	raw, err := os.ReadFile(d.Plan.logPath(name))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return "\n" + strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Connect dials the NATS servers of a region as a bus identity of the
// consortium ("operator", "service", "city-shenzhen", ...).
func (d *Deployment) Connect(region, identity string, opts ...nats.Option) (*nats.Conn, error) {
	reg, ok := d.Plan.Region(region)
	if !ok {
		return nil, fmt.Errorf("deploy: no region %q", region)
	}
	all := append([]nats.Option{nats.ReconnectWait(100 * time.Millisecond)}, opts...)
	return bus.Connect(reg.NATS, bus.SeedPath(d.Plan.consortiumDir(), identity), identity+"@deploy", all...)
}

// ensureStreams creates the streams in the stream region's cluster, with
// the orderers' consumers, as the operator.
func (d *Deployment) ensureStreams(ctx context.Context) error {
	nc, err := d.Connect(d.Plan.StreamRegion, bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		return err
	}
	defer nc.Close()
	return EnsureStreams(ctx, nc, d.Plan.Orderers, d.Plan.StreamRegion, d.Plan.StreamReplicas)
}

// EnsureStreams creates the streams (or brings them to this
// configuration) on a supercluster, over nc, the operator's connection:
// replicas of each in the cluster named region ("" lets JetStream choose),
// GBA_TX with interest retention over the orderers' durable consumers.
// It waits for JetStream, retries with short attempts while streams and
// consumers elect leaders (a JetStream request no leader answers waits out
// its whole deadline), and returns once every orderer's consumer has a
// leader, so an orderer started next finds it.
func EnsureStreams(ctx context.Context, nc *nats.Conn, orderers []string, region string, replicas int) error {
	if err := bus.WaitJetStream(ctx, nc); err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	sc := bus.StreamConfig{Replicas: replicas, Orderers: orderers}
	if region != "" {
		sc.Placement = &jetstream.Placement{Cluster: region}
	}
	if err := retry(ctx, "streams", func(ctx context.Context) error { return bus.EnsureStreams(ctx, js, sc) }); err != nil {
		return err
	}
	for _, o := range orderers {
		if err := retry(ctx, "consumer "+bus.OrdererConsumer(o), func(ctx context.Context) error {
			c, err := js.Consumer(ctx, bus.StreamTx, bus.OrdererConsumer(o))
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err == nil && (info.Cluster == nil || info.Cluster.Leader == "") {
				err = errors.New("no leader yet")
			}
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// retry calls try with a short deadline until it succeeds or ctx ends.
func retry(ctx context.Context, what string, try func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := try(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("deploy: %s: %w (last: %w)", what, context.Cause(ctx), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Start starts one process of the deployment again (after Stop or Kill)
// and waits until it is ready.
func (d *Deployment) Start(ctx context.Context, name string) error {
	pr, ok := d.Plan.Proc(name)
	if !ok {
		return d.noProc(name)
	}
	if err := d.spawn(pr); err != nil {
		return err
	}
	return d.waitReady(ctx, pr, StartAttempts-1)
}

// Launch starts one process and returns once it serves, not once it is
// ready: a NATS server once it takes client connections (its JetStream may
// still be electing its leaders), any other process at once. A host's
// service manager orders its units that way (the orderers after the NATS
// server, not after its health check), and the orderers then sync with
// their peers while JetStream elects, instead of after. Call WaitReady for
// readiness.
func (d *Deployment) Launch(ctx context.Context, name string) error {
	pr, ok := d.Plan.Proc(name)
	if !ok {
		return d.noProc(name)
	}
	if err := d.spawn(pr); err != nil {
		return err
	}
	addr := pr.Endpoint("client")
	if pr.Kind != KindNATS || addr == "" {
		return nil
	}
	var dialer net.Dialer
	for {
		if _, ok := d.running(name); !ok {
			return fmt.Errorf("deploy: %s exited while starting: %s", name, d.tail(name, 12))
		}
		actx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := dialer.DialContext(actx, "tcp", addr)
		cancel()
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("deploy: %s takes no clients on %s: %w; log %s", name, addr, context.Cause(ctx), d.Plan.logPath(name))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitReady waits until a process started with Launch is ready (its health
// URL answers 200), starting it again if it exits meanwhile, as Start does.
func (d *Deployment) WaitReady(ctx context.Context, name string) error {
	pr, ok := d.Plan.Proc(name)
	if !ok {
		return d.noProc(name)
	}
	return d.waitReady(ctx, pr, StartAttempts-1)
}

// Stop stops one process: SIGTERM, then SIGKILL if it has not exited
// within the grace time (15 s).
func (d *Deployment) Stop(ctx context.Context, name string) error {
	if _, ok := d.Plan.Proc(name); !ok {
		return d.noProc(name)
	}
	return d.stop(name)
}

// Kill stops one process with SIGKILL, as a crash would.
func (d *Deployment) Kill(name string) error {
	if _, ok := d.Plan.Proc(name); !ok {
		return d.noProc(name)
	}
	sent, err := d.signal(name, syscall.SIGKILL)
	if err != nil || !sent {
		return err
	}
	if !d.waitGone(name, 10*time.Second) {
		return fmt.Errorf("deploy: %s still runs after SIGKILL", name)
	}
	return nil
}

// StopGrace is how long a process has to exit after SIGTERM.
const StopGrace = 15 * time.Second

func (d *Deployment) stop(name string) error {
	sent, err := d.signal(name, syscall.SIGTERM)
	if err != nil || !sent {
		return err
	}
	if d.waitGone(name, StopGrace) {
		return nil
	}
	d.log.Warn("deploy: process did not stop after SIGTERM; killing it", "proc", name, "grace", StopGrace)
	if _, err := d.signal(name, syscall.SIGKILL); err != nil {
		return err
	}
	if !d.waitGone(name, 10*time.Second) {
		return fmt.Errorf("deploy: %s still runs after SIGKILL", name)
	}
	return nil
}

func (d *Deployment) noProc(name string) error {
	var names []string
	for _, pr := range d.Plan.Procs {
		names = append(names, pr.Name)
	}
	return fmt.Errorf("deploy: no process %q (the deployment has %s)", name, strings.Join(names, ", "))
}

// Down stops every process: the gateways first (they flush what they
// hold), then the orderers, the NATS servers and the WAN, each kind in
// parallel. State stays in Dir; Up starts the deployment again on it.
func (d *Deployment) Down(ctx context.Context) error {
	var errs []error
	for _, k := range []Kind{KindGateway, KindOrderer, KindNATS, KindWAN} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, pr := range d.Plan.ofKind(k) {
			wg.Go(func() {
				if err := d.stop(pr.Name); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	return errors.Join(errs...)
}

// ProcStatus is what Status finds out about one process.
type ProcStatus struct {
	Name   string     `json:"name"`
	Kind   Kind       `json:"kind"`
	Region string     `json:"region,omitempty"`
	PID    int        `json:"pid,omitempty"` // 0: not running
	Ready  bool       `json:"ready"`
	Height uint64     `json:"height,omitempty"` // an orderer's
	Leader string     `json:"leader,omitempty"` // the leader an orderer follows
	Detail string     `json:"detail,omitempty"` // why not ready, or what its health says
	Listen []Endpoint `json:"listen"`
}

// Status asks every process how it is: running or not, and its health
// endpoint's answer (an orderer's height and leader, a gateway's
// readiness, a NATS server's JetStream health).
func (d *Deployment) Status(ctx context.Context) []ProcStatus {
	out := make([]ProcStatus, len(d.Plan.Procs))
	var wg sync.WaitGroup
	for i := range d.Plan.Procs {
		pr := &d.Plan.Procs[i]
		wg.Go(func() {
			st := ProcStatus{Name: pr.Name, Kind: pr.Kind, Region: pr.Region, Listen: pr.Listen}
			pid, ok := d.running(pr.Name)
			if !ok {
				st.Detail = "not running"
				out[i] = st
				return
			}
			st.PID = pid
			code, body, err := d.get(ctx, pr.Health)
			if err != nil {
				st.Detail = err.Error()
				out[i] = st
				return
			}
			st.Ready = code == http.StatusOK
			var h struct {
				Status, Reason, Leader, Error string
				Height                        uint64
				Problems                      []string
			}
			if pr.Kind == KindWAN {
				st.Detail = "toxiproxy API answers"
			} else if json.Unmarshal([]byte(body), &h) == nil {
				st.Height, st.Leader = h.Height, h.Leader
				st.Detail = strings.Join(slices.DeleteFunc([]string{h.Status, h.Reason, h.Error, strings.Join(h.Problems, "; ")},
					func(s string) bool { return s == "" }), ": ")
			} else {
				st.Detail = strings.TrimSpace(body)
			}
			out[i] = st
		})
	}
	wg.Wait()
	return out
}
