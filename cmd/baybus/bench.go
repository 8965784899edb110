package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg      bench.Config
		jsonFile string
		sweep    string
		sweepOut string
		cpuProf  string
		target   string
		lf       logFlags
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the full pipeline against this machine's own limits, in one run",
		Long: `bench runs the embedded system (HTTP gateways, JetStream, SmartBFT orderers,
fsynced block logs) under load and reports committed and acknowledged tx/s,
finality p50/p95/p99/max, and, measured in the same process on the same machine:
raw JetStream async publishes of the same size (same storage settings) and the
crypto floor (the per-transaction signature and hash work the design needs),
with the ratios; peak RSS, CPU seconds per 1,000 transactions (in all, and by
role from a CPU profile of the window: gateways, bus, each orderer, consensus,
proofs, GC), disk bytes per transaction, and the time for a restarted orderer to
catch up.

With --rate the load is open loop and finality is measured from each event's
intended send time, so a stall is not hidden. --sweep runs several rates and
writes the throughput-latency curve as CSV and SVG. The JSON fields are
documented in docs/performance.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger()
			if err != nil {
				return err
			}
			cfg.Logger = log
			out := cmd.OutOrStdout()
			if cpuProf != "" && (target != "" || sweep != "") {
				// One run profiles its measured window itself (the profile
				// CPU by role is summed from); a sweep or a cluster's load
				// is profiled whole.
				f, err := os.Create(cpuProf)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if target != "" {
				// The deployment's gateways, in other processes: finality as
				// their wait=commit answers show it.
				targets, plan, err := clusterTargets(target, cfg.Cities)
				if err != nil {
					return err
				}
				res, err := bench.RunRemote(cmd.Context(), bench.RemoteConfig{Targets: targets, Duration: cfg.Duration, Warmup: cfg.Warmup,
					Size: cfg.Size, Rate: cfg.Rate, Bulk: cfg.Bulk, Workers: cfg.Workers})
				if err != nil {
					return err
				}
				res.Orderers = len(plan.Orderers)
				printResult(out, res)
				if jsonFile != "" {
					return writeJSONFile(jsonFile, res)
				}
				return nil
			}
			if sweep != "" {
				var rates []float64
				for _, f := range strings.Split(sweep, ",") {
					r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
					if err != nil || r <= 0 {
						return fmt.Errorf("--sweep %q: want positive rates separated by commas", sweep)
					}
					rates = append(rates, r)
				}
				cfg.NoRoles = cpuProf != "" // the profiler is taken by the whole sweep's profile
				pts, err := bench.Sweep(cmd.Context(), cfg, rates)
				if err != nil {
					return err
				}
				for _, p := range pts {
					printResult(out, p.Result)
				}
				if err := writeFile(sweepOut+".csv", func(w io.Writer) error { return bench.WriteCSV(w, pts) }); err != nil {
					return err
				}
				if err := writeFile(sweepOut+".svg", func(w io.Writer) error { return bench.WriteSVG(w, pts) }); err != nil {
					return err
				}
				fmt.Fprintf(out, "curve written to %s.csv and %s.svg\n", sweepOut, sweepOut)
				return nil
			}
			cfg.CPUProfile = cpuProf
			res, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			printResult(out, res)
			if jsonFile != "" {
				return writeJSONFile(jsonFile, res)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window")
	fl.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "load before the window")
	fl.IntVar(&cfg.Orderers, "orderers", 4, "orderers, 4 to 11")
	fl.IntVar(&cfg.Cities, "cities", 11, "publishing cities, 1 to 11")
	fl.IntVar(&cfg.Size, "size", 1024, "transaction size in bytes (canonical encoding)")
	fl.Float64Var(&cfg.Rate, "rate", 0, "offered load in tx/s (open loop); 0 = closed loop")
	fl.IntVar(&cfg.Bulk, "bulk", 0, "events per HTTP request, 1 = one event per request (default 256; with --rate, each client's share of half a second)")
	fl.IntVar(&cfg.Workers, "workers", 2, "HTTP clients per city")
	fl.BoolVar(&cfg.Recovery, "recovery", true, "measure an orderer's restart and catch-up after the load")
	fl.BoolVar(&cfg.Proofs, "proofs", true, "measure license-proof generation and verification (cold and warm) on the ledger after the load")
	fl.IntVar(&cfg.BlockBatches, "block-batches", 0, "batches per block (default: the system's, 16)")
	fl.IntVar(&cfg.MaxBacklog, "max-backlog", 0, "batches waiting on the bus before the gateways hold events (default: the system's; -1 no limit)")
	fl.StringVar(&cfg.DataDir, "data", "", "data directory (default: a temporary one, removed after)")
	fl.StringVar(&jsonFile, "json", "", "write the result as JSON to this file")
	fl.StringVar(&sweep, "sweep", "", "comma-separated offered rates, e.g. 1000,2000,4000,8000")
	fl.StringVar(&sweepOut, "sweep-out", "bench-sweep", "file prefix of the sweep's CSV and SVG")
	fl.StringVar(&target, "cluster", "", "load the deployment in this state directory (scripts/cluster up, with or without --wan) through its gateways instead of an embedded system; reports committed tx/s and finality as wait=commit answers show it")
	fl.StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile of the measured window, labelled by role (go tool pprof -tags); of the whole run with --sweep or --cluster")
	fl.StringVar(&cfg.PeerCmd, "peer-cmd", "", "after the run, measure a peer on this machine with this shell command, which prints its committed \"N tx/s\" (docs/performance.md: CometBFT's kvstore); prints baybus's throughput against it")
	fl.DurationVar(&cfg.PeerTimeout, "peer-timeout", bench.DefaultPeerTimeout, "how long --peer-cmd may run")
	fl.StringVar(&cfg.HeapProfile, "memprofile", "", "write the heap profile taken at the pipeline's peak resident set (go tool pprof)")
	lf.add(cmd)
	lf.level = "error"
	cmd.AddCommand(newBenchReconcileCmd(), newBenchShareCmd())
	return cmd
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeJSONFile writes v to path as indented JSON.
func writeJSONFile(path string, v any) error {
	return writeFile(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

func printResult(w io.Writer, r *bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s/%s, %d CPUs, %s\n", r.GOOS, r.GOARCH, r.CPUs, r.GoVersion)
	fmt.Fprintf(tw, "setup\t%d orderers, %d cities, %d-byte transactions, %s, %.0fs window\n", r.Orderers, r.Cities, r.SizeBytes, r.Mode, r.DurationS)
	if r.OfferedTPS > 0 {
		fmt.Fprintf(tw, "offered\t%.0f tx/s (open loop)\n", r.OfferedTPS)
	}
	fmt.Fprintf(tw, "committed\t%.0f tx/s (%d in the window; %d blocks, %.0f tx/block, %.0f tx/batch)\n", r.CommittedTPS, r.Committed, r.Blocks, r.MeanBlockTxs, r.MeanBatchTxs)
	fmt.Fprintf(tw, "acknowledged\t%.0f tx/s (%d refused)\n", r.AckedTPS, r.Refused)
	if len(r.RefusedBy) > 0 {
		fmt.Fprintf(tw, "refused by\t%v\n", r.RefusedBy)
	}
	fmt.Fprintf(tw, "finality\tp50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms\n", r.Finality.P50, r.Finality.P95, r.Finality.P99, r.Finality.Max)
	if r.JetStreamRawPubPerS > 0 {
		fmt.Fprintf(tw, "raw JetStream\t%.0f msgs/s  (committed/raw = %.3f)\n", r.JetStreamRawPubPerS, r.RatioVsJetStream)
		fmt.Fprintf(tw, "crypto floor\t%.0f tx/s  (committed/floor = %.3f)\n", r.CryptoFloorTPS, r.RatioVsCryptoFloor)
	}
	fmt.Fprintf(tw, "resources\tpeak RSS %.0f MiB, %.3f CPU s per 1k tx, %.0f disk bytes/tx (all orderers + JetStream), %.0f with one orderer\n",
		float64(r.RSSPeakBytes)/(1<<20), r.CPUSecondsPer1kTx, r.DiskBytesPerTx, r.DiskBytesPerTxOne)
	if m := r.PeakMemory; m != nil && m.RSSBytes > 0 {
		fmt.Fprintf(tw, "memory at peak\t%.0f MiB resident at %.1f s (%s): Go %.0f MiB (heap objects %.0f), outside Go %.0f MiB\n",
			float64(m.RSSBytes)/(1<<20), m.AtS, m.Phase, float64(m.GoBytes)/(1<<20), float64(m.GoHeapBytes)/(1<<20), float64(m.OtherBytes)/(1<<20))
	}
	if p := r.Peer; p != nil {
		if p.Error != "" {
			fmt.Fprintf(tw, "peer\tno figure (%s): %s\n", p.Cmd, p.Error)
		} else {
			fmt.Fprintf(tw, "peer\t%.0f tx/s (%s, %.0f s); baybus committed %.0f tx/s = %.2f × the peer's\n", p.TPS, p.Cmd, p.WallS, r.CommittedTPS, p.Ratio)
		}
	}
	if c := r.CPUByRole; c != nil {
		fmt.Fprintf(tw, "CPU by role\t%s\n", roleLine(c))
	}
	if d := r.Disk; d != (bench.DiskBreakdown{}) {
		fmt.Fprintf(tw, "disk per tx	block log %.0f B per orderer; JetStream: batches %.0f B, headers %.0f B, proofs %.0f B\n",
			d.BlockLogPerOrderer, d.JetStreamTx, d.JetStreamBlocks, d.JetStreamProofs)
	}
	if p := r.Proofs; p != nil {
		fmt.Fprintf(tw, "proofs\tgenerated %.0f/s (block of %d tx), verified cold %.0f/s, warm %.0f/s (all cores), %.0f B each\n",
			p.GeneratedPerS, p.BlockTxs, p.VerifyColdPerS, p.VerifyWarmPerS, p.BundleBytes)
		fmt.Fprintf(tw, "proof publisher\t%.0f made on commit, %.0f stored by GBA_PROOFS, %.0f dropped (queue full)\n",
			p.PublisherGenerated, p.PublisherPublished, p.PublisherDropped)
	}
	if r.RecoveryMS > 0 {
		fmt.Fprintf(tw, "recovery\t%.0f ms for a restarted orderer to replay and reach height %d (%d transactions)\n", r.RecoveryMS, r.RecoveryBlocks, r.RecoveryTxs)
	}
	tw.Flush()
}

// roleLine is CPUByRole on one line, in CPU milliseconds per 1,000 sealed
// transactions (µs per transaction).
func roleLine(c *bench.CPUByRole) string {
	ms := func(v float64) string { return strconv.FormatFloat(v*1000, 'f', 0, 64) }
	var b strings.Builder
	fmt.Fprintf(&b, "µs per sealed tx: gateways %s, bus %s, orderers", ms(c.Gateways), ms(c.Bus))
	names := slices.Sorted(maps.Keys(c.Orderers))
	for i, n := range names {
		sep := " "
		if i > 0 {
			sep = "+"
		}
		b.WriteString(sep + ms(c.Orderers[n]))
	}
	fmt.Fprintf(&b, ", consensus %s, storage %s, proofs %s, GC %s, bench %s, other %s; profiled %s of the process's %s (GC %.1f %% of the profile; %d tx in %.1fs)",
		ms(c.Consensus), ms(c.Storage), ms(c.Proofs), ms(c.GC), ms(c.Bench), ms(c.Other), ms(c.Profiled), ms(c.Process), c.GCShare*100, c.WindowTxs, c.WindowS)
	return b.String()
}
