package blocksync_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/bft/envelope"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/blocksync"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// world is a real embedded NATS server, a consortium of four orderers and
// a chain of five real blocks.
type world struct {
	t    testing.TB
	cons *keys.Consortium
	srv  *natsserver.Embedded
	recs []*blocklog.Record
}

func newWorld(t testing.TB) *world {
	t.Helper()
	cons := blocklogtest.Consortium(t)
	ids, err := bus.NewIdentities(schemas.CityTokens(), cons.Bundle.Orderers)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, cons: cons, srv: natstest.Start(t, ids, natstest.Options{}), recs: blocklogtest.Chain(t, cons, 5, 2, 2)}
}

// conn connects as an orderer (or, with "", as the service identity).
func (w *world) conn(orderer string) *nats.Conn {
	w.t.Helper()
	id := bus.IdentityName(bus.RoleService, "")
	if orderer != "" {
		id = bus.IdentityName(bus.RoleOrderer, orderer)
	}
	nc, err := w.srv.Connect(id)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(nc.Close)
	return nc
}

// store is a block log holding the first n blocks.
func (w *world) store(n int) *blocklog.Store {
	w.t.Helper()
	s, err := blocklog.OpenStore(w.t.TempDir(), wal.Options{NoSync: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { s.Close() })
	for _, r := range w.recs[:n] {
		if err := s.Append(r); err != nil {
			w.t.Fatal(err)
		}
	}
	return s
}

type batchMap map[string]*schemas.Batch

func (m batchMap) Batch(id string) *schemas.Batch { return m[id] }

// serve starts name's server over the first n blocks.
func (w *world) serve(name string, n int, batches blocksync.Batches) *blocksync.Server {
	w.t.Helper()
	s, err := blocksync.Serve(blocksync.ServerConfig{Conn: w.conn(name), Trust: w.cons.Bundle, Name: name, Key: w.cons.Orderers[name],
		Store: w.store(n), Batches: batches, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(s.Stop)
	return s
}

// client is name's client ("" for a service's, without a key). A status
// request waits 300 ms at most.
func (w *world) client(name string, timeout time.Duration) *blocksync.Client {
	w.t.Helper()
	cfg := blocksync.ClientConfig{Conn: w.conn(name), Trust: w.cons.Bundle, Timeout: timeout, StatusTimeout: 300 * time.Millisecond}
	if name != "" {
		cfg.Name, cfg.Key = name, w.cons.Orderers[name]
	}
	c, err := blocksync.NewClient(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func TestStatusAndBlocks(t *testing.T) {
	w := newWorld(t)
	o := w.cons.Bundle.Orderers
	srv := w.serve(o[0], 5, nil)
	w.serve(o[1], 3, nil)
	ctx := context.Background()
	for _, c := range []*blocksync.Client{w.client(o[2], 2*time.Second), w.client("", 2*time.Second)} {
		if h, err := c.Status(ctx, o[0]); err != nil || h != 5 {
			t.Fatalf("status: %d, %v", h, err)
		}
		// o[3] serves nothing: it is reported, the others answer.
		hs, err := c.Heights(ctx, []string{o[3], o[1], o[0]})
		if want := []blocksync.PeerHeight{{o[0], 5}, {o[1], 3}}; len(hs) != 2 || hs[0] != want[0] || hs[1] != want[1] || err == nil {
			t.Fatalf("heights %v, %v; want %v and an error for %s", hs, err, want, o[3])
		}

		var got []uint64
		n, err := c.Blocks(ctx, o[0], nil, 10, func(rec *blocklog.Record, blk *block.Block) error {
			if rec.Header.Hash() != w.recs[blk.Header.Height-1].Header.Hash() {
				t.Fatalf("block %d is not the one stored", blk.Header.Height)
			}
			got = append(got, blk.Header.Height)
			return nil
		})
		if err != nil || n != 5 || len(got) != 5 || got[4] != 5 {
			t.Fatalf("blocks from 1: %d %v, %v", n, got, err)
		}
		n, err = c.Blocks(ctx, o[0], &w.recs[2].Header, 1, func(*blocklog.Record, *block.Block) error { return nil })
		if err != nil || n != 1 {
			t.Fatalf("block 4 alone: %d, %v", n, err)
		}
		// The caller's error stops the fetch and comes back as is.
		stop := errors.New("enough")
		n, err = c.Blocks(ctx, o[0], nil, 10, func(_ *blocklog.Record, blk *block.Block) error {
			if blk.Header.Height == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("stopped at block 2: %d, %v", n, err)
		}
		// Past the peer's height: no block, no error.
		n, err = c.Records(ctx, o[1], 4, 10, func(uint64, []byte) error { return nil })
		if err != nil || n != 0 {
			t.Fatalf("past the peer's height: %d, %v", n, err)
		}
	}
	// Per client: 5, 1, and for the fetch stopped at block 2 what the
	// server had sent by then, up to the 5 asked for (the first client's
	// were all sent before the server took the second's requests).
	if st := srv.Stats(); st.Status != 4 || st.Blocks != 6 || st.RecordsSent < 5+1+5+5+1+2 || st.RecordsSent > 2*(5+1+5) {
		t.Fatalf("server stats %+v", st)
	}
}

// TestBatches: only an orderer may ask for unsealed batches, and gets the
// ones the peer holds.
func TestBatches(t *testing.T) {
	w := newWorld(t)
	o := w.cons.Bundle.Orderers
	bts := []*schemas.Batch{
		blocktest.Batch(w.cons, "macao", 1, blocktest.Tx(w.cons.Bundle.Chain, "macao", "B1", schemas.ActionIssue)),
		blocktest.Batch(w.cons, "macao", 2, blocktest.Tx(w.cons.Bundle.Chain, "macao", "B2", schemas.ActionIssue)),
		blocktest.Batch(w.cons, "hongkong", 1, blocktest.Tx(w.cons.Bundle.Chain, "hongkong", "B3", schemas.ActionIssue)),
	}
	srv := w.serve(o[0], 1, batchMap{bts[0].ID(): bts[0], bts[2].ID(): bts[2]})
	ctx := context.Background()
	var refs []block.BatchRef
	for _, b := range bts {
		refs = append(refs, block.RefOf(b))
	}
	var got []string
	refused, err := w.client(o[1], 2*time.Second).Batches(ctx, o[0], refs, func(b *schemas.Batch) error {
		got = append(got, b.ID())
		return nil
	})
	if err != nil || refused != 0 || len(got) != 2 || got[0] != bts[0].ID() || got[1] != bts[2].ID() {
		t.Fatalf("batches %v, refused %d, %v", got, refused, err)
	}
	if _, err := w.client("", time.Second).Batches(ctx, o[0], refs, func(*schemas.Batch) error { return nil }); err == nil {
		t.Fatal("a service asked for unsealed batches")
	}
	if st := srv.Stats(); st.Batches != 1 || st.BatchesSent != 2 {
		t.Fatalf("server stats %+v", st)
	}
}

// TestServerRefuses sends the server requests it must not answer: a
// batches request addressed to another orderer, one signed by a key that
// is not the sender's, and malformed frames. Each is counted, and the asker
// hears nothing.
func TestServerRefuses(t *testing.T) {
	w := newWorld(t)
	o := w.cons.Bundle.Orderers
	srv := w.serve(o[0], 1, batchMap{})
	nc := w.conn(o[1])
	req := func(to string, signer keys.Signer) []byte {
		payload := append([]byte("GSQ1\x03\x01"), 4, 'a', 'b', 'c', 'd')
		f, err := envelope.Seal(w.cons.Bundle.Chain, signer, envelope.KindSyncReq, o[1], to, 1, payload, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return f[0]
	}
	mallory, _ := keys.Generate(w.cons.Orderers[o[1]].KeyID(), keys.Ed25519, rand.Reader)
	for i, data := range [][]byte{
		req(o[2], w.cons.Orderers[o[1]]), // addressed to another orderer
		req(o[0], mallory),               // forged
		[]byte("GSQ1\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), // unknown op
		[]byte("GSQ1\x01"), // short
		[]byte("GBE1garbage"),
	} {
		_, err := nc.Request(bus.SyncSubject(o[0]), data, 300*time.Millisecond)
		if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("request %d answered: %v", i, err)
		}
	}
	if st := srv.Stats(); st.Refused != 5 || st.Batches != 0 || st.Status != 0 {
		t.Fatalf("server stats %+v", st)
	}
}

// byzantine answers on a peer's subject with what its current behaviour
// makes of a request: the reply messages, and who signs them as whom.
type byzantine struct {
	mu     sync.Mutex
	reply  func(req []byte) [][]byte
	signer keys.Signer
	from   string
	msgID  uint64
}

func (b *byzantine) set(reply func([]byte) [][]byte, signer keys.Signer, from string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reply, b.signer, b.from = reply, signer, from
}

func (w *world) byzantine(peer string) *byzantine {
	w.t.Helper()
	b := &byzantine{}
	nc := w.conn(peer)
	_, err := nc.Subscribe(bus.SyncSubject(peer), func(m *nats.Msg) {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.reply(m.Data) {
			b.msgID++
			frames, err := envelope.Seal(w.cons.Bundle.Chain, b.signer, envelope.KindSyncResp, b.from, "", b.msgID, p, 1<<20)
			if err != nil {
				w.t.Error(err)
				return
			}
			for _, f := range frames {
				nc.Publish(m.Reply, f)
			}
		}
	})
	if err != nil {
		w.t.Fatal(err)
	}
	nc.Flush()
	return b
}

// TestClientRefuses: the client hands on nothing a peer cannot prove: a
// reply signed by another key, or claiming another sender, a record of
// another height, a record that does not verify, more than asked, a batch
// not asked for.
func TestClientRefuses(t *testing.T) {
	w := newWorld(t)
	o := w.cons.Bundle.Orderers
	ctx := context.Background()
	c := w.client(o[3], 2*time.Second)
	peer := w.byzantine(o[0])
	tampered := *w.recs[1]
	tampered.VoteMsgs = append([][]byte(nil), tampered.VoteMsgs...)
	tampered.VoteMsgs[0] = w.recs[2].VoteMsgs[0]
	mallory, _ := keys.Generate(w.cons.Orderers[o[0]].KeyID(), keys.Ed25519, rand.Reader)
	records := func(rs ...*blocklog.Record) func([]byte) [][]byte {
		return func([]byte) [][]byte {
			var out [][]byte
			for _, r := range rs {
				out = append(out, r.Encode())
			}
			return append(out, nil)
		}
	}
	for _, tc := range []struct {
		name   string
		signer keys.Signer
		from   string
		reply  func([]byte) [][]byte
		want   error
		got    int
	}{
		{"signed by another key", mallory, o[0], records(w.recs[0]), envelope.ErrBadSignature, 0},
		{"signed by another orderer", w.cons.Orderers[o[1]], o[1], records(w.recs[0]), blocksync.ErrReply, 0},
		{"a gap", w.cons.Orderers[o[0]], o[0], records(w.recs[0], w.recs[2]), blocksync.ErrReply, 1},
		{"a record that does not verify", w.cons.Orderers[o[0]], o[0], records(w.recs[0], &tampered), blocklog.ErrVoteMsg, 1},
		{"more than asked", w.cons.Orderers[o[0]], o[0], records(w.recs[0], w.recs[1], w.recs[2], w.recs[3]), blocksync.ErrReply, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer.set(tc.reply, tc.signer, tc.from)
			n, err := c.Blocks(ctx, o[0], nil, 3, func(*blocklog.Record, *block.Block) error { return nil })
			if !errors.Is(err, tc.want) || n != tc.got {
				t.Fatalf("got %d blocks, %v; want %d and %v", n, err, tc.got, tc.want)
			}
		})
	}

	t.Run("batch not asked for", func(t *testing.T) {
		asked := blocktest.Batch(w.cons, "macao", 1, blocktest.Tx(w.cons.Bundle.Chain, "macao", "A", schemas.ActionIssue))
		other := blocktest.Batch(w.cons, "macao", 2, blocktest.Tx(w.cons.Bundle.Chain, "macao", "B", schemas.ActionIssue))
		peer.set(func([]byte) [][]byte { return [][]byte{other.Encode(), []byte("junk"), asked.Encode(), nil} }, w.cons.Orderers[o[0]], o[0])
		var got []string
		refused, err := w.client(o[1], 2*time.Second).Batches(ctx, o[0], []block.BatchRef{block.RefOf(asked)}, func(b *schemas.Batch) error {
			got = append(got, b.ID())
			return nil
		})
		if err != nil || refused != 2 || len(got) != 1 || got[0] != asked.ID() {
			t.Fatalf("got %v, refused %d, %v", got, refused, err)
		}
	})
}

// TestServerStopWaits: Stop returns only after the request in progress,
// and the server answers nothing afterwards.
func TestServerStopWaits(t *testing.T) {
	w := newWorld(t)
	o := w.cons.Bundle.Orderers
	st := &slowStore{Store: w.store(5), entered: make(chan struct{}), release: make(chan struct{})}
	srv, err := blocksync.Serve(blocksync.ServerConfig{Conn: w.conn(o[0]), Trust: w.cons.Bundle, Name: o[0], Key: w.cons.Orderers[o[0]], Store: st})
	if err != nil {
		t.Fatal(err)
	}
	c := w.client(o[1], 2*time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := c.Records(context.Background(), o[0], 1, 5, func(uint64, []byte) error { return nil })
		done <- err
	}()
	<-st.entered
	stopped := make(chan struct{})
	go func() { srv.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a request was being served")
	case <-time.After(50 * time.Millisecond):
	}
	close(st.release)
	<-stopped
	<-done
	if _, err := c.Status(context.Background(), o[0]); err == nil {
		t.Fatal("a stopped server answered")
	}
}

type slowStore struct {
	*blocklog.Store
	once             sync.Once
	entered, release chan struct{}
}

func (s *slowStore) Raw(h uint64) ([]byte, error) {
	s.once.Do(func() { close(s.entered); <-s.release })
	return s.Store.Raw(h)
}

// A peer whose oldest blocks were archived (its live log starts above
// block 1) serves them from its archive to a joiner that starts from
// block 1: the joiner gets the whole chain, verified and hash-linked
// across the archive's boundary. With a chunk of the archive damaged, the
// peer serves what it can read and no more: the joiner gets no block past
// the damage and no wrong one.
func TestServesArchivedBlocks(t *testing.T) {
	w := newWorld(t)
	o := w.cons.Bundle.Orderers
	ctx := context.Background()
	arch := t.TempDir()
	cold, err := archive.Open(ctx, archive.Dir{Path: arch}, archive.Config{})
	if err != nil {
		t.Fatal(err)
	}
	live := t.TempDir()
	s, err := blocklog.OpenStoreCold(live, wal.Options{NoSync: true}, cold)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range w.recs {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	// One block per object, so that damage to one leaves the others.
	if n, err := s.Archive(ctx, 3, 1); err != nil || n != 3 || s.First() != 4 || cold.Height() != 3 {
		t.Fatalf("archive: %d blocks, %v; live log from %d, archive to %d", n, err, s.First(), cold.Height())
	}
	srv, err := blocksync.Serve(blocksync.ServerConfig{Conn: w.conn(o[0]), Trust: w.cons.Bundle, Name: o[0], Key: w.cons.Orderers[o[0]],
		Store: s, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	joiner := w.client(o[1], 2*time.Second)
	if h, err := joiner.Status(ctx, o[0]); err != nil || h != 5 {
		t.Fatalf("status of the archived peer: %d, %v", h, err)
	}
	var got []uint64
	n, err := joiner.Blocks(ctx, o[0], nil, 10, func(rec *blocklog.Record, blk *block.Block) error {
		if rec.Header.Hash() != w.recs[blk.Header.Height-1].Header.Hash() {
			t.Fatalf("block %d is not the one sealed", blk.Header.Height)
		}
		got = append(got, blk.Header.Height)
		return nil
	})
	if err != nil || n != 5 || len(got) != 5 || got[0] != 1 || got[4] != 5 {
		t.Fatalf("blocks from 1 off an archived peer: %d %v, %v", n, got, err)
	}
	if st := srv.Stats(); st.RecordsSent != 5 {
		t.Fatalf("server stats %+v: want the 5 records sent", st)
	}

	// Damage the archived chunk of block 2 and open the peer again (its
	// archive's cache gone): it reads block 1 from the archive, refuses
	// block 2's chunk, and ends its reply there.
	srv.Stop()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(arch, "blocks", fmt.Sprintf("%020d-%020d-*", 2, 2)))
	if err != nil || len(names) != 1 {
		t.Fatalf("the chunk of block 2: %v %v", names, err)
	}
	raw, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	if err := os.WriteFile(names[0], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cold2, err := archive.Open(ctx, archive.Dir{Path: arch}, archive.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := blocklog.OpenStoreCold(live, wal.Options{NoSync: true}, cold2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	if s2.First() != 4 || s2.Height() != 5 {
		t.Fatalf("reopened peer: live log %d..%d, want 4..5", s2.First(), s2.Height())
	}
	srv2, err := blocksync.Serve(blocksync.ServerConfig{Conn: w.conn(o[2]), Trust: w.cons.Bundle, Name: o[2], Key: w.cons.Orderers[o[2]],
		Store: s2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv2.Stop)
	got = nil
	n, err = joiner.Blocks(ctx, o[2], nil, 10, func(_ *blocklog.Record, blk *block.Block) error {
		got = append(got, blk.Header.Height)
		return nil
	})
	if err != nil || n != 1 || len(got) != 1 || got[0] != 1 {
		t.Fatalf("blocks off a peer with a damaged archive: %d %v, %v; want block 1 only", n, got, err)
	}
}

// TestReplySubscription: the client's one reply subscription serves
// concurrent requests, each getting only its own replies; a peer nobody
// serves is reported at once (no responders), and a request in progress
// fails, rather than waiting out its time-out, when the client or its
// connection closes.
func TestReplySubscription(t *testing.T) {
	w := newWorld(t)
	o := w.cons.Bundle.Orderers
	w.serve(o[0], 5, nil)
	w.serve(o[1], 3, nil)
	ctx := context.Background()
	c := w.client(o[3], 30*time.Second)

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			peer, want := o[i%2], uint64(5-2*(i%2))
			if h, err := c.Status(ctx, peer); err != nil || h != want {
				t.Errorf("status of %s: %d, %v; want %d", peer, h, err, want)
			}
			n, err := c.Records(ctx, peer, 1, 10, func(uint64, []byte) error { return nil })
			if err != nil || n != int(want) {
				t.Errorf("records of %s: %d, %v; want %d", peer, n, err, want)
			}
		})
	}
	wg.Wait()

	if _, err := c.Status(ctx, o[2]); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("status of an orderer nobody serves: %v", err)
	}

	// o[2] now hears requests and never answers.
	silent := w.conn(o[2])
	heard := make(chan struct{}, 4)
	if _, err := silent.Subscribe(bus.SyncSubject(o[2]), func(*nats.Msg) { heard <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	silent.Flush()
	pending := func(c *blocksync.Client) chan error {
		errc := make(chan error, 1)
		go func() {
			_, err := c.Records(ctx, o[2], 1, 1, func(uint64, []byte) error { return nil })
			errc <- err
		}()
		<-heard
		return errc
	}

	errc := pending(c)
	c.Close()
	if err := <-errc; !errors.Is(err, blocksync.ErrClosed) {
		t.Fatalf("request in progress at Close: %v", err)
	}
	if _, err := c.Status(ctx, o[0]); !errors.Is(err, blocksync.ErrClosed) {
		t.Fatalf("request after Close: %v", err)
	}

	nc := w.conn(o[3])
	c2, err := blocksync.NewClient(blocksync.ClientConfig{Conn: nc, Trust: w.cons.Bundle, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	errc = pending(c2)
	nc.Close()
	if err := <-errc; !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatalf("request in progress when the connection closed: %v", err)
	}
	if _, err := c2.Status(ctx, o[0]); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatalf("request on a closed connection: %v", err)
	}
}
