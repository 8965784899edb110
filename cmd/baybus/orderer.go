package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/orderer"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

func newOrdererCmd() *cobra.Command {
	var (
		id, url, creds, dataDir, trustFile, keyFile string
		lf                                          logFlags
		engine                                      bft.Options
	)
	cmd := &cobra.Command{
		Use:   "orderer",
		Short: "Run one orderer as its own process against an external NATS server or cluster",
		Long: `orderer runs one member of the ordering service: it consumes the whole GBA_TX
stream through its own durable consumer, takes part in SmartBFT consensus on
gba.bft.<id>, keeps its block log, transaction index and license state under
--data, serves block sync on gba.sync.<id>, and publishes sealed headers on
gba.blocks. The streams must exist (baybus up creates them on its embedded server).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger()
			if err != nil {
				return err
			}
			trust, err := keys.LoadBundle(trustFile)
			if err != nil {
				return err
			}
			key, err := keys.ReadFile(keyFile)
			if err != nil {
				return err
			}
			nc, err := bus.Connect(url, creds, "orderer-"+id)
			if err != nil {
				return err
			}
			defer nc.Close()
			// No fsync for the state: the block log is fsynced first and
			// the orderer replays into the state what a crash took from it.
			st, err := licenses.Open(filepath.Join(dataDir, "state"), state.Options{NoSync: true})
			if err != nil {
				return err
			}
			defer st.Close()
			// Every orderer process publishes the proofs of what it commits;
			// GBA_PROOFS keeps one copy per transaction id.
			sink, err := bus.NewPublisher(nc)
			if err != nil {
				return err
			}
			proofs, err := system.NewProofPublisher(system.ProofPublisherConfig{Sink: sink, Logger: log})
			if err != nil {
				return err
			}
			proofs.Start(cmd.Context())
			defer proofs.Close()
			node, err := orderer.New(orderer.Config{Name: id, Trust: trust, Key: key, Conn: nc, DataDir: dataDir, State: st,
				Engine: engine, Logger: log.With("orderer", id), OnCommit: proofs.Hook(st.ProveRoot)})
			if err != nil {
				return err
			}
			// Publish what the last run's queue held, or its replayed blocks never proved.
			src := system.LedgerSource{Blocks: node.Store(), State: st.Store}
			if err := proofs.Resume(cmd.Context(), filepath.Join(dataDir, system.ProofMarkFile), src); err != nil {
				node.Stop()
				return err
			}
			defer proofs.StopBackfill() // before the ledger closes
			if err := node.Start(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "orderer %s running at height %d (Ctrl-C to stop)\n", id, node.Height())
			<-cmd.Context().Done()
			proofs.StopBackfill()
			node.Stop()
			log.Info("orderer stopped", "height", node.Height())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&id, "id", "", "orderer name, one of the trust bundle's orderers (required)")
	fl.StringVar(&url, "nats", "nats://127.0.0.1:4222", "NATS URL(s), comma-separated for a cluster")
	fl.StringVar(&creds, "creds", "", "NATS credentials: NKey seed file (nats/orderer-<id>.nk) or JWT .creds")
	fl.StringVar(&dataDir, "data", "", "this orderer's data directory (required)")
	fl.StringVar(&trustFile, "trust", "", "trust bundle, trust.json (required)")
	fl.StringVar(&keyFile, "key", "", "this orderer's key file, keys/orderer-<id>.key (required)")
	// Consensus timing: every member of a cluster should run the same values.
	fl.Uint64Var(&engine.BlockMaxBatches, "block-batches", 0, "batches per block (default 64)")
	fl.DurationVar(&engine.BlockInterval, "block-interval", 0, "longest wait for a block to fill once its first batch arrived (default 10ms)")
	fl.DurationVar(&engine.ForwardTimeout, "forward-timeout", 0, "wait before forwarding a batch the leader has not ordered (default 5s)")
	fl.DurationVar(&engine.ComplainTimeout, "complain-timeout", 0, "further wait before asking for a view change (default 20s)")
	fl.DurationVar(&engine.HeartbeatTimeout, "heartbeat-timeout", 0, "leader silence that starts a view change (default 10s)")
	fl.Uint64Var(&engine.DecisionsPerLeader, "decisions-per-leader", 0, "blocks before the leader rotates (default 100)")
	for _, f := range []string{"id", "data", "trust", "key"} {
		_ = cmd.MarkFlagRequired(f)
	}
	lf.add(cmd)
	return cmd
}
