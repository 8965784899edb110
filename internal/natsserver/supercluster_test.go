package natsserver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/schemas/bus"
)

// TestSuperclusterPlacement joins three one-server clusters (Guangdong,
// Hong Kong, Macao) with gateways, places the streams in Guangdong by
// cluster, and checks that a Hong Kong city connected to its own region's
// server publishes into them across the gateway, and that an orderer in
// Macao reads what was stored.
func TestSuperclusterPlacement(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-cluster supercluster")
	}
	ids := testIdentities(t)
	dir := t.TempDir()
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	regions := []string{"guangdong", "hongkong", "macao"}
	ports := freePorts(t, 3*len(regions))
	addr := func(kind, i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[kind*len(regions)+i]) }
	var remotes []RemoteGateway
	for i, r := range regions {
		remotes = append(remotes, RemoteGateway{Name: r, URLs: []string{"nats://" + addr(2, i)}})
	}
	for i, r := range regions {
		srv, err := StartServer(ServerConfig{Name: r + "-1", StoreDir: filepath.Join(dir, r), Listen: addr(0, i), Identities: ids,
			// A JetStream cluster needs routes: a server alone in its
			// cluster routes to itself, which the server ignores.
			ClusterName: r, ClusterListen: addr(1, i), Routes: []string{"nats-route://" + addr(1, i)}, Tags: []string{"region:" + r},
			Gateway: &GatewayConfig{Name: r, Listen: addr(2, i), Remotes: remotes}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dial := func(region int, name string) *nats.Conn {
		t.Helper()
		nc, err := bus.Connect("nats://"+addr(0, region), bus.SeedPath(dir, name), name, nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	op := dial(1, "operator") // administered from Hong Kong, placed in Guangdong
	if err := bus.WaitJetStream(ctx, op); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(op)
	place := &jetstream.Placement{Cluster: "guangdong"}
	if err := poll(ctx, func(ctx context.Context) error {
		return bus.EnsureStreams(ctx, js, bus.StreamConfig{Placement: place, Orderers: []string{"macao"}})
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{bus.StreamTx, bus.StreamBlocks, bus.StreamProofs} {
		var info *jetstream.StreamInfo
		if err := poll(ctx, func(ctx context.Context) error {
			st, err := js.Stream(ctx, name)
			if err == nil {
				info, err = st.Info(ctx)
			}
			if err == nil && (info.Cluster == nil || info.Cluster.Leader == "") {
				err = errors.New("no leader")
			}
			return err
		}); err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if info.Cluster.Name != "guangdong" || info.Cluster.Leader != "guangdong-1" {
			t.Errorf("stream %s is in cluster %q led by %q, want guangdong-1", name, info.Cluster.Name, info.Cluster.Leader)
		}
	}

	pub, err := bus.NewPublisher(dial(1, "city-hongkong"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := fmt.Sprintf("hk-%d", i)
		if err := poll(ctx, func(ctx context.Context) error {
			_, err := pub.Publish(ctx, bus.TxSubject("hongkong"), id, []byte(id))
			return err
		}); err != nil {
			t.Fatalf("publish from Hong Kong: %v", err)
		}
	}
	ojs, _ := jetstream.New(dial(2, "orderer-macao"))
	cons, err := ojs.CreateOrUpdateConsumer(ctx, bus.StreamTx, bus.OrdererConsumerConfig("macao", 30*time.Second, 16))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(3, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
	}
	if fmt.Sprint(got) != "[hk-0 hk-1 hk-2]" {
		t.Fatalf("the orderer in Macao read %v", got)
	}
}
