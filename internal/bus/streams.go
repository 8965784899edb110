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
	subjectProofsP = "gba.proofs."
)

// TxSubject is the subject a city publishes its batches on.
func TxSubject(city string) string { return subjectTxCity + city }

// BFTSubject is an orderer's consensus inbox.
func BFTSubject(node string) string { return subjectBFT + node }

// SyncSubject is an orderer's block-fetch service.
func SyncSubject(node string) string { return subjectSync + node }

// ProofSubject is where license proofs of a jurisdiction and kind go.
func ProofSubject(jurisdiction, kind string) string {
	return subjectProofsP + jurisdiction + "." + kind
}

// StreamConfig tunes the streams.
type StreamConfig struct {
	Replicas         int           // 1 on one server, 3 on a cluster
	DuplicatesWindow time.Duration // GBA_TX dedup window; default 10 minutes
	MaxAge           time.Duration // GBA_TX retention; default 7 days (orderers ack within seconds)
	MaxMsgSize       int32         // default 1 MiB
	MemoryForProofs  bool          // keep GBA_PROOFS in memory (tests)
	// ProofsMaxAge bounds how long GBA_PROOFS keeps a proof; default 30
	// days. Proofs are about 2.5 KB per transaction, and any node rebuilds
	// one on request (GET /v1/licenses/{jur}/{id}/proof), so a subscriber
	// away for longer reconciles instead of replaying.
	ProofsMaxAge time.Duration
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
	return []jetstream.StreamConfig{
		{Name: StreamTx, Subjects: []string{SubjectTxAll}, Storage: jetstream.FileStorage, Replicas: c.Replicas,
			Duplicates: c.DuplicatesWindow, MaxAge: c.MaxAge, MaxMsgSize: c.MaxMsgSize, Discard: jetstream.DiscardOld,
			Description: "signed batches from the city gateways"},
		{Name: StreamBlocks, Subjects: []string{SubjectBlocks}, Storage: jetstream.FileStorage, Replicas: c.Replicas,
			MaxMsgSize: c.MaxMsgSize, Description: "sealed block headers with quorum certificates",
			// Every orderer publishes each header; the header hash is the message id.
			Duplicates: c.DuplicatesWindow},
		{Name: StreamProofs, Subjects: []string{SubjectProofs}, Storage: jetstream.FileStorage, Replicas: c.Replicas,
			MaxMsgSize: c.MaxMsgSize, Duplicates: c.DuplicatesWindow, MaxAge: c.ProofsMaxAge, Discard: jetstream.DiscardOld,
			Description: "license proofs for cross-boundary services"},
	}
}

// EnsureStreams creates the streams, or updates them to the given
// configuration: calling it again changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, c StreamConfig) error {
	for _, sc := range StreamConfigs(c) {
		if c.MemoryForProofs && sc.Name == StreamProofs {
			sc.Storage = jetstream.MemoryStorage
		}
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue
			}
			return fmt.Errorf("bus: stream %s: %w", sc.Name, err)
		}
	}
	return nil
}
