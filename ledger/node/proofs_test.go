package node_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startBus starts an embedded NATS server with the test chain's
// identities and the streams (GBA_PROOFS in memory).
func startBus(t *testing.T) *natsserver.Embedded {
	t.Helper()
	ids, err := bus.NewIdentities(schemas.CityTokens(), prooftest.Orderers)
	if err != nil {
		t.Fatal(err)
	}
	return natstest.Start(t, ids, natstest.Options{Streams: bus.StreamConfig{MemoryForProofs: true}})
}

func newPublisher(t *testing.T, srv *natsserver.Embedded, cfg node.ProofPublisherConfig) *node.ProofPublisher {
	t.Helper()
	nc, err := srv.Connect(bus.IdentityName(bus.RoleOrderer, "hongkong"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pub, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sink, cfg.Logger = pub, quiet
	p, err := node.NewProofPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProofPublisher replays the test chain as an orderer commits it, with
// the publisher's hook after each block: every OK transaction's proof lands
// on gba.proofs.<JUR>.<kind> (with .personal after it if it proves a
// record naming persons in plaintext) with its transaction id as message
// id, and verifies with the trust bundle alone.
func TestProofPublisher(t *testing.T) {
	c := prooftest.Build(t, t.TempDir())
	srv := startBus(t)
	p := newPublisher(t, srv, node.ProofPublisherConfig{Workers: 2})
	p.Start(context.Background())
	st := c.Replay(t, t.TempDir(), func(rec *blocklog.Record, blk *block.Block, st *licenses.State) {
		p.Hook(st.ProveRoot)(rec, blk)
	})
	waitFor(t, "17 proofs published", func() bool { return p.Stats().Published == 17 })
	if s := p.Stats(); s.Blocks != 4 || s.Generated != 17 || s.Dropped != 0 || s.Failed != 0 || s.Skipped != 0 || s.Errors != 0 {
		t.Fatalf("stats %+v", s)
	}

	// Read the stream back.
	nc, err := srv.Connect("operator")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, bus.StreamProofs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(17, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	v := proof.NewVerifier(c.Trust, 0)
	var subjects []string
	n := 0
	for m := range msgs.Messages() {
		n++
		b, err := proof.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		vd, err := v.Verify(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Subject(), err)
		}
		want := bus.ProofSubject(string(vd.Tx.Jurisdiction), vd.Tx.Kind.Short())
		if personal, err := node.PersonalInPlaintext(b); err != nil {
			t.Fatal(err)
		} else if personal {
			// A record of this rules version 1 chain naming persons
			// (issue 14 §4: TestPersonalProofsNeedPersonalGrant).
			want = bus.PersonalProofSubject(string(vd.Tx.Jurisdiction), vd.Tx.Kind.Short())
		}
		if m.Subject() != want {
			t.Errorf("subject %s, want %s", m.Subject(), want)
		}
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != hex.EncodeToString(vd.TxID[:]) {
			t.Errorf("message id %s, want the tx id %x", id, vd.TxID)
		}
		subjects = append(subjects, strings.TrimSuffix(m.Subject(), ".personal"))
	}
	if n != 17 {
		t.Fatalf("%d messages on GBA_PROOFS, want 17", n)
	}
	sort.Strings(subjects)
	for _, want := range []string{"gba.proofs.CN.business", "gba.proofs.CN.certificate", "gba.proofs.CN.approval",
		"gba.proofs.HK.business", "gba.proofs.HK.certificate", "gba.proofs.HK.approval",
		"gba.proofs.MO.business", "gba.proofs.MO.certificate", "gba.proofs.MO.approval"} {
		if i := sort.SearchStrings(subjects, want); i == len(subjects) || subjects[i] != want {
			t.Errorf("nothing on %s", want)
		}
	}

	// Replaying a block publishes duplicates, which the stream drops by id.
	last := len(c.Records) - 1
	p.Hook(st.ProveRoot)(c.Records[last], c.Blocks[last])
	waitFor(t, "duplicates", func() bool { return p.Stats().Duplicates == 2 })

	// A hook called when the state is no longer at the block's height is
	// detected: the block is skipped and counted, nothing published.
	p.Hook(st.ProveRoot)(c.Records[0], c.Blocks[0])
	if s := p.Stats(); s.Skipped != 1 || s.Generated != 19 {
		t.Fatalf("stats after a stale hook: %+v", s)
	}
}

// TestProofPublisherOverflow: with no QueueWait a full queue drops bundles
// and counts them at once; with one the hook waits for room, and drops
// only once the wait is over.
func TestProofPublisherOverflow(t *testing.T) {
	c := prooftest.Build(t, t.TempDir())
	srv := startBus(t)
	p := newPublisher(t, srv, node.ProofPublisherConfig{Queue: 3, QueueWait: -1})
	c.Replay(t, t.TempDir(), func(rec *blocklog.Record, blk *block.Block, st *licenses.State) {
		if rec.Header.Height == 1 {
			p.Hook(st.ProveRoot)(rec, blk) // not started: nothing leaves the queue
		}
	})
	if s := p.Stats(); s.Generated != 10 || s.Dropped != 7 || s.Queued != 3 {
		t.Fatalf("stats %+v", s)
	}
	p.Start(context.Background())
	waitFor(t, "the queue to drain", func() bool { return p.Stats().Published == 3 })

	// Waiting: the publisher starts a moment after the hook blocks.
	waiting := newPublisher(t, srv, node.ProofPublisherConfig{Queue: 3, QueueWait: time.Minute})
	go func() {
		time.Sleep(100 * time.Millisecond)
		waiting.Start(context.Background())
	}()
	c.Replay(t, t.TempDir(), func(rec *blocklog.Record, blk *block.Block, st *licenses.State) {
		if rec.Header.Height == 1 {
			waiting.Hook(st.ProveRoot)(rec, blk)
		}
	})
	if s := waiting.Stats(); s.Generated != 10 || s.Dropped != 0 {
		t.Fatalf("a hook that may wait: %+v", s)
	}
	// A short wait runs out: the rest of the block is dropped.
	short := newPublisher(t, srv, node.ProofPublisherConfig{Queue: 3, QueueWait: 50 * time.Millisecond})
	start := time.Now()
	c.Replay(t, t.TempDir(), func(rec *blocklog.Record, blk *block.Block, st *licenses.State) {
		if rec.Header.Height == 1 {
			short.Hook(st.ProveRoot)(rec, blk)
		}
	})
	if s := short.Stats(); s.Dropped != 7 || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("a wait that ran out: %+v after %v", s, time.Since(start))
	}
}

func writeDataDir(t *testing.T) (*prooftest.Chain, string) { return prooftest.BuildDataDir(t) }

func TestOpenLedger(t *testing.T) {
	c, dir := writeDataDir(t)
	l, err := node.OpenLedger(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if l.Orderer != "hongkong" || l.Blocks.Height() != c.Height() || l.State.Height() != c.Height() {
		t.Fatalf("ledger of %s at %d/%d", l.Orderer, l.Blocks.Height(), l.State.Height())
	}
	if _, err := node.OpenLedger(dir, "hongkong"); err == nil {
		t.Error("opened a ledger whose state is in use")
	}
	l.Close()
	if _, err := node.OpenLedger(dir, "macao"); !errors.Is(err, node.ErrNoLedger) {
		t.Errorf("orderer without a ledger: %v", err)
	}
	if _, err := node.OpenLedger(dir, "nobody"); !errors.Is(err, node.ErrNoLedger) {
		t.Errorf("unknown orderer: %v", err)
	}
	if _, err := node.OpenLedger(t.TempDir(), ""); err == nil {
		t.Error("opened an empty directory")
	}
}

// sourceLedger is a gateway.Ledger over a stopped node's ledger: proofs
// only, verified as the system's own ledger does; down fails every call.
type sourceLedger struct {
	src   proof.Source
	trust *keys.Bundle
	down  bool
}

func (l *sourceLedger) Lookup(context.Context, schemas.TxID) (gateway.Location, bool, error) {
	return gateway.Location{}, false, nil
}
func (l *sourceLedger) WaitTx(ctx context.Context, _ schemas.TxID) (gateway.Location, error) {
	<-ctx.Done()
	return gateway.Location{}, ctx.Err()
}
func (l *sourceLedger) SealedSeq() uint64 { return 0 }
func (l *sourceLedger) LatestProof(_ context.Context, key string) (*proof.Bundle, error) {
	if l.down {
		return nil, errors.New("no orderer")
	}
	b, err := proof.Latest(l.src, key)
	if err != nil {
		return nil, err
	}
	_, err = proof.Verify(l.trust, b)
	return b, err
}

// TestProofHandler serves fresh proofs from a node's ledger through the
// gateway's proof route.
func TestProofHandler(t *testing.T) {
	c, dir := writeDataDir(t)
	l, err := node.OpenLedger(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	led := &sourceLedger{src: l.Source(), trust: c.Trust}
	gw := gateway.New(gateway.Config{Chain: c.Trust.Chain, Ledger: led, Logger: quiet})
	mux := http.NewServeMux()
	gw.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string, accept string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	jur, id, _ := schemas.SplitLicenseKey(c.Keys["cn-business"])
	for _, tc := range []struct{ path, accept, ctype string }{
		{"/v1/licenses/" + string(jur) + "/" + id + "/proof", "", "application/json"},
		{"/v1/licenses/cn/" + id + "/proof?format=binary", "", gateway.ProofMediaType},
		{"/v1/licenses/CN/" + id + "/proof", gateway.ProofMediaType, gateway.ProofMediaType},
	} {
		resp, body := get(tc.path, tc.accept)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ctype {
			t.Fatalf("%s: %d %s %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if resp.Header.Get("Baybus-Status") != "revoked" || resp.Header.Get("Baybus-Height") != "4" {
			t.Errorf("headers %v", resp.Header)
		}
		b, err := proof.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(body, []byte("GBP1")) != (tc.ctype == gateway.ProofMediaType) {
			t.Errorf("%s: body form does not match %s", tc.path, tc.ctype)
		}
		vd, err := proof.Verify(c.Trust, b)
		if err != nil {
			t.Fatal(err)
		}
		if vd.Status != schemas.StatusRevoked || vd.Height != 4 || vd.Record == nil {
			t.Fatalf("verdict %s at %d", vd.Status, vd.Height)
		}
	}
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/licenses/CN/NOSUCH/proof", 404, "not_found"},
		{"/v1/licenses/XX/" + id + "/proof", 400, "bad_request"},
		{"/v1/licenses/CN/" + id + "/proof?format=xml", 400, "bad_request"},
	} {
		resp, body := get(tc.path, "")
		var e struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != tc.status || json.Unmarshal(body, &e) != nil || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want %d %s", tc.path, resp.StatusCode, body, tc.status, tc.code)
		}
	}
	led.down = true
	if resp, _ := get("/v1/licenses/CN/"+id+"/proof", ""); resp.StatusCode != 503 {
		t.Errorf("no source: %d", resp.StatusCode)
	}
}

func readMark(t *testing.T, path string) uint64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		t.Fatalf("proof mark %q: %v", raw, err)
	}
	return h
}

// counter reads a counter of the system's registry.
// TestProofPublisherResume: without a mark file the mark starts at the
// ledger's height and nothing is published; with a mark below it, every
// license the blocks above changed gets one fresh proof that verifies; a
// mark file that is not a height is refused.
func TestProofPublisherResume(t *testing.T) {
	c, dir := writeDataDir(t)
	l, err := node.OpenLedger(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := startBus(t)
	ctx := context.Background()
	markFile := filepath.Join(t.TempDir(), node.ProofMarkFile)
	top := l.Blocks.Height()

	p := newPublisher(t, srv, node.ProofPublisherConfig{})
	p.Start(ctx)
	if err := p.Resume(ctx, markFile, l.Source(), nil); err != nil {
		t.Fatal(err)
	}
	if got := readMark(t, markFile); got != top {
		t.Fatalf("new mark %d, want the height %d", got, top)
	}

	// Licenses changed above height 2, by the OK transactions.
	want := map[string]bool{}
	for h := uint64(3); h <= top; h++ {
		blk, _, err := l.Source().Block(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range blk.Txs() {
			if tx.Result == block.OK {
				d, err := schemas.DecodeTx(tx.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				want[d.LicenseKey()] = true
			}
		}
	}
	if len(want) == 0 || top < 3 {
		t.Fatalf("the test chain has %d blocks, %d licenses above 2", top, len(want))
	}
	if err := os.WriteFile(markFile, []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p2 := newPublisher(t, srv, node.ProofPublisherConfig{})
	p2.Start(ctx)
	if err := p2.Resume(ctx, markFile, l.Source(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the backfill", func() bool { return p2.Stats().Published == uint64(len(want)) })
	waitFor(t, "the mark", func() bool { return readMark(t, markFile) == top })
	if s := p.Stats(); s.Generated != 0 {
		t.Errorf("the first publisher made %d proofs without a mark to resume from", s.Generated)
	}

	nc, err := srv.Connect("operator")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cons, err := js.OrderedConsumer(ctx, bus.StreamProofs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(len(want), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for m := range msgs.Messages() {
		b, err := proof.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proof.Verify(c.Trust, b); err != nil {
			t.Fatalf("%s: %v", b.Key, err)
		}
		got[b.Key] = true
	}
	if len(got) != len(want) {
		t.Fatalf("proofs of %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("no proof of %s", k)
		}
	}

	// A backfill that cannot finish (its publisher never starts: the
	// queue stays full) does not hold Close, and leaves the mark where it
	// was; the next run publishes everything above it.
	if err := os.WriteFile(markFile, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stuck := newPublisher(t, srv, node.ProofPublisherConfig{Queue: 4})
	if err := stuck.Resume(ctx, markFile, l.Source(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the backfill to fill half the queue", func() bool { return stuck.Stats().Queued == 3 })
	closed := make(chan struct{})
	go func() { stuck.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits on a backfill that cannot finish")
	}
	if got := readMark(t, markFile); got != 0 {
		t.Fatalf("mark %d after a backfill that published nothing, want 0", got)
	}
	before := p2.Stats().Published
	p4 := newPublisher(t, srv, node.ProofPublisherConfig{})
	p4.Start(ctx)
	if err := p4.Resume(ctx, markFile, l.Source(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mark after a full backfill", func() bool { return readMark(t, markFile) == top })
	if s := p4.Stats(); s.Generated == 0 || s.Published != s.Generated || p2.Stats().Published != before {
		t.Errorf("full backfill: %+v", s)
	}

	if err := os.WriteFile(markFile, []byte("4x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p3 := newPublisher(t, srv, node.ProofPublisherConfig{})
	if err := p3.Resume(ctx, markFile, l.Source(), nil); err == nil || !strings.Contains(err.Error(), "not a height") {
		t.Errorf("a torn mark file: %v", err)
	}
}
