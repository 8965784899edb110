package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/internal/soak"
)

func newSoakCmd() *cobra.Command {
	var (
		cfg   soak.Config
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "Chaos soak: load the multi-process deployment while killing its processes at random; check nothing is lost",
		Long: `soak runs open-loop load (events at --rate, whatever the answers; half wait for
the commit) through the city gateways of the multi-process deployment, while it
kills -9, at random from --seed: an orderer, the leader, a NATS server, a gateway,
or every process at once, and starts them again. After each recovery an invariant
checker reads a copy of every orderer's block log: verify-chain passes, every event
with a committed receipt is on every orderer's chain exactly once, and the chains
(headers and state roots) agree at every height they share. At the end every
accepted receipt must be sealed too.

Without --cluster it starts a deployment of its own (3 NATS servers in Guangdong,
1 in Hong Kong and Macao, the five orderers, three gateways) on free ports in a
temporary directory, and removes it after (--keep keeps it). With --cluster DIR it
soaks a running 'scripts/cluster up' deployment and leaves it running.

It prints one JSON summary on stdout (faults by kind, receipts checked, lost,
duplicated, longest stall, recovery times, peak RSS of every process) and its
progress on stderr. Exit status 0 when every invariant held, 1 on any violation,
2 when it could not run. docs/faults.md has runs and their figures.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("seed") {
				cfg.Seed = time.Now().UnixNano() % 1_000_000
			}
			level := slog.LevelInfo
			if quiet {
				level = slog.LevelWarn
			}
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			fmt.Fprintf(cmd.ErrOrStderr(), "soak: seed %d, %s (repeat with --seed %d)\n", cfg.Seed, cfg.Duration, cfg.Seed)
			sum, err := soak.Run(cmd.Context(), cfg)
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if eerr := enc.Encode(sum); eerr != nil {
				return exitError{code: 2, err: eerr}
			}
			switch {
			case err != nil && sum.Checks == 0:
				return exitError{code: 2, err: err}
			case !sum.OK:
				return exitf(1, "soak: %d violations (seed %d)", sum.ViolationsTotal, cfg.Seed)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.Duration, "duration", soak.DefaultDuration, "how long load and faults go on")
	f.Int64Var(&cfg.Seed, "seed", 0, "seed of every random choice (default: from the clock, printed)")
	f.StringVar(&cfg.Cluster, "cluster", "", "state directory of a running deployment (scripts/cluster up) to soak instead of one of its own")
	f.StringVar(&cfg.Dir, "dir", "", "directory for the soak's own deployment (default a temporary one)")
	f.BoolVar(&cfg.Keep, "keep", false, "keep the soak's own deployment's directory (logs, data) after the run")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "log level of the soak's own deployment's processes (debug shows the engine's views and sequences)")
	f.StringVar(&cfg.SyncInterval, "sync-interval", "", "the own deployment's NATS sync_interval: always or a duration (default nats-server's)")
	f.Float64Var(&cfg.Rate, "rate", soak.DefaultRate, "events per second, sent whatever the answers")
	f.StringSliceVar(&cfg.Faults, "faults", soak.Kinds, "fault kinds to draw from, each as likely (orderer, leader, nats, gateway, all)")
	f.DurationVar(&cfg.FaultEvery, "fault-every", soak.DefaultFaultEvery, "mean pause between a recovery and the next fault")
	f.DurationVar(&cfg.Downtime, "downtime", soak.DefaultDowntime, "longest time a killed process stays down")
	f.DurationVar(&cfg.Recover, "recover", soak.DefaultRecover, "longest wait for the deployment to recover from a fault (longer is a violation)")
	f.DurationVar(&cfg.HealAfter, "heal-after", soak.DefaultHealAfter, "after a restart, delete and create again a stream that has had no leader this long (the operator's step, docs/faults.md); negative never")
	f.DurationVar(&cfg.Drain, "drain", soak.DefaultDrain, "longest wait, after the load stops, for every accepted event to be sealed")
	f.BoolVarP(&quiet, "quiet", "q", false, "progress on stderr only for warnings and violations")
	return cmd
}
