package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/ledger/audit"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

var long = flag.Bool("long", false, "run the long variant of the process cluster test")

// runMainEnv makes the test binary run baybus's main instead of the tests,
// so the test can start orderers as separate OS processes without building
// the command first.
const runMainEnv = "BAYBUS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashPlan is one run of TestOrdererProcessesSurviveCrashes: how much load,
// and the faults injected while it runs.
type crashPlan struct {
	cities     []string
	txPerBatch int
	pause      time.Duration // between one city's batches
	load       time.Duration // how long the cities publish
	rounds     int           // fault rounds: kill -9 an orderer, stop a NATS server, restart both
	drain      time.Duration // how long the orderers may take to seal the backlog
}

// TestOrdererProcessesSurviveCrashes runs four `baybus orderer` processes
// against a three-server NATS cluster on loopback (JetStream replicas 3)
// while city publishers load it, kills -9 an orderer and shuts down the
// NATS server leading GBA_TX mid-load, restarts both, and then checks that
// every acknowledged transaction is sealed exactly once on every orderer,
// that the orderers hold the same chain, and that each chain passes
// audit.VerifyChain.
func TestOrdererProcessesSurviveCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster and four orderer processes")
	}
	plan := crashPlan{
		cities: []string{"shenzhen", "guangzhou", "hongkong", "macao"}, txPerBatch: 8, pause: 80 * time.Millisecond,
		load: 10 * time.Second, rounds: 1, drain: 40 * time.Second,
	}
	if *long {
		plan = crashPlan{
			cities: schemas.CityTokens(), txPerBatch: 8, pause: 150 * time.Millisecond,
			load: 45 * time.Second, rounds: 3, drain: 90 * time.Second,
		}
	}
	runCrashPlan(t, plan)
}

func runCrashPlan(t *testing.T, plan crashPlan) {
	start := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("%6.2fs "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	root := t.TempDir()
	names := []string{"hongkong", "macao", "qianhai", "hengqin"}
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	cons, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), names, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := bus.NewIdentities(schemas.CityTokens(), names)
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Write(root); err != nil {
		t.Fatal(err)
	}
	if err := ids.Write(root); err != nil {
		t.Fatal(err)
	}

	nc := newNATSCluster(t, root, ids)
	logf("NATS servers started: %s", nc.urls())
	ctx, cancel := context.WithTimeout(context.Background(), plan.load+plan.drain+60*time.Second)
	defer cancel()
	dial := func(name string) *nats.Conn {
		t.Helper()
		conn, err := bus.Connect(nc.urls(), bus.SeedPath(root, name), "test-"+name, nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Close)
		return conn
	}
	op := dial("operator")
	if err := bus.WaitJetStream(ctx, op); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(op)
	if err := poll(ctx, func(ctx context.Context) error {
		return bus.EnsureStreams(ctx, js, bus.StreamConfig{Replicas: 3})
	}); err != nil {
		t.Fatal(err)
	}
	logf("JetStream meta leader elected, streams created with 3 replicas")

	// Sealed headers, as every orderer publishes them: progress for the log.
	var top heightWatch
	// The operator only administers streams; headers are read as 'service'.
	if _, err := dial("service").Subscribe(bus.SubjectBlocks, func(m *nats.Msg) {
		if h, _, err := block.DecodeSealed(m.Data); err == nil {
			top.see(h.Height)
		}
	}); err != nil {
		t.Fatal(err)
	}

	procs := map[string]*ordererProc{}
	for _, name := range names {
		procs[name] = &ordererProc{t: t, name: name, root: root, urls: nc.urls(),
			data: filepath.Join(root, "orderers", name), logPath: filepath.Join(root, "logs", name+".log")}
	}
	t.Cleanup(func() {
		for _, name := range names {
			procs[name].kill()
		}
		if dir := os.Getenv("BAYBUS_TEST_KEEP_LOGS"); dir != "" {
			// For a look at a run that passed slowly.
			_ = os.CopyFS(filepath.Join(dir, fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())), os.DirFS(filepath.Join(root, "logs")))
		}
		if t.Failed() {
			for _, name := range names {
				procs[name].dumpLog(80)
			}
		}
	})
	for _, name := range names {
		procs[name].start()
	}
	waitConsumers(ctx, t, js, names)
	logf("4 orderer processes consuming GBA_TX")

	ld := &loadGen{chain: cons.Bundle.Chain, keys: cons.Cities, txPerBatch: plan.txPerBatch, pause: plan.pause,
		acked: map[schemas.TxID]bool{}, sent: map[schemas.TxID]bool{}}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var loadWG sync.WaitGroup
	for _, city := range plan.cities {
		pub, err := bus.NewPublisher(dial("city-" + city))
		if err != nil {
			t.Fatal(err)
		}
		loadWG.Go(func() { ld.run(loadCtx, city, pub) })
	}
	loadStart := time.Now()
	logf("load started: %d cities, %d tx per batch", len(plan.cities), plan.txPerBatch)

	// Fault rounds, spread over the load: in each, kill -9 an orderer, then
	// shut down the NATS server leading GBA_TX; restart the orderer on its
	// data directory while that server is still down, then the server.
	step := plan.load / time.Duration(4*plan.rounds+1)
	sleep := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	for r := range plan.rounds {
		sleep(step)
		victim := procs[names[r%len(names)]]
		victim.kill()
		logf("round %d: kill -9 orderer %s (sealed height %d, %s)", r+1, victim.name, top.get(), ld.summary())
		sleep(step / 2)
		down := nc.index(streamLeader(ctx, t, js, bus.StreamTx))
		nc.stop(down)
		logf("round %d: NATS server %s (GBA_TX leader) shut down (%s)", r+1, nc.configs[down].Name, ld.summary())
		sleep(step + step/2)
		victim.start()
		logf("round %d: orderer %s restarted (sealed height %d, %s)", r+1, victim.name, top.get(), ld.summary())
		sleep(step)
		nc.start(down)
		logf("round %d: NATS server %s restarted", r+1, nc.configs[down].Name)
	}
	sleep(time.Until(loadStart.Add(plan.load)))
	stopLoad()
	loadWG.Wait()
	logf("load stopped: %s; sealed height %d", ld.summary(), top.get())
	if len(ld.acked) == 0 {
		t.Fatal("no batch was acknowledged")
	}

	// Wait until every orderer holds every acknowledged transaction and all
	// agree on the head, reading copies of the live block logs.
	deadline := time.Now().Add(plan.drain)
	for {
		done, why := true, ""
		var first *chainView
		for _, name := range names {
			ch, err := readChain(procs[name].blocksDir(), root)
			if err != nil {
				done, why = false, fmt.Sprintf("%s: %v", name, err)
				break
			}
			if missing := ch.missing(ld.acked); missing > 0 {
				done, why = false, fmt.Sprintf("%s at height %d lacks %d acknowledged transactions", name, ch.height(), missing)
				break
			}
			if first == nil {
				first = ch
			} else if ch.head() != first.head() {
				done, why = false, fmt.Sprintf("%s at height %d, %s at %d", names[0], first.height(), name, ch.height())
				break
			}
		}
		if done {
			logf("every acknowledged transaction sealed on all 4 orderers at height %d", first.height())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not sealed within %v after the load stopped: %s", plan.drain, why)
		}
		for _, name := range names {
			if err := procs[name].exited(); err != nil {
				t.Fatalf("orderer %s exited: %v", name, err)
			}
		}
		sleep(500 * time.Millisecond)
	}

	// Stop the orderers as an operator would, then check their logs.
	for _, name := range names {
		procs[name].terminate()
	}
	logf("orderers stopped with SIGTERM")
	var ref *chainView
	for _, name := range names {
		dir := procs[name].blocksDir()
		rep, err := audit.VerifyChain(context.Background(), dir, cons.Bundle)
		if err != nil {
			t.Fatalf("orderer %s: %v", name, err)
		}
		ch, err := readChain(dir, "")
		if err != nil {
			t.Fatalf("orderer %s: %v", name, err)
		}
		if rep.Height != uint64(ch.height()) || rep.LastHash != ch.head() {
			t.Fatalf("orderer %s: audit read height %d, we read %d", name, rep.Height, ch.height())
		}
		ch.checkExactlyOnce(t, name, ld)
		if ref == nil {
			ref = ch
			continue
		}
		if ch.height() != ref.height() {
			t.Errorf("orderer %s stopped at height %d, %s at %d", name, ch.height(), names[0], ref.height())
		}
		for h := range min(len(ch.hashes), len(ref.hashes)) {
			if ch.hashes[h] != ref.hashes[h] {
				t.Fatalf("block %d: orderer %s has %x, %s has %x", h+1, name, ch.hashes[h][:6], names[0], ref.hashes[h][:6])
			}
		}
	}
	logf("4 chains identical and verified: height %d, %d transactions (%d acknowledged, %d published without an acknowledgement)",
		ref.height(), len(ref.ok), len(ld.acked), len(ld.sent)-len(ld.acked))
}

// natsCluster is three embedded NATS servers routed to each other on
// loopback, with fixed ports so that a stopped server can come back on the
// same addresses.
type natsCluster struct {
	t       *testing.T
	configs []natsserver.ServerConfig
	servers []*natsserver.Embedded // nil while stopped
}

func newNATSCluster(t *testing.T, root string, ids *bus.Identities) *natsCluster {
	t.Helper()
	const n = 3
	ports := freePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	c := &natsCluster{t: t, servers: make([]*natsserver.Embedded, n)}
	for i := range n {
		name := fmt.Sprintf("nats%d", i+1)
		c.configs = append(c.configs, natsserver.ServerConfig{
			Name: name, StoreDir: filepath.Join(root, name), Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Identities: ids,
			ClusterName: "gba-test", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[n+i]), Routes: routes,
		})
	}
	t.Cleanup(func() {
		for i := range c.servers {
			c.stop(i)
		}
	})
	for i := range n {
		c.start(i)
	}
	return c
}

func (c *natsCluster) start(i int) {
	c.t.Helper()
	srv, err := natsserver.StartServer(c.configs[i])
	if err != nil {
		c.t.Fatal(err)
	}
	c.servers[i] = srv
}

func (c *natsCluster) stop(i int) {
	if c.servers[i] != nil {
		c.servers[i].Shutdown()
		c.servers[i] = nil
	}
}

func (c *natsCluster) urls() string {
	var urls []string
	for _, cfg := range c.configs {
		urls = append(urls, "nats://"+cfg.Listen)
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) index(name string) int {
	i := slices.IndexFunc(c.configs, func(cfg natsserver.ServerConfig) bool { return cfg.Name == name })
	if i < 0 {
		c.t.Fatalf("no NATS server %q", name)
	}
	return i
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// poll calls try until it succeeds or ctx ends, giving each attempt three
// seconds: a clustered JetStream API request that no leader answers (a
// stream or consumer between leaders) is never answered at all.
func poll(ctx context.Context, try func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := try(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func streamLeader(ctx context.Context, t *testing.T, js jetstream.JetStream, name string) string {
	t.Helper()
	var leader string
	err := poll(ctx, func(ctx context.Context) error {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return errors.New("no leader")
		}
		leader = info.Cluster.Leader
		return nil
	})
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return leader
}

func waitConsumers(ctx context.Context, t *testing.T, js jetstream.JetStream, names []string) {
	t.Helper()
	for _, name := range names {
		if err := poll(ctx, func(ctx context.Context) error {
			_, err := js.Consumer(ctx, bus.StreamTx, bus.OrdererConsumer(name))
			return err
		}); err != nil {
			t.Fatalf("orderer %s never created its consumer: %v", name, err)
		}
	}
}

// ordererProc is one `baybus orderer` OS process, restartable on the same
// data directory. Its output is appended to logPath.
type ordererProc struct {
	t                      *testing.T
	name, root, urls, data string
	logPath                string

	mu         sync.Mutex    // guards the fields below; start, kill and terminate run on the test goroutine
	cmd        *exec.Cmd     // the latest process
	done       chan struct{} // closed when cmd has exited
	err        error         // cmd's exit status, once done
	expectExit bool          // the test killed or stopped it
}

func (p *ordererProc) blocksDir() string { return filepath.Join(p.data, "blocks") }

func (p *ordererProc) start() {
	p.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p.logPath), 0o755); err != nil {
		p.t.Fatal(err)
	}
	out, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(out, "=== %s: start\n", time.Now().Format(time.TimeOnly+".000"))
	cmd := exec.Command(exe, "orderer", "--id", p.name, "--nats", p.urls,
		"--creds", bus.SeedPath(p.root, bus.IdentityName(bus.RoleOrderer, p.name)), "--data", p.data,
		"--trust", filepath.Join(p.root, keys.TrustFile), "--key", keys.OrdererKeyPath(p.root, p.name), "--log-level", cmp.Or(os.Getenv("BAYBUS_TEST_LOG_LEVEL"), "info"),
		"--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err, p.expectExit = cmd, done, nil, false
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		out.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
}

// exited returns why the process ended if it ended without being told to.
func (p *ordererProc) exited() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil || p.expectExit {
		return nil
	}
	select {
	case <-p.done:
		if p.err == nil {
			return errors.New("exit status 0")
		}
		return p.err
	default:
		return nil
	}
}

// kill sends SIGKILL and waits for the process to go.
func (p *ordererProc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expectExit = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// terminate sends SIGTERM and expects a clean exit within a few seconds.
func (p *ordererProc) terminate() {
	p.t.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expectExit = true
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		p.t.Fatalf("orderer %s did not stop within 15 s of SIGTERM", p.name)
	}
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err != nil {
		p.t.Fatalf("orderer %s: exit after SIGTERM: %v", p.name, err)
	}
}

func (p *ordererProc) dumpLog(lines int) {
	f, err := os.Open(p.logPath)
	if err != nil {
		p.t.Logf("orderer %s: no log: %v", p.name, err)
		return
	}
	defer f.Close()
	var all []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	keep := all[max(0, len(all)-lines):]
	p.t.Logf("orderer %s: last %d of %d log lines (%s):\n%s", p.name, len(keep), len(all), p.logPath, strings.Join(keep, "\n"))
}

// loadGen publishes signed batches for cities, each city on its own
// connection, retrying a batch under the same message id until the stream
// acknowledges it or the load stops.
type loadGen struct {
	chain      string
	keys       map[string]*keys.PrivateKey
	txPerBatch int
	pause      time.Duration
	// onAck, if set, is called with each batch the stream acknowledged.
	onAck func(b *schemas.Batch)

	mu           sync.Mutex
	acked        map[schemas.TxID]bool // in a batch the stream acknowledged
	sent         map[schemas.TxID]bool // in any batch published, acknowledged or not
	batches      int
	ackedBatches int
	retries      int
}

func (l *loadGen) run(ctx context.Context, city string, pub *bus.Publisher) {
	for seq := uint64(1); ctx.Err() == nil; seq++ {
		txs := make([][]byte, l.txPerBatch)
		for i := range txs {
			// One license per city, sequence and index: an issue of a
			// license another city of the jurisdiction issued is refused.
			txs[i] = blocktest.Tx(l.chain, city, fmt.Sprintf("L%06d-%03d-%s", seq, i, city), schemas.ActionIssue)
		}
		b, err := schemas.SealBatch(l.chain, city, time.Now().UnixNano(), seq, txs, l.keys[city])
		if err != nil {
			panic(err) // the test's own transactions
		}
		l.mu.Lock()
		l.batches++
		for _, id := range b.IDs {
			l.sent[id] = true
		}
		l.mu.Unlock()
		frame, msgID := b.Encode(), b.ID()
		for attempt := 0; ctx.Err() == nil; attempt++ {
			// The publish itself is not cancelled by the end of the load:
			// an attempt under way gets its answer.
			pctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, err := pub.Publish(pctx, bus.TxSubject(city), msgID, frame)
			cancel()
			if err == nil {
				l.mu.Lock()
				l.ackedBatches++
				for _, id := range b.IDs {
					l.acked[id] = true
				}
				l.mu.Unlock()
				if l.onAck != nil {
					l.onAck(b)
				}
				break
			}
			l.mu.Lock()
			l.retries++
			l.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(l.pause):
		}
	}
}

func (l *loadGen) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d of %d batches acknowledged, %d retries", l.ackedBatches, l.batches, l.retries)
}

// chainView is what a block log holds: the header hashes and where each
// transaction appears.
type chainView struct {
	hashes  [][32]byte
	ok      map[schemas.TxID]int // OK results
	flagged map[schemas.TxID]int // any other result
}

func (c *chainView) height() int { return len(c.hashes) }

func (c *chainView) head() [32]byte {
	if len(c.hashes) == 0 {
		return [32]byte{}
	}
	return c.hashes[len(c.hashes)-1]
}

func (c *chainView) missing(want map[schemas.TxID]bool) int {
	n := 0
	for id := range want {
		if c.ok[id] == 0 {
			n++
		}
	}
	return n
}

// checkExactlyOnce checks that every acknowledged transaction is sealed OK
// exactly once, that a transaction published without an acknowledgement is
// sealed at most once, and that nothing else is on the chain.
func (c *chainView) checkExactlyOnce(t *testing.T, name string, l *loadGen) {
	t.Helper()
	bad := 0
	report := func(format string, args ...any) {
		t.Helper()
		if bad++; bad <= 10 {
			t.Errorf("orderer %s: "+format, append([]any{name}, args...)...)
		}
	}
	for id := range l.acked {
		if n := c.ok[id]; n != 1 {
			report("acknowledged transaction %s sealed %d times", schemas.FormatID(id), n)
		}
	}
	for id, n := range c.ok {
		if !l.sent[id] {
			report("transaction %s sealed but never published", schemas.FormatID(id))
		} else if n > 1 {
			report("transaction %s sealed %d times", schemas.FormatID(id), n)
		}
	}
	for id, n := range c.flagged {
		report("transaction %s recorded %d times with a result other than OK", schemas.FormatID(id), n)
	}
	if bad > 10 {
		t.Errorf("orderer %s: %d faults in all", name, bad)
	}
}

// readChain reads the block log in dir. With a scratch directory it reads a
// copy made there, so that the orderer may keep running (a torn tail in the
// copy is cut in the copy).
func readChain(dir, scratch string) (*chainView, error) {
	if scratch != "" {
		tmp, err := os.MkdirTemp(scratch, "blocks-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		if err := os.CopyFS(tmp, os.DirFS(dir)); err != nil {
			return nil, err
		}
		dir = tmp
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	st, err := blocklog.OpenStore(dir, wal.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c := &chainView{ok: map[schemas.TxID]int{}, flagged: map[schemas.TxID]int{}}
	for h := uint64(1); h <= st.Height(); h++ {
		b, err := st.Block(h)
		if err != nil {
			return nil, err
		}
		c.hashes = append(c.hashes, b.Header.Hash())
		for _, tx := range b.Txs() {
			if tx.Result == block.OK {
				c.ok[tx.ID]++
			} else {
				c.flagged[tx.ID]++
			}
		}
	}
	return c, nil
}

// heightWatch keeps the highest sealed height seen on gba.blocks.
type heightWatch struct {
	mu sync.Mutex
	h  uint64
}

func (w *heightWatch) see(h uint64) {
	w.mu.Lock()
	w.h = max(w.h, h)
	w.mu.Unlock()
}

func (w *heightWatch) get() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.h
}
