package natsserver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// TestNoLeaderIsReportedNotWaitedOut is issue 13 §2's "cluster JetStream
// requests hang until their deadline when there is no leader", on a real
// three-server cluster: with two of three servers down, GBA_TX has no
// leader. A single request (a publish waiting for its ack, a consumer's
// creation) gets no answer from a leader: it waits its whole deadline
// (and keeps waiting after a leader is back), or is told there are no
// responders. bus.Retry gives each attempt a short deadline: with no
// leader it fails with ErrNoLeader, distinct from a refusal, and once a
// server returns it gets its answer from the new leader.
func TestNoLeaderIsReportedNotWaitedOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	ids, err := bus.NewIdentities(schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, ids)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	op, err := bus.Connect(c.urls(), bus.SeedPath(dir, "operator"), "operator", nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if err := bus.WaitJetStream(ctx, op); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(op)
	if err := poll(ctx, func(ctx context.Context) error { return bus.EnsureStreams(ctx, js, bus.StreamConfig{Replicas: 3}) }); err != nil {
		t.Fatal(err)
	}
	info, err := streamCurrent(ctx, js, bus.StreamTx, 3)
	if err != nil {
		t.Fatal(err)
	}
	city, err := bus.Connect(c.urls(), bus.SeedPath(dir, "city-zhuhai"), "zhuhai", nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer city.Close()
	pub, err := bus.NewPublisher(city)
	if err != nil {
		t.Fatal(err)
	}
	retry := bus.Retry{Attempt: 500 * time.Millisecond, Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	publish := func(ctx context.Context, id string) error {
		return retry.Do(ctx, "publish "+id, func(ctx context.Context) error {
			_, err := pub.Publish(ctx, bus.TxSubject("zhuhai"), id, []byte(id))
			return err
		})
	}
	if err := publish(ctx, "z1"); err != nil {
		t.Fatal(err)
	}

	// Two of three down, the leader among them: no quorum, no leader.
	lead := c.index(info.Cluster.Leader)
	other := (lead + 1) % 3
	c.stop(lead)
	c.stop(other)
	t.Logf("stopped %s (GBA_TX's leader) and %s", c.configs[lead].Name, c.configs[other].Name)

	// One attempt gets no answer from a leader: it waits its whole
	// deadline, or (once the server knows no replica will answer) is told
	// there are no responders.
	for !city.IsConnected() {
		time.Sleep(20 * time.Millisecond)
	}
	one, cancelOne := context.WithTimeout(ctx, 3*time.Second)
	_, err = pub.Publish(one, bus.TxSubject("zhuhai"), "z2", []byte("z2"))
	cancelOne()
	if !bus.Unanswered(err) {
		t.Fatalf("publish with no leader, one attempt: %v, want no answer", err)
	}
	t.Logf("publish with no leader, one attempt: %v", err)

	// With short attempts the same wait ends in ErrNoLeader, which a
	// caller can tell from a refusal.
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	err = publish(short, "z2")
	cancelShort()
	if !errors.Is(err, bus.ErrNoLeader) {
		t.Fatalf("publish with no leader: %v, want ErrNoLeader", err)
	}
	t.Logf("publish with no leader: %v", err)
	// A consumer's creation may be refused (503, no quorum to place it)
	// rather than ignored: Also keeps trying it to the deadline.
	createConsumer := func(ctx context.Context) (attempts int, err error) {
		err = bus.Retry{Attempt: 500 * time.Millisecond, Also: bus.Unavailable}.Do(ctx, "create consumer", func(ctx context.Context) error {
			attempts++
			_, err := js.CreateOrUpdateConsumer(ctx, bus.StreamTx, bus.OrdererConsumerConfig("hongkong", 10*time.Second, 100))
			return err
		})
		return attempts, err
	}
	short, cancelShort = context.WithTimeout(ctx, 2*time.Second)
	n, err := createConsumer(short)
	cancelShort()
	if err == nil || !(errors.Is(err, bus.ErrNoLeader) || bus.Unavailable(err)) || n < 2 {
		t.Fatalf("create consumer with no leader: %v after %d attempts, want no answer or 503, tried again", err, n)
	}
	t.Logf("create consumer with no leader: %v", err)
	// A refusal is not retried, nor taken for a missing leader.
	err = retry.Do(ctx, "publish elsewhere", func(ctx context.Context) error {
		_, err := pub.Publish(ctx, bus.TxSubject("macao"), "m1", []byte("m1"))
		return err
	})
	if !errors.Is(err, bus.ErrPermission) || errors.Is(err, bus.ErrNoLeader) {
		t.Fatalf("a publish the server refuses: %v, want ErrPermission alone", err)
	}

	// A publish under way when a server returns gets its ack from the new
	// leader, long before its own deadline.
	done := make(chan error, 1)
	go func() { done <- publish(ctx, "z3") }()
	time.Sleep(time.Second)
	c.start(other)
	t.Logf("started %s again", c.configs[other].Name)
	if err := <-done; err != nil {
		t.Fatalf("publish while a leader is elected: %v", err)
	}
	if _, err := createConsumer(ctx); err != nil {
		t.Fatalf("create consumer once a leader is back: %v", err)
	}
	var got *jetstream.StreamInfo
	if err := retry.Do(ctx, "stream info", func(ctx context.Context) error {
		st, err := js.Stream(ctx, bus.StreamTx)
		if err == nil {
			got, err = st.Info(ctx)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// z2 may or may not have been stored by an attempt whose ack was lost;
	// z1 and z3 are, each once.
	if n := got.State.Msgs; n < 2 || n > 3 {
		t.Fatalf("GBA_TX holds %d messages, want 2 or 3", n)
	}
	t.Log(fmt.Sprintf("publish resumed under leader %s; %d messages", got.Cluster.Leader, got.State.Msgs))
}
