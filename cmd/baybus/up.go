package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/schemas/keys"
)

// logFlags is the --log-level flag shared by long-running commands.
type logFlags struct{ level string }

func (l *logFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
}

func (l *logFlags) logger() (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(l.level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", l.level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})), nil
}

// systemFlags are the flags of commands that start the embedded system.
type systemFlags struct {
	cfg           system.Config
	tls, insecure bool
	logFlags
}

func (f *systemFlags) add(cmd *cobra.Command, withListen bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.cfg.DataDir, "data", system.DefaultDataDir, "data directory (consortium keys, JetStream store, block logs, state)")
	fl.IntVar(&f.cfg.Orderers, "orderers", system.DefaultOrderers, "number of orderers, 4 to 11 (the first five are the demonstration nodes HK, Macao, Qianhai, Hengqin, Nansha)")
	fl.StringVar(&f.cfg.Chain, "chain", system.DefaultChain, "chain id (fixed when the data directory is first created)")
	fl.StringVar(&f.cfg.Scheme, "scheme", "Ed25519", "signature scheme for new keys: Ed25519, ML-DSA-65, Ed25519-Dilithium2, SM2 (GB/T 32918 over SM3)")
	fl.IntVar(&f.cfg.Rules, "rules", keys.MaxRules, "the ledger's rules version of a new chain (3: personal data only as salted digests, shared under grants; an existing data directory keeps its own)")
	fl.StringVar(&f.cfg.JetStreamSync, "jetstream-sync", "", `JetStream fsync interval ("" server default of 2m, "always", or a duration)`)
	if withListen {
		fl.StringVar(&f.cfg.Listen, "listen", system.DefaultListen, "HTTP address of the gateways")
		fl.StringVar(&f.cfg.NATSListen, "nats-listen", system.DefaultNATSListen, `NATS client address for external orderers and subscribers ("-" for in-process only)`)
		fl.BoolVar(&f.cfg.NoAuth, "no-auth", false, "serve the gateways without authentication (loopback only; development)")
		fl.BoolVar(&f.tls, "tls-from-consortium", false, "serve HTTPS and NATS over TLS with certificates the consortium CA issues (needed beyond loopback)")
		fl.BoolVar(&f.insecure, "insecure", false, "allow plaintext HTTP and NATS on addresses beyond loopback")
	}
	f.logFlags.add(cmd)
}

func (f *systemFlags) config() (system.Config, error) {
	log, err := f.logger()
	if err != nil {
		return system.Config{}, err
	}
	cfg := f.cfg
	if cfg.ArchiveDir == "" && (cfg.ArchiveKeep != 0 || cfg.ArchiveEvery != 0) {
		return system.Config{}, errors.New("--archive-keep and --archive-every need --archive-dir")
	}
	cfg.Logger = log
	// One choice covers every listener that may leave the host.
	cfg.TLS.FromConsortium, cfg.BusTLS = f.tls, f.tls
	cfg.TLS.Insecure, cfg.BusInsecure = f.insecure, f.insecure
	cfg.Bridges = gatewayBridges
	return cfg, nil
}

func newUpCmd() *cobra.Command {
	var f systemFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the embedded system: NATS with JetStream, the orderers and the eleven city gateways",
		Long: `up starts an in-process NATS server with JetStream (file store under --data),
the orderers (default the five demonstration nodes) and the eleven city gateways
behind one HTTP listener, and runs until SIGINT or SIGTERM. On the first run it
creates the consortium (keys, NATS identities, trust.json) in --data.

HTTP API (see README.md):
  POST /v1/cities/{city}/events[?format=native][&wait=commit]
  GET  /v1/tx/{id}[?render=cn|hk|mo]
  GET  /v1/licenses/{jurisdiction}/{id}/proof
  GET  /v1/licenses/{jurisdiction}/{id}/history, /v1/licenses?city&holder&status
  GET  /v1/blocks?from&limit, /v1/blocks/{height}, /v1/blocks/events (SSE)
  GET  /healthz  /readyz  /metrics  /openapi.json
  GET  /  the explorer (blocks, licenses, proofs, a verifier in the browser)

Every request but /healthz and /readyz needs a credential: on every start up
makes sure each city has a development token in DATA/clients/<city>.token
(publish and read; 'baybus gateway token' manages more), and prints where.
--no-auth serves without (loopback only).

--archive-dir DIR makes each orderer move the blocks more than --archive-keep
below its top to DIR/<orderer> every --archive-every, and read them back from
there on demand (proofs, block sync, rebuilding an index): one archive per
orderer. Start up again with the same --archive-dir: an orderer's live log
without its archive no longer starts at block 1. (docs/storage.md)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			// A busy NATS port is reported before the data directory is
			// made or touched.
			if l := cfg.NATSListen; l != "" && l != "-" {
				if err := natsserver.CheckListen(l); err != nil {
					return natsStartError(err)
				}
			}
			sys, err := system.Start(cmd.Context(), cfg)
			if err != nil {
				return natsStartError(err)
			}
			scheme := "http"
			if cfg.TLS.FromConsortium {
				scheme = "https"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "baybus up: gateways on %s://%s, NATS on %s, data in %s (Ctrl-C to stop)\n",
				scheme, sys.HTTPAddr, orNone(sys.Bus.ClientURL()), cfg.DataDir)
			fmt.Fprintf(cmd.OutOrStdout(), "explorer: %s://%s/\n", scheme, sys.HTTPAddr)
			if sys.ClientsDir != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "development tokens: %s/<city>.token (e.g. -H \"Authorization: Bearer $(cat %s)\"; the explorer asks for one)\n",
					sys.ClientsDir, filepath.Join(sys.ClientsDir, "shenzhen.token"))
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "gateways without authentication (--no-auth)")
			}
			<-cmd.Context().Done()
			start := time.Now()
			cfg.Logger.Info("shutting down: flushing gateways, stopping orderers, closing stores")
			sys.Stop()
			cfg.Logger.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	f.add(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&f.cfg.ArchiveDir, "archive-dir", "", "archive each orderer's cold blocks in DIR/<orderer> (read back on demand)")
	fl.Uint64Var(&f.cfg.ArchiveKeep, "archive-keep", 0, "with --archive-dir: newest blocks kept in each orderer's live log (default 10000)")
	fl.DurationVar(&f.cfg.ArchiveEvery, "archive-every", 0, "with --archive-dir: how often to archive (default 10m)")
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "(in-process only)"
	}
	return s
}
