package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// DefaultOrdererListen is where `baybus orderer` serves /healthz, /readyz
// and /metrics.
const DefaultOrdererListen = "127.0.0.1:9480"

func newOrdererCmd() *cobra.Command {
	var (
		id, url, creds, dataDir, trustFile, keyFile, listen string
		tlsCA, tlsCert, tlsKey                              string
		noProofs, noCatalog, join                           bool
		readyLag                                            uint64
		lf                                                  logFlags
		engine                                              bft.Options
		af                                                  archiveFlags
		archiveKeep                                         uint64
		archiveEvery                                        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "orderer",
		Short: "Run one orderer as its own process against an external NATS server or cluster",
		Long: `orderer runs one member of the ordering service (ledger/node, the same node
'baybus up' runs): it consumes the whole GBA_TX stream through its own durable
consumer, takes part in SmartBFT consensus on gba.bft.<id>, keeps its block log,
transaction index, license state and license catalogue under --data, serves block
sync on gba.sync.<id> and the ledger query service (transaction lookups, commit
waits, fresh proofs, chain reads) on gba.query.<id>, publishes sealed headers on
gba.blocks and license proofs on gba.proofs.>, and serves on --listen:

  GET /healthz   200 while the process runs (JSON: chain, node, height, leader)
  GET /readyz    200 once the engine runs and the orderer is within --ready-lag
                 blocks of the newest header on gba.blocks, else 503 with the reason
  GET /metrics   Prometheus: height, view, leader, decisions per leader, GBA_TX
                 consumer lag, commit latency, results per kind and action, sync
                 fetches, block-log fsync latency, disk bytes per store, proofs

A bus beyond loopback speaks TLS (tls://host:port): --tls-ca names the CAs to
trust (default the consortium's tls/ca.crt beside --trust), --tls-cert and
--tls-key a client certificate if the servers ask for one. The streams must exist (baybus up creates them on its embedded server). Every
member of a cluster must run the same consensus timings (the defaults are the
ones 'baybus up' uses; see ledger/node.EngineDefaults).

With --archive-dir or --archive-s3 (credentials in $BAYBUS_S3_ACCESS_KEY and
$BAYBUS_S3_SECRET_KEY), the orderer moves the blocks more than --archive-keep
below its top to the archive every --archive-every, and reads them back from there
when asked (docs/storage.md).

With --join, --id is an orderer a configuration block added (baybus consortium
propose --add-orderer), not one of --trust's, which stays the genesis: the orderer
fetches the chain from the orderers in force, judging each block by the
configuration in force at its height, and starts consensus once the configuration
lists it with --key (docs/governance.md). Started again, it finds itself in its
own log; --join is then harmless.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger()
			if err != nil {
				return err
			}
			objects, err := af.objects()
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
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			defer ln.Close()
			var opts []nats.Option
			ca := tlsCA
			if ca == "" && strings.HasPrefix(url, "tls://") {
				ca, _ = consortium.CAPaths(filepath.Dir(trustFile))
			}
			if ca != "" {
				opt, err := bus.TLSOption(ca, tlsCert, tlsKey)
				if err != nil {
					return err
				}
				opts = append(opts, opt)
			} else if tlsCert != "" || tlsKey != "" {
				return errors.New("orderer: --tls-cert and --tls-key need --tls-ca (or a tls:// URL)")
			}
			nc, err := bus.Connect(url, creds, bus.IdentityName(bus.RoleOrderer, id), opts...)
			if err != nil {
				return err
			}
			defer nc.Close()
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			// Every orderer process publishes the proofs of what it commits;
			// GBA_PROOFS keeps one copy per transaction id.
			// The node runs under a keeper, which opens it again if it
			// fails (a full disk, damage the scrub found): the process
			// recovers by itself once the cause is gone.
			k, err := node.Keep(cmd.Context(), node.Config{Name: id, Trust: trust, Key: key, Join: join, Conn: nc, DataDir: dataDir, Engine: engine,
				Proofs: node.ProofsConfig{Publish: !noProofs}, NoCatalog: noCatalog, ReadyMaxLag: readyLag,
				Archive:    node.ArchiveConfig{Objects: objects, KeepBlocks: archiveKeep, Every: archiveEvery},
				Registerer: reg, Logger: log}, node.KeepConfig{})
			if err != nil {
				return err
			}
			defer k.Stop()
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				k.Node().Handler(reg).ServeHTTP(w, r)
			}), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("orderer: http server stopped", "err", err)
				}
			}()
			fmt.Fprintf(cmd.OutOrStdout(), "orderer %s of chain %s at height %d; health, readiness and metrics on http://%s (Ctrl-C to stop)\n",
				id, trust.Chain, k.Node().Height(), ln.Addr())
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
			k.Stop()
			log.Info("orderer stopped", "height", k.Node().Height())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&id, "id", "", "orderer name, one of the trust bundle's orderers, or with --join one a configuration block added (required)")
	fl.BoolVar(&join, "join", false, "join as an orderer a configuration block added: fetch the chain before taking part")
	fl.StringVar(&url, "nats", "nats://127.0.0.1:4222", "NATS URL(s), comma-separated for a cluster")
	fl.StringVar(&creds, "creds", "", "NATS credentials: NKey seed file (nats/orderer-<id>.nk) or JWT .creds")
	fl.StringVar(&dataDir, "data", "", "this orderer's data directory (required)")
	fl.StringVar(&trustFile, "trust", "", "trust bundle, trust.json (required)")
	fl.StringVar(&keyFile, "key", "", "this orderer's key file, keys/orderer-<id>.key (required)")
	fl.StringVar(&listen, "listen", DefaultOrdererListen, "HTTP address of /healthz, /readyz and /metrics")
	fl.StringVar(&tlsCA, "tls-ca", "", "CA certificates (PEM) to trust for a TLS bus (default tls/ca.crt beside --trust for a tls:// URL)")
	fl.StringVar(&tlsCert, "tls-cert", "", "client certificate (PEM) for a bus that verifies clients")
	fl.StringVar(&tlsKey, "tls-key", "", "its key (PEM)")
	fl.Uint64Var(&readyLag, "ready-lag", 0, "blocks behind the cluster this orderer may be and still be ready (default 8)")
	fl.BoolVar(&noProofs, "no-proofs", false, "do not publish license proofs on gba.proofs.> (another orderer does)")
	fl.BoolVar(&noCatalog, "no-catalog", false, "keep no license catalogue (the query service then cannot list licenses)")
	// Consensus timing: every member of a cluster should run the same values.
	fl.Uint64Var(&engine.BlockMaxBatches, "block-batches", 0, fmt.Sprintf("batches per block (default %d)", node.DefaultBlockMaxBatches))
	fl.DurationVar(&engine.BlockInterval, "block-interval", 0, "longest wait for a block to fill once its first batch arrived (default 10ms)")
	fl.DurationVar(&engine.ForwardTimeout, "forward-timeout", 0, fmt.Sprintf("wait before forwarding a batch the leader has not ordered (default %v)", node.DefaultForwardTimeout))
	fl.DurationVar(&engine.ComplainTimeout, "complain-timeout", 0, fmt.Sprintf("further wait before asking for a view change (default %v)", node.DefaultComplainTimeout))
	fl.DurationVar(&engine.HeartbeatTimeout, "heartbeat-timeout", 0, fmt.Sprintf("leader silence that starts a view change (default %v)", node.DefaultHeartbeatTimeout))
	fl.Uint64Var(&engine.DecisionsPerLeader, "decisions-per-leader", 0, "blocks before the leader rotates (default 100)")
	af.add(fl)
	fl.Uint64Var(&archiveKeep, "archive-keep", 0, "with --archive-*: newest blocks kept in the live log (default 10000)")
	fl.DurationVar(&archiveEvery, "archive-every", 0, "with --archive-*: how often to archive (default 10m)")
	for _, f := range []string{"id", "data", "trust", "key"} {
		_ = cmd.MarkFlagRequired(f)
	}
	lf.add(cmd)
	return cmd
}
