package deploy

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/schemas/bus"
)

// Streams are the bus's streams.
var Streams = []string{bus.StreamTx, bus.StreamBlocks, bus.StreamProofs}

// Leaderless returns the bus's streams that answer with no leader while
// JetStream's meta leader answers (docs/faults.md): after a restart, for
// the length of an election (4-9 s); for good, a stream whose replicas each
// wait for a leader to catch them up.
func (d *Deployment) Leaderless(ctx context.Context) ([]string, error) {
	nc, err := d.Connect(d.Plan.StreamRegion, bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	return natsserver.Leaderless(ctx, nc, bus.DefaultAttempt, Streams...)
}

// RecreateStream deletes a stream and creates the streams again as Up did
// (natsserver.RecreateStream): the operator's step for a stream left with
// no leader for good, which loses what the stream held and relies on the
// gateways' outboxes to publish again what was not sealed.
func (d *Deployment) RecreateStream(ctx context.Context, name string) error {
	nc, err := d.Connect(d.Plan.StreamRegion, bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		return err
	}
	defer nc.Close()
	sc := bus.StreamConfig{Replicas: d.Plan.StreamReplicas, Orderers: d.Plan.Orderers}
	if d.Plan.StreamRegion != "" {
		sc.Placement = &jetstream.Placement{Cluster: d.Plan.StreamRegion}
	}
	d.log.Warn("deploy: deleting a stream to create it again", "stream", name)
	return natsserver.RecreateStream(ctx, nc, name, sc)
}
