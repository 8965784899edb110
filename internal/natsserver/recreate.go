package natsserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/schemas/bus"
)

// Leaderless returns those of names whose stream answers with no leader (a
// replica answers stream info without one, nats-server 2.10 on). A stream
// that does not answer within attempt is not reported: the cluster may
// still be electing its meta leader.
func Leaderless(ctx context.Context, nc *nats.Conn, attempt time.Duration, names ...string) ([]string, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	var out []string
	for _, name := range names {
		actx, cancel := context.WithTimeout(ctx, attempt)
		st, err := js.Stream(actx, name)
		cancel()
		if err != nil {
			continue
		}
		if cl := st.CachedInfo().Cluster; cl != nil && cl.Leader == "" {
			out = append(out, name)
		}
	}
	return out, ctx.Err()
}

// RecreateStream deletes a stream and creates the bus's streams again as
// bus.EnsureStreams does (with the orderers' consumers of c): the
// operator's step for a stream whose replicas cannot elect a leader
// (docs/faults.md, "The finding"). JetStream's meta leader deletes a
// leaderless stream (every replica answers then). What the stream held is
// gone: for GBA_TX, the orderers' ingesters create their consumers again
// when theirs end, and the gateways' outboxes publish again every batch not
// yet sealed, which the ledger records once. It retries with short
// attempts until ctx ends.
func RecreateStream(ctx context.Context, nc *nats.Conn, name string, c bus.StreamConfig) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("natsserver: %w", err)
	}
	// Attempts of a few seconds, again until ctx ends, whatever the error:
	// while the deletion reaches every replica, creating the stream again
	// may be refused as well as go unanswered.
	retry := bus.Retry{Attempt: 5 * time.Second, Backoff: 500 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, Also: func(error) bool { return true }}
	if err := retry.Do(ctx, "delete "+name, func(ctx context.Context) error {
		err := js.DeleteStream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("natsserver: recreate %s: %w", name, err)
	}
	if err := retry.Do(ctx, "create streams", func(ctx context.Context) error { return bus.EnsureStreams(ctx, js, c) }); err != nil {
		return fmt.Errorf("natsserver: recreate %s: %w", name, err)
	}
	return nil
}
