package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/internal/bench"
)

func newBenchShareCmd() *cobra.Command {
	var (
		cfg               bench.ShareConfig
		jsonFile, cpuProf string
	)
	cmd := &cobra.Command{
		Use:   "share [--rate R] [--duration D] [--json F]",
		Short: "Sealed answers to readers' requests (issue 15): p50/p99 at an offered rate",
		Long: `bench share starts a whole system of rules version 3 (up's composition: the
embedded bus, the orderers, the gateways with their share routes), has Shenzhen
publish --licenses business registrations with personal names and grant a Hong
Kong bank their legal representatives' names, then sends the bank's signed
requests (signed before the load starts) at --rate per second, open loop, for
--duration after a warm-up; a request due while --max-in-flight are outstanding
is not sent and is counted as such. Each
answer is measured from its intended send time to the sealed answer received:
the grant checked, the access record sealed by the orderers, the fields
HPKE-sealed to the reader. It then opens and checks answers as the reader does,
and counts the access records on the ledger. The target is 250 ms p99 at 200/s
(docs/performance.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cpuProf != "" {
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
			res, err := bench.RunShare(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "share: %.0f requests/s offered for %.0fs, %d orderers, %d CPUs, %s\n", res.OfferedPerS, res.DurationS, res.Orderers, res.CPUs, res.GoVersion)
			fmt.Fprintf(out, "  sealed answers: %.1f/s answered, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms; %d failed; %d not sent (%d outstanding already, the cap)\n",
				res.AnsweredPerS, res.Answer.P50, res.Answer.P95, res.Answer.P99, res.Answer.Max, res.Failed, res.Unsent, res.MaxInFlight)
			if res.FirstError != "" {
				fmt.Fprintf(out, "  the first failure: %s\n", res.FirstError)
			}
			fmt.Fprintf(out, "  reader: %.0f answers opened and checked per second (one core, %.2f CPU ms each, not counted below); %d access records in %d blocks; %.2f CPU s per 1,000 requests\n",
				res.OpenedPerS, res.ReaderCPUMsPerAnswer, res.AccessRecords, res.Blocks, res.CPUSecondsPer1kRequests)
			if jsonFile != "" {
				return writeJSONFile(jsonFile, res)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&cfg.Rate, "rate", 200, "requests offered per second")
	fl.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measured window")
	fl.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "requests sent before the window, not counted")
	fl.IntVar(&cfg.Licenses, "licenses", 200, "business registrations published to read from")
	fl.IntVar(&cfg.Orderers, "orderers", 4, "number of orderers")
	fl.IntVar(&cfg.MaxInFlight, "max-in-flight", 512, "requests outstanding at most; one due beyond it is not sent, and counted")
	fl.StringVar(&cfg.DataDir, "data", "", "data directory (default a temporary one, removed after)")
	fl.StringVar(&jsonFile, "json", "", "write the result as JSON")
	fl.StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile of the whole run (go tool pprof)")
	return cmd
}
