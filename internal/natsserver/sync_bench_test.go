package natsserver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// BenchmarkClusterSync measures what JetStream's sync_interval costs on the
// deployment's shape of GBA_TX: three replicas, interest retention, five
// orderer consumers that pull and acknowledge every message, 1 KiB
// messages published asynchronously by the cities. "default" is
// nats-server's two-minute interval (asynchronous flushes of a replicated
// stream's store), "always" every write flushed to the operating system
// and the Raft logs fsynced; docs/faults.md has the figures.
//
//	go test -run XXX -bench ClusterSync -benchtime 20000x ./internal/natsserver
func BenchmarkClusterSync(b *testing.B) {
	for _, sync := range []string{"", "always"} {
		name := sync
		if name == "" {
			name = "default"
		}
		b.Run(name, func(b *testing.B) { benchClusterSync(b, sync) })
	}
}

func benchClusterSync(b *testing.B, syncInterval string) {
	orderers := []string{"hongkong", "macao", "qianhai", "hengqin", "nansha"}
	ids, err := bus.NewIdentities(schemas.CityTokens(), orderers)
	if err != nil {
		b.Fatal(err)
	}
	c := newTestCluster(b, ids, func(sc *ServerConfig) { sc.SyncInterval = syncInterval })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	op, err := c.servers[0].Connect("operator")
	if err != nil {
		b.Fatal(err)
	}
	defer op.Close()
	if err := bus.WaitJetStream(ctx, op); err != nil {
		b.Fatal(err)
	}
	js, _ := jetstream.New(op)
	if err := poll(ctx, func(ctx context.Context) error {
		return bus.EnsureStreams(ctx, js, bus.StreamConfig{Replicas: 3, Orderers: orderers})
	}); err != nil {
		b.Fatal(err)
	}
	if _, err := streamCurrent(ctx, js, bus.StreamTx, 3); err != nil {
		b.Fatal(err)
	}

	// The orderers: each acknowledges every message it is given.
	var acked sync.WaitGroup
	acked.Add(len(orderers) * b.N)
	for i, o := range orderers {
		nc, err := c.servers[i%len(c.servers)].Connect(bus.IdentityName(bus.RoleOrderer, o))
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		ojs, _ := jetstream.New(nc)
		cons, err := ojs.Consumer(ctx, bus.StreamTx, bus.OrdererConsumer(o))
		if err != nil {
			b.Fatal(err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			if m.Ack() == nil {
				acked.Done()
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
	}

	cities := schemas.CityTokens()
	payload := make([]byte, 1024)
	b.ResetTimer()
	start := time.Now()
	var pubs sync.WaitGroup
	for p, city := range cities {
		n := b.N / len(cities)
		if p < b.N%len(cities) {
			n++
		}
		nc, err := c.servers[p%len(c.servers)].Connect(bus.IdentityName(bus.RoleCity, city))
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		pjs, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
		pubs.Go(func() {
			for i := range n {
				msg := &nats.Msg{Subject: bus.TxSubject(city), Data: payload, Header: nats.Header{}}
				msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d", city, i))
				for {
					if _, err := pjs.PublishMsgAsync(msg); err == nil {
						break
					}
					<-pjs.PublishAsyncComplete()
				}
			}
			<-pjs.PublishAsyncComplete()
		})
	}
	pubs.Wait()
	stored := time.Since(start)
	acked.Wait()
	all := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/stored.Seconds(), "stored/s")
	b.ReportMetric(float64(b.N)/all.Seconds(), "acked/s")
}
