package query_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/node/nodetest"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/wire"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newClient(t *testing.T, c *nodetest.Cluster, identity string, orderers ...string) *query.Client {
	t.Helper()
	cl, err := query.NewClient(query.ClientConfig{Conn: c.Connect(identity), Trust: c.Cons.Bundle(), Orderers: orderers,
		Timeout: 2 * time.Second, WaitRound: 500 * time.Millisecond, StatusEvery: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func tx(c *nodetest.Cluster, city, id string, a schemas.Action) []byte {
	return blocktest.Tx(c.Cons.Bundle().Chain, city, id, a)
}

// TestClientReadsTheChain: a city's client waits for commits, looks
// transactions up, fetches fresh proofs, and reads headers, blocks,
// transactions, a license's history and the catalogue, every answer
// verified, against four real orderers.
func TestClientReadsTheChain(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{})
	cl := newClient(t, c, bus.IdentityName(bus.RoleCity, "shenzhen"))
	ctx := ctxFor(t, time.Minute)

	ids := c.Issue("shenzhen", "Q0001", "Q0002", "Q0003")
	locs := make([]*query.Location, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			l, err := cl.Wait(ctx, id)
			if err != nil {
				t.Errorf("wait %d: %v", i, err)
				return
			}
			locs[i] = l
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, id := range ids {
		want, ok := c.Nodes[0].Lookup(id)
		if !ok {
			t.Fatalf("node 0 does not hold %x", id[:4])
		}
		got := locs[i]
		if got.Height != want.Height || got.Position != want.Position || got.Leaf != want.Leaf || got.Result != block.OK || got.BlockHash != want.BlockHash {
			t.Errorf("tx %d: client says %+v, node %+v", i, got, want)
		}
		gl, ok, err := cl.Lookup(ctx, id)
		if err != nil || !ok || gl.Height != want.Height || gl.Result != "ok" {
			t.Errorf("lookup %d: %+v %v %v", i, gl, ok, err)
		}
	}
	if _, ok, err := cl.Lookup(ctx, schemas.TxID{1, 2, 3}); ok || err != nil {
		t.Errorf("an unknown transaction: %v %v", ok, err)
	}

	// A status change the license does not allow is sealed "rejected":
	// the client checks it against the block's results.
	rej := c.Publish("shenzhen", tx(c, "shenzhen", "NEVER1", schemas.ActionSuspend))
	gl, err := cl.WaitTx(ctx, rej[0])
	if err != nil || gl.Result != "rejected" {
		t.Fatalf("a refused transaction: %+v %v", gl, err)
	}

	// Fresh proofs, verified by the client.
	b, err := cl.LatestProof(ctx, "CN/Q0002")
	if err != nil {
		t.Fatal(err)
	}
	if vd, err := proof.Verify(c.Cons.Bundle(), b); err != nil || vd.Status != schemas.StatusValid {
		t.Fatalf("proof: %v %v", vd, err)
	}
	if _, err := cl.LatestProof(ctx, "CN/NOSUCH"); !errors.Is(err, proof.ErrNotFound) {
		t.Errorf("proof of an unknown license: %v", err)
	}

	// SealedSeq: the orderers have sealed the three batches of GBA_TX.
	deadline := time.Now().Add(10 * time.Second)
	for cl.SealedSeq() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("SealedSeq %d after two batches sealed", cl.SealedSeq())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Headers: linked and certified.
	top := c.Nodes[0].Height()
	hs, err := cl.Headers(ctx, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(hs)) < top || hs[0].Header.Height != 1 {
		t.Fatalf("%d headers from 1, height %d", len(hs), top)
	}
	if _, err := cl.Headers(ctx, top+100, 1); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("headers past the chain: %v", err)
	}

	// A block, a page at a time.
	pg, err := cl.Block(ctx, locs[0].Height, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Txs) != 1 || pg.Txs[0].City != "shenzhen" || pg.Next != 1 {
		t.Fatalf("page: %+v", pg)
	}
	all, err := cl.Block(ctx, locs[0].Height, pg.Next, 100)
	if err != nil {
		t.Fatal(err)
	}
	if all.Next != len(all.Results) || len(all.Txs)+1 != len(all.Results) {
		t.Fatalf("rest of the block: %d transactions, next %d of %d", len(all.Txs), all.Next, len(all.Results))
	}

	// A transaction's content, with its batch signature checked.
	tc, err := cl.Tx(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if tc.Tx == nil || tc.Tx.Record.ID != "Q0002" || tc.City != "shenzhen" || tc.Height != locs[1].Height {
		t.Fatalf("tx content: %+v", tc)
	}
	if tr, err := cl.Tx(ctx, rej[0]); err != nil || tr.Result.Outcome() != block.Rejected || tr.Result.Reason() != block.ReasonNotFound {
		t.Fatalf("refused tx content: %+v %v", tr, err)
	}
	if _, err := cl.Tx(ctx, schemas.TxID{9}); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("unknown tx: %v", err)
	}

	// History: issue, then suspend.
	sus := c.Publish("shenzhen", tx(c, "shenzhen", "Q0002", schemas.ActionSuspend))
	if gl, err := cl.WaitTx(ctx, sus[0]); err != nil || gl.Result != "ok" {
		t.Fatalf("suspend: %+v %v", gl, err)
	}
	hist, err := cl.History(ctx, "CN/Q0002", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Status != schemas.StatusSuspended || hist[1].Status != schemas.StatusValid || hist[0].TxID != sus[0] || hist[1].TxID != ids[1] {
		t.Fatalf("history: %+v", hist)
	}
	if older, err := cl.History(ctx, "CN/Q0002", hist[0].Height, 10); err != nil || len(older) != 1 || older[0].Height != hist[1].Height {
		t.Fatalf("history before %d: %+v %v", hist[0].Height, older, err)
	}
	if _, err := cl.History(ctx, "CN/NOSUCH", 0, 10); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("history of an unknown license: %v", err)
	}

	// The catalogue follows the chain off the commit path: wait for it.
	waitCatalog(t, c, c.Nodes[0].Height())
	ls, next, err := cl.Licenses(ctx, query.LicenseFilter{City: "shenzhen", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Key != "CN/Q0001" || ls[1].Key != "CN/Q0002" || next != "CN/Q0002" {
		t.Fatalf("first page: %+v next %q", ls, next)
	}
	if ls[1].Status != schemas.StatusSuspended || ls[0].Name != "Holder of Q0001" || ls[0].Holder != "P1234567" || ls[0].Kind != schemas.KindCertificate { // blocktest.Tx: certificates
		t.Errorf("entries: %+v", ls)
	}
	ls, next, err = cl.Licenses(ctx, query.LicenseFilter{City: "shenzhen", Limit: 2, Cursor: next})
	if err != nil || len(ls) != 1 || ls[0].Key != "CN/Q0003" || next != "" {
		t.Fatalf("second page: %+v next %q %v", ls, next, err)
	}
	ls, _, err = cl.Licenses(ctx, query.LicenseFilter{Status: schemas.StatusSuspended})
	if err != nil || len(ls) != 1 || ls[0].Key != "CN/Q0002" {
		t.Fatalf("suspended: %+v %v", ls, err)
	}
	if ls, _, err = cl.Licenses(ctx, query.LicenseFilter{City: "macao"}); err != nil || len(ls) != 0 {
		t.Fatalf("macao: %+v %v", ls, err)
	}
}

func waitCatalog(t *testing.T, c *nodetest.Cluster, h uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		for n.CatalogHeight() < h {
			if time.Now().After(deadline) {
				t.Fatalf("the catalogue of %s is at %d, want %d", n.Name(), n.CatalogHeight(), h)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestClientFailsOver: with the first orderer it would ask stopped, the
// client answers from the next, for lookups, waits and proofs alike.
func TestClientFailsOver(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{})
	// The client asks the last orderer first; that one is stopped (not
	// the first, which leads view 0: the cluster would stall for a view
	// change).
	var order []string
	for i := range c.Nodes {
		order = append(order, c.Nodes[(i+3)%4].Name())
	}
	cl := newClient(t, c, bus.IdentityName(bus.RoleService, ""), order...)
	ctx := ctxFor(t, time.Minute)
	ids := c.Issue("macao", "M0001")
	if _, err := cl.Wait(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	c.Nodes[3].Stop()
	ids = c.Issue("macao", "M0002")
	l, err := cl.Wait(ctx, ids[0])
	if err != nil || l.Result != block.OK {
		t.Fatalf("wait with the last orderer down: %+v %v", l, err)
	}
	if _, ok, err := cl.Lookup(ctx, ids[0]); !ok || err != nil {
		t.Fatalf("lookup with the last orderer down: %v %v", ok, err)
	}
	if _, err := cl.LatestProof(ctx, "MO/M0002"); err != nil {
		t.Fatalf("proof with the last orderer down: %v", err)
	}
	// The stopped orderer has no responders at once; the others have time
	// to answer on a loaded machine under -race.
	sts := cl.Statuses(ctx, 10*time.Second)
	if sts[0] != nil || sts[1] == nil || sts[1].Head == nil || sts[1].Node != c.Nodes[0].Name() {
		t.Fatalf("statuses with the last orderer down: %+v", sts)
	}
	only := newClient(t, c, bus.IdentityName(bus.RoleService, ""), c.Nodes[3].Name())
	if _, _, err := only.Lookup(ctx, ids[0]); !errors.Is(err, query.ErrNoOrderer) {
		t.Errorf("a client whose only orderer is down: %v", err)
	}
}

// liar answers as a real node does, but for what its flags spoil.
type liar struct {
	query.Backend
	badQC, badPath, badProof bool
}

func (l liar) Sealed(h uint64) (*block.Header, *block.QC, error) {
	hdr, qc, err := l.Backend.Sealed(h)
	if err == nil && l.badQC {
		qc = &block.QC{Votes: qc.Votes[:1]} // one vote: no quorum
	}
	return hdr, qc, err
}

func (l liar) LeafPath(h uint64, leaf int) ([]proof.Hash, error) {
	path, err := l.Backend.LeafPath(h, leaf)
	if err == nil && l.badPath {
		path = append(path, proof.Hash{1}) // a path that does not lead to the root
	}
	return path, err
}

func (l liar) LatestProof(key string) (*proof.Bundle, error) {
	b, err := l.Backend.LatestProof(key)
	if err == nil && l.badProof {
		b.State.Leaf.Status = schemas.StatusValid
		b.State.Leaf.Height++
	}
	return b, err
}

// TestClientRefusesWhatDoesNotVerify: an orderer that answers with a
// header short of a quorum, a transaction placed where its path does not
// lead, or a proof that does not verify is passed over for the next; with
// no honest orderer the client returns the failure, never the answer.
func TestClientRefusesWhatDoesNotVerify(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Config: func(i int, cfg *node.Config) { cfg.NoQuery = i == 0 }})
	ctx := ctxFor(t, time.Minute)
	ids := c.Issue("hongkong", "H0001")
	c.WaitHeight(1)
	first := c.Nodes[0].Name()
	honest := c.Nodes[0].QueryBackend()
	for _, tc := range []struct {
		name string
		l    liar
	}{
		{"quorum", liar{Backend: honest, badQC: true}},
		{"path", liar{Backend: honest, badPath: true}},
		{"proof", liar{Backend: honest, badProof: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := query.Serve(c.Connect(bus.IdentityName(bus.RoleOrderer, first)), first, tc.l, query.ServerConfig{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			alone := newClient(t, c, bus.IdentityName(bus.RoleService, ""), first)
			both := newClient(t, c, bus.IdentityName(bus.RoleService, ""), first, c.Nodes[1].Name())
			var errAlone error
			switch tc.name {
			case "proof":
				_, errAlone = alone.LatestProof(ctx, "HK/H0001")
				if _, err := both.LatestProof(ctx, "HK/H0001"); err != nil {
					t.Errorf("with an honest orderer next: %v", err)
				}
			default:
				_, _, errAlone = alone.Lookup(ctx, ids[0])
				if _, ok, err := both.Lookup(ctx, ids[0]); !ok || err != nil {
					t.Errorf("with an honest orderer next: %v %v", ok, err)
				}
			}
			if !errors.Is(errAlone, query.ErrUnverified) {
				t.Errorf("from the liar alone: %v, want ErrUnverified", errAlone)
			}
		})
	}
}

// TestWaitsAreCoalesced: 400 transactions waited for at once cost a few
// requests (one per round, a round ending with a block), not one each.
func TestWaitsAreCoalesced(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{})
	// Requests are counted as the client's connection sends them: no
	// identity may watch gba.query.> (issue 14 §5), and this client sends
	// nothing but the waits below.
	conn := c.Connect(bus.IdentityName(bus.RoleService, ""))
	cl, err := query.NewClient(query.ClientConfig{Conn: conn, Trust: c.Cons.Bundle(),
		Timeout: 2 * time.Second, WaitRound: 500 * time.Millisecond, StatusEvery: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx := ctxFor(t, time.Minute)
	var waits atomic.Int64
	var ids []schemas.TxID
	for b := range 4 {
		var lic []string
		for i := range 100 {
			lic = append(lic, fmt.Sprintf("W%d%03d", b, i))
		}
		ids = append(ids, c.Issue("zhuhai", lic...)...)
	}
	sentBefore := conn.Stats().OutMsgs
	var wg sync.WaitGroup
	var failed atomic.Int64
	for _, id := range ids {
		wg.Go(func() {
			if l, err := cl.Wait(ctx, id); err != nil || l.Result != block.OK {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d waits failed", failed.Load())
	}
	waits.Store(int64(conn.Stats().OutMsgs - sentBefore))
	if n := waits.Load(); n == 0 || n > 40 {
		t.Fatalf("%d wait requests for %d transactions in %d blocks", n, len(ids), c.Nodes[0].Height())
	}
	t.Logf("%d wait requests for %d transactions in %d blocks", waits.Load(), len(ids), c.Nodes[0].Height())

	// A wait given up is forgotten: its transaction leaves the next round.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := cl.Wait(short, schemas.TxID{7}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait for a transaction never published: %v", err)
	}
}

// TestServerRefusesMalformedRequests: garbage, another version and an
// over-long id list get an error reply naming the fault; the node goes on
// answering.
func TestServerRefusesMalformedRequests(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{})
	nc := c.Connect(bus.IdentityName(bus.RoleService, ""))
	subject := bus.QuerySubject(c.Nodes[1].Name())
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"version", []byte{9, 1}},
		{"op", []byte{1, 99}},
		{"truncated id", []byte{1, 2, 1, 0xAA}},
		{"trailing", []byte{1, 1, 0}},
		{"too many ids", append([]byte{1, 2}, 0x81, 0x40)},
	} {
		msg, err := nc.Request(subject, tc.data, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(msg.Data) < 3 || msg.Data[0] != 1 || msg.Data[1] != 2 {
			t.Errorf("%s: reply %x, want a bad-request reply", tc.name, msg.Data)
		}
	}
	cl := newClient(t, c, bus.IdentityName(bus.RoleService, ""), c.Nodes[1].Name())
	if _, err := cl.Status(ctxFor(t, 10*time.Second), c.Nodes[1].Name()); err != nil {
		t.Fatalf("after malformed requests: %v", err)
	}
}

// TestServerBoundsWaits: past MaxWaits held commit waits, a wait is
// refused as unavailable at once (its client then asks another orderer),
// and a held wait ends with the server's Stop.
func TestServerBoundsWaits(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Config: func(i int, cfg *node.Config) { cfg.NoQuery = i == 0 }})
	first := c.Nodes[0].Name()
	srv, err := query.Serve(c.Connect(bus.IdentityName(bus.RoleOrderer, first)), first, c.Nodes[0].QueryBackend(),
		query.ServerConfig{MaxWaits: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	nc := c.Connect(bus.IdentityName(bus.RoleService, ""))
	// A Wait of 30 s for a transaction never published, and waits of
	// 100 ms: once the long one holds the slot, a short one is refused.
	// (A short one may hold the slot when the long one arrives, which is
	// then refused: it is sent again.)
	wait := append([]byte{1, 3, 0, 0, 0x75, 0x30, 1}, make([]byte, 32)...)
	short := append([]byte{1, 3, 0, 0, 0, 100, 1}, make([]byte, 32)...)
	held := make(chan *nats.Msg, 1)
	long := func() {
		go func() {
			m, err := nc.Request(bus.QuerySubject(first), wait, time.Minute)
			if err != nil {
				t.Error(err)
			}
			held <- m
		}()
	}
	long()
	deadline := time.Now().Add(20 * time.Second)
	for refused := false; !refused; {
		select {
		case <-held:
			long()
		default:
		}
		time.Sleep(50 * time.Millisecond) // let the long one arrive first
		m, err := nc.Request(bus.QuerySubject(first), short, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		refused = len(m.Data) >= 2 && m.Data[1] == 3
		if time.Now().After(deadline) {
			t.Fatal("no wait was refused")
		}
	}
	srv.Stop()
	select {
	case m := <-held:
		if m == nil || len(m.Data) < 2 || m.Data[1] != 3 {
			t.Fatalf("the held wait at Stop: %x, want unavailable", m.Data)
		}
	case <-ctxFor(t, 10*time.Second).Done():
		t.Fatal("Stop did not end the held wait")
	}
}

// stall is a backend whose proof of key "CN/STALL" waits for release,
// having said so on entered: a worker held as long as a test needs.
type stall struct {
	query.Backend
	entered chan struct{}
	release chan struct{}
}

func (s stall) LatestProof(key string) (*proof.Bundle, error) {
	if key == "CN/STALL" {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Backend.LatestProof(key)
}

// manualClock is a clock that moves only when told.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *manualClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestServerQueuesThenSaysBusy: with every worker taken, requests wait in
// a bounded queue instead of being refused at once (issue 15's share
// answers met 503s under load); past the queue's size one is refused at
// once, and one that waited longer than QueueWait is answered busy rather
// than late, so its client asks another orderer in time.
func TestServerQueuesThenSaysBusy(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Config: func(i int, cfg *node.Config) { cfg.NoQuery = i == 0 }})
	first := c.Nodes[0].Name()
	clk := &manualClock{t: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}
	be := stall{Backend: c.Nodes[0].QueryBackend(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv, err := query.Serve(c.Connect(bus.IdentityName(bus.RoleOrderer, first)), first, be,
		query.ServerConfig{Workers: 1, Queue: 2, QueueWait: time.Second, Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	nc := c.Connect(bus.IdentityName(bus.RoleService, ""))
	subject := bus.QuerySubject(first)
	proofOf := func(key string) []byte { return wire.AppendString([]byte{query.Version, 4}, key) }
	async := func(key string) <-chan *nats.Msg {
		out := make(chan *nats.Msg, 1)
		go func() {
			m, err := nc.Request(subject, proofOf(key), 20*time.Second)
			if err != nil {
				t.Error(err)
			}
			out <- m
		}()
		return out
	}
	// queue sends a request now, in this goroutine's order on the
	// connection, and returns where its reply will come.
	queue := func(key string) *nats.Subscription {
		inbox := nc.NewRespInbox()
		sub, err := nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.PublishRequest(subject, inbox, proofOf(key)); err != nil {
			t.Fatal(err)
		}
		return sub
	}
	reply := func(sub *nats.Subscription) *nats.Msg {
		m, err := sub.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	busy := func(m *nats.Msg, says string) bool {
		return m != nil && len(m.Data) >= 2 && m.Data[1] == 3 && strings.Contains(string(m.Data), says)
	}

	held := async("CN/STALL")
	<-be.entered // the one worker is taken
	// Two fill the queue; one connection's messages reach the
	// subscription in the order they were sent, so the third finds it
	// full and is refused at once.
	b, cc, d := queue("CN/NONE1"), queue("CN/NONE2"), queue("CN/NONE3")
	if m := reply(d); !busy(m, "2 requests queued already") {
		t.Fatalf("a request past a full queue: %q, want busy at once", m.Data)
	}
	clk.Add(2 * time.Second) // the queued ones have now waited too long
	close(be.release)
	if m := <-held; m == nil || busy(m, "") {
		t.Fatalf("the request a worker held: %q", m.Data)
	}
	for _, sub := range []*nats.Subscription{b, cc} {
		if m := reply(sub); !busy(m, "waited 2s for a worker") {
			t.Fatalf("a request queued past QueueWait: %q, want busy", m.Data)
		}
	}
	// A queue with room, and a request that does not wait too long.
	m, err := nc.Request(subject, proofOf("CN/NONE4"), 5*time.Second)
	if err != nil || busy(m, "") {
		t.Fatalf("after the burst: %q %v", m.Data, err)
	}
}
