package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream and subject names (DESIGN.md, firm).
const (
	StreamTx     = "GBA_TX"
	StreamBlocks = "GBA_BLOCKS"
	StreamProofs = "GBA_PROOFS"

	SubjectTxAll   = "gba.tx.*"
	SubjectBlocks  = "gba.blocks"
	SubjectProofs  = "gba.proofs.>"
	subjectTxCity  = "gba.tx."
	subjectBFT     = "gba.bft."
	subjectSync    = "gba.sync."
	subjectQuery   = "gba.query."
	subjectProofsP = "gba.proofs."
)

// TxSubject is the subject a city publishes its batches on.
func TxSubject(city string) string { return subjectTxCity + city }

// BFTSubject is an orderer's consensus inbox.
func BFTSubject(node string) string { return subjectBFT + node }

// SyncSubject is an orderer's block-fetch service.
func SyncSubject(node string) string { return subjectSync + node }

// QuerySubject is an orderer's ledger query service (ledger/query):
// transaction lookups and commit waits for gateways, fresh proofs and
// chain reads for gateways and readers.
func QuerySubject(node string) string { return subjectQuery + node }

// ProofSubject is where license proofs of a jurisdiction and kind go.
func ProofSubject(jurisdiction, kind string) string {
	return subjectProofsP + jurisdiction + "." + kind
}

// PersonalProofSubject is where the orderers publish, apart, the proofs of
// a jurisdiction's and kind's records that hold natural persons' names or
// identity numbers in plaintext (chains of rules version 1 and 2; issue
// 14 §4): "gba.proofs.CN.certificate.personal". Its fifth token keeps it
// outside every filter of ProofSubject's form, "gba.proofs.CN.*"
// included, so only a personal grant reads it.
func PersonalProofSubject(jurisdiction, kind string) string {
	return ProofSubject(jurisdiction, kind) + personalToken
}

const personalToken = ".personal"

// StreamConfig tunes the streams.
type StreamConfig struct {
	Replicas         int           // 1 on one server, 3 on a cluster
	DuplicatesWindow time.Duration // GBA_TX dedup window; default 10 minutes
	MaxAge           time.Duration // GBA_TX upper bound on a batch's age; default 7 days (orderers ack within seconds)
	MaxMsgSize       int32         // default 1 MiB
	MemoryForProofs  bool          // keep GBA_PROOFS in memory (tests)
	// ProofsMaxAge bounds how long GBA_PROOFS keeps a proof; default 30
	// days. A proof is about 2.8 KB, 1.3 KB on disk once S2 has compressed
	// what the proofs of a block share (header, certificate, upper paths).
	// Any node rebuilds one on request (GET /v1/licenses/{jur}/{id}/proof),
	// so a subscriber away for longer reconciles instead of replaying.
	ProofsMaxAge time.Duration
	// Orderers, when set, are the orderers whose durable consumers read
	// GBA_TX. The stream then keeps a batch only until each of them has
	// acknowledged it (interest retention; an orderer acknowledges once the
	// batch's block is fsynced), so it holds the unsealed backlog rather
	// than MaxAge of traffic. EnsureStreams creates those consumers before
	// it switches the retention, because an interest stream without
	// consumers drops what is published to it. MaxAge stays an upper bound
	// (an orderer that never comes back pins nothing longer). Empty: limits
	// retention, every batch kept for MaxAge.
	Orderers []string
	// Placement puts every stream's replicas on one cluster of a
	// supercluster, or on the servers with given tags; nil lets JetStream
	// choose (the cluster of the server the operator is connected to).
	Placement *jetstream.Placement
}

// OrdererConsumer is the durable GBA_TX consumer of an orderer.
func OrdererConsumer(orderer string) string { return "orderer-" + orderer }

// OrdererConsumerConfig is the GBA_TX consumer an orderer reads every batch
// through: explicit acks, from the stream's first message.
func OrdererConsumerConfig(orderer string, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       OrdererConsumer(orderer),
		Description:   "orderer " + orderer + ": every batch, acked once sealed",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: SubjectTxAll,
	}
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicatesWindow == 0 {
		c.DuplicatesWindow = 10 * time.Minute
	}
	if c.MaxAge == 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.MaxMsgSize == 0 {
		c.MaxMsgSize = 1 << 20
	}
	if c.ProofsMaxAge == 0 {
		c.ProofsMaxAge = 30 * 24 * time.Hour
	}
	return c
}

// StreamConfigs returns the three stream definitions.
func StreamConfigs(c StreamConfig) []jetstream.StreamConfig {
	c = c.withDefaults()
	scs := []jetstream.StreamConfig{
		{Name: StreamTx, Subjects: []string{SubjectTxAll}, Storage: jetstream.FileStorage, Replicas: c.Replicas,
			Duplicates: c.DuplicatesWindow, MaxAge: c.MaxAge, MaxMsgSize: c.MaxMsgSize, Discard: jetstream.DiscardOld,
			// A batch's transactions repeat their member names, chain,
			// city and jurisdiction; JetStream compresses a block of
			// the file store when it is full, so what the orderers
			// read soon after the publish is read from memory as it was.
			Compression: jetstream.S2Compression,
			Description: "signed batches from the city gateways"},
		{Name: StreamBlocks, Subjects: []string{SubjectBlocks}, Storage: jetstream.FileStorage, Replicas: c.Replicas,
			MaxMsgSize: c.MaxMsgSize, Description: "sealed block headers with quorum certificates",
			// Every orderer publishes each header; the header hash is the message id.
			Duplicates: c.DuplicatesWindow},
		{Name: StreamProofs, Subjects: []string{SubjectProofs}, Storage: jetstream.FileStorage, Replicas: c.Replicas,
			MaxMsgSize: c.MaxMsgSize, Duplicates: c.DuplicatesWindow, MaxAge: c.ProofsMaxAge, Discard: jetstream.DiscardOld,
			Compression: jetstream.S2Compression,
			Description: "license proofs for cross-boundary services"},
	}
	if c.Placement != nil {
		for i := range scs {
			p := *c.Placement
			scs[i].Placement = &p
		}
	}
	return scs
}

// EnsureStreams creates the streams, or updates them to the given
// configuration: calling it again changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, c StreamConfig) error {
	for _, sc := range StreamConfigs(c) {
		if c.MemoryForProofs && sc.Name == StreamProofs {
			sc.Storage = jetstream.MemoryStorage
		}
		if sc.Name == StreamTx && len(c.Orderers) > 0 {
			if err := ensureInterest(ctx, js, sc, c.Orderers); err != nil {
				return err
			}
			continue
		}
		if err := ensureStream(ctx, js, sc); err != nil {
			return err
		}
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	_, err := js.CreateOrUpdateStream(ctx, sc)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("bus: stream %s: %w", sc.Name, err)
	}
	return nil
}

// ensureInterest brings GBA_TX to interest retention without a moment in
// which it has that retention and lacks an orderer's consumer: the stream
// first exists with its present retention (limits when new), then the
// consumers, then the switch. Consumers that exist are left as their
// orderers configured them.
func ensureInterest(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig, orderers []string) error {
	pre := sc
	if info, err := js.Stream(ctx, sc.Name); err == nil {
		pre.Retention = info.CachedInfo().Config.Retention
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("bus: stream %s: %w", sc.Name, err)
	}
	if err := ensureStream(ctx, js, pre); err != nil {
		return err
	}
	for _, o := range orderers {
		_, err := js.CreateConsumer(ctx, sc.Name, OrdererConsumerConfig(o, 30*time.Second, 1024))
		if err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
			return fmt.Errorf("bus: stream %s: consumer %s: %w", sc.Name, OrdererConsumer(o), err)
		}
	}
	sc.Retention = jetstream.InterestPolicy
	return ensureStream(ctx, js, sc)
}
