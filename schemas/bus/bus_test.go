package bus_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

func startServer(t *testing.T, listen string) (*natsserver.Embedded, *bus.Identities) {
	return startServerStreams(t, listen, bus.StreamConfig{})
}

// startServerStreams starts a server whose streams bus.EnsureStreams made with
// sc (twice: it is idempotent).
func startServerStreams(t *testing.T, listen string, sc bus.StreamConfig) (*natsserver.Embedded, *bus.Identities) {
	t.Helper()
	ids, err := bus.NewIdentities(schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: listen, Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	js := operatorJS(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 { // idempotent
		if err := bus.EnsureStreams(ctx, js, sc); err != nil {
			t.Fatal(err)
		}
	}
	return srv, ids
}

// operatorJS is JetStream over an operator connection closed with the test.
func operatorJS(t *testing.T, srv *natsserver.Embedded) jetstream.JetStream {
	t.Helper()
	nc, err := srv.Connect("operator")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// cityPublisher is a bus.Publisher over a city's connection closed with the
// test.
func cityPublisher(t *testing.T, srv *natsserver.Embedded, city string) *bus.Publisher {
	t.Helper()
	nc, err := srv.Connect("city-" + city)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pub, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestCityPublishesOnlyOnItsOwnSubject(t *testing.T) {
	srv, _ := startServer(t, "")
	pub := cityPublisher(t, srv, "shenzhen")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ack, err := pub.Publish(ctx, bus.TxSubject("shenzhen"), "b1", []byte("x"))
	if err != nil {
		t.Fatalf("own subject: %v", err)
	}
	if ack.Stream != bus.StreamTx || ack.Sequence != 1 {
		t.Fatalf("ack %+v", ack)
	}
	again, err := pub.Publish(ctx, bus.TxSubject("shenzhen"), "b1", []byte("x"))
	if err != nil || !again.Duplicate || again.Sequence != 1 {
		t.Fatalf("retried publish: ack %+v err %v, want duplicate of seq 1", again, err)
	}

	start := time.Now()
	_, err = pub.Publish(ctx, bus.TxSubject("macao"), "b2", []byte("y"))
	if !errors.Is(err, bus.ErrPermission) {
		t.Fatalf("foreign subject: err %v, want bus.ErrPermission", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("permission error took %v, want under a second", d)
	}
	if !strings.Contains(err.Error(), "gba.tx.macao") {
		t.Errorf("error does not name the subject: %v", err)
	}

	op, _ := srv.Connect("operator")
	defer op.Close()
	js, _ := jetstream.New(op)
	st, err := js.Stream(ctx, bus.StreamTx)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1 (nothing stored for the refused publish)", info.State.Msgs)
	}
}

func TestExternalConnectionWithSeedFile(t *testing.T) {
	srv, ids := startServer(t, "127.0.0.1:-1")
	dir := t.TempDir()
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(bus.SeedPath(dir, "city-macao"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("seed file mode %v err %v, want 0600", fi.Mode(), err)
	}
	nc, err := bus.Connect(srv.ClientURL(), bus.SeedPath(dir, "city-macao"), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, _ := bus.NewPublisher(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pub.Publish(ctx, bus.TxSubject("macao"), "m1", []byte("z")); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Connect(srv.ClientURL(), "", "anonymous", nats.MaxReconnects(0)); err == nil {
		t.Fatal("connection without credentials accepted")
	}
	loaded, err := bus.LoadIdentities(dir, schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := loaded.Get("city-macao"); u.Public != mustGet(t, ids, "city-macao").Public {
		t.Fatal("loaded identity differs")
	}
}

func mustGet(t *testing.T, ids *bus.Identities, name string) *bus.Identity {
	u, ok := ids.Get(name)
	if !ok {
		t.Fatalf("no %s", name)
	}
	return u
}

// TestStreamRetention: GBA_TX and GBA_PROOFS are bounded by age (proofs can
// be rebuilt by any node), an explicit age wins, and bus.EnsureStreams updates
// the retention of an existing stream.
func TestStreamRetention(t *testing.T) {
	srv, _ := startServer(t, "")
	js := operatorJS(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	age := func(name string) time.Duration {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config.MaxAge
	}
	if got := age(bus.StreamTx); got != 7*24*time.Hour {
		t.Errorf("%s MaxAge %v", bus.StreamTx, got)
	}
	if got := age(bus.StreamProofs); got != 30*24*time.Hour {
		t.Errorf("%s MaxAge %v, want 30 days", bus.StreamProofs, got)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamConfig{ProofsMaxAge: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := age(bus.StreamProofs); got != 48*time.Hour {
		t.Errorf("%s MaxAge %v after the update, want 48h", bus.StreamProofs, got)
	}
}

// TestProofStreamCompressed: GBA_PROOFS is S2-compressed on disk (the
// proofs of one block repeat its header, certificate and upper paths), an
// uncompressed stream from an older data dir is switched by bus.EnsureStreams,
// and proofs stored before and after the switch read back unchanged.
func TestProofStreamCompressed(t *testing.T) {
	srv, _ := startServer(t, "")
	js := operatorJS(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	config := func() jetstream.StreamConfig {
		t.Helper()
		s, err := js.Stream(ctx, bus.StreamProofs)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config
	}
	if got := config().Compression; got != jetstream.S2Compression {
		t.Fatalf("%s compression %v, want s2", bus.StreamProofs, got)
	}
	old := config()
	old.Compression = jetstream.NoCompression
	if _, err := js.UpdateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	// Proofs are published by an orderer; the operator only administers.
	ojs := connectJS(t, srv, "orderer-hongkong")
	before := bytes.Repeat([]byte("proof before "), 100)
	if _, err := ojs.Publish(ctx, bus.ProofSubject("CN", "br"), before); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if got := config().Compression; got != jetstream.S2Compression {
		t.Fatalf("after EnsureStreams: compression %v, want s2", got)
	}
	after := bytes.Repeat([]byte("proof after "), 100)
	if _, err := ojs.Publish(ctx, bus.ProofSubject("HK", "br"), after); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, bus.StreamProofs)
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range map[uint64][]byte{1: before, 2: after} {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Data, want) {
			t.Errorf("proof %d reads back as %q", seq, m.Data)
		}
	}
}

// TestTxStreamCompressed: GBA_TX is S2-compressed on disk too; an
// uncompressed interest stream from an older data dir is switched by
// bus.EnsureStreams, keeping its retention, and batches stored before and
// after the switch read back unchanged.
func TestTxStreamCompressed(t *testing.T) {
	orderers := []string{"hongkong", "macao", "qianhai", "hengqin"}
	srv, _ := startServerStreams(t, "", bus.StreamConfig{Orderers: orderers})
	js := operatorJS(t, srv)
	pub := cityPublisher(t, srv, "zhuhai")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	config := func() jetstream.StreamConfig {
		t.Helper()
		s, err := js.Stream(ctx, bus.StreamTx)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config
	}
	if got := config(); got.Compression != jetstream.S2Compression || got.Retention != jetstream.InterestPolicy {
		t.Fatalf("%s compression %v, retention %v; want s2, interest", bus.StreamTx, got.Compression, got.Retention)
	}
	old := config()
	old.Compression = jetstream.NoCompression
	if _, err := js.UpdateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	before := bytes.Repeat([]byte("batch before "), 100)
	if _, err := pub.Publish(ctx, bus.TxSubject("zhuhai"), "b1", before); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamConfig{Orderers: orderers}); err != nil {
		t.Fatal(err)
	}
	if got := config(); got.Compression != jetstream.S2Compression || got.Retention != jetstream.InterestPolicy {
		t.Fatalf("after EnsureStreams: compression %v, retention %v; want s2, interest", got.Compression, got.Retention)
	}
	after := bytes.Repeat([]byte("batch after "), 100)
	if _, err := pub.Publish(ctx, bus.TxSubject("zhuhai"), "b2", after); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, bus.StreamTx)
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range map[uint64][]byte{1: before, 2: after} {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Data, want) {
			t.Errorf("batch %d reads back as %q", seq, m.Data)
		}
	}
}

// TestStreamInterestRetention: with the orderers named, GBA_TX keeps a batch
// until every orderer's consumer has acknowledged it. An existing limits
// stream is switched without losing what it holds, the consumers are made
// before the switch, a second call leaves the orderers' own consumer
// settings alone, and a batch retried after every orderer acked it is still
// deduplicated.
func TestStreamInterestRetention(t *testing.T) {
	srv, _ := startServer(t, "") // limits retention, as older data dirs have it
	js := operatorJS(t, srv)
	pub := cityPublisher(t, srv, "shenzhen")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, id := range []string{"b1", "b2", "b3"} {
		if _, err := pub.Publish(ctx, bus.TxSubject("shenzhen"), id, []byte(id)); err != nil {
			t.Fatal(err)
		}
	}
	orderers := []string{"hongkong", "macao"}
	if err := bus.EnsureStreams(ctx, js, bus.StreamConfig{Orderers: orderers}); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, bus.StreamTx)
	if err != nil {
		t.Fatal(err)
	}
	info := func() *jetstream.StreamInfo {
		t.Helper()
		i, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	if got := info(); got.Config.Retention != jetstream.InterestPolicy || got.State.Msgs != 3 {
		t.Fatalf("after the switch: retention %v, %d messages; want interest and the 3 published before", got.Config.Retention, got.State.Msgs)
	}
	// An orderer configures its own consumer on start; bus.EnsureStreams again
	// must not undo that.
	if _, err := connectJS(t, srv, "orderer-hongkong").CreateOrUpdateConsumer(ctx, bus.StreamTx, bus.OrdererConsumerConfig("hongkong", 7*time.Second, 64)); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamConfig{Orderers: orderers}); err != nil {
		t.Fatal(err)
	}
	ordererJS := map[string]jetstream.JetStream{}
	for _, o := range orderers {
		ordererJS[o] = connectJS(t, srv, bus.IdentityName(bus.RoleOrderer, o))
	}
	ack := func(orderer string, n int) {
		t.Helper()
		c, err := ordererJS[orderer].Consumer(ctx, bus.StreamTx, bus.OrdererConsumer(orderer))
		if err != nil {
			t.Fatal(err)
		}
		batch, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			got++
		}
		if got != n {
			t.Fatalf("%s fetched %d batches, want %d", orderer, got, n)
		}
	}
	c1, err := js.Consumer(ctx, bus.StreamTx, bus.OrdererConsumer("hongkong"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := c1.CachedInfo().Config; cfg.AckWait != 7*time.Second || cfg.MaxAckPending != 64 {
		t.Fatalf("hongkong's consumer was reset: ack wait %v, max ack pending %d", cfg.AckWait, cfg.MaxAckPending)
	}
	ack("hongkong", 3)
	if got := info().State.Msgs; got != 3 {
		t.Fatalf("%d messages after one orderer of two acked all, want 3", got)
	}
	ack("macao", 2)
	if got := info().State.Msgs; got != 1 {
		t.Fatalf("%d messages after the second orderer acked two, want 1", got)
	}
	ack("macao", 1)
	if got := info().State.Msgs; got != 0 {
		t.Fatalf("%d messages after both acked everything, want 0", got)
	}
	again, err := pub.Publish(ctx, bus.TxSubject("shenzhen"), "b1", []byte("b1"))
	if err != nil || !again.Duplicate {
		t.Fatalf("retry of a sealed batch: %+v, %v; want a duplicate", again, err)
	}
}

// TestStreamInterestRetentionNew: a new GBA_TX with orderers named is an
// interest stream whose consumers exist before anything is published, so
// the first batch is kept.
func TestStreamInterestRetentionNew(t *testing.T) {
	srv, _ := startServerStreams(t, "", bus.StreamConfig{Orderers: []string{"hongkong"}})
	js := operatorJS(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Consumer(ctx, bus.StreamTx, bus.OrdererConsumer("hongkong")); err != nil {
		t.Fatalf("hongkong's consumer: %v", err)
	}
	if _, err := cityPublisher(t, srv, "macao").Publish(ctx, bus.TxSubject("macao"), "first", []byte("first")); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, bus.StreamTx)
	if err != nil {
		t.Fatal(err)
	}
	if i := s.CachedInfo(); i.Config.Retention != jetstream.InterestPolicy || i.State.Msgs != 1 {
		t.Fatalf("retention %v, %d messages; want interest and the first batch kept", i.Config.Retention, i.State.Msgs)
	}
}
