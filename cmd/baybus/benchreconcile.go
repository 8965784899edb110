package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/ledger/reconcile"
)

func newBenchReconcileCmd() *cobra.Command {
	var (
		rows     int
		city     string
		dir      string
		jsonFile string
	)
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Reconcile a synthetic register of --rows licenses against a synthetic ledger; report rows/s and peak memory",
		Long: `bench reconcile writes a ledger (a real block log with certificates) holding
--rows licenses of one city and a register with one difference of each class per
1,000 licenses, reconciles them, checks that exactly the injected differences are
found, and reports rows/s, CPU seconds and peak memory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				tmp, err := os.MkdirTemp("", "baybus-bench-reconcile-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			res, err := reconcile.RunBench(cmd.Context(), reconcile.BenchConfig{Fixture: reconcile.FixtureConfig{Dir: dir, Licenses: rows, City: city}})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "reconcile: %d register rows against %d ledger transactions in %d blocks (setup %.1fs)\n", res.Rows, res.LedgerTxs, res.Blocks, res.SetupSeconds)
			fmt.Fprintf(out, "  %.1fs, %.0f rows/s, %.1f CPU s, peak RSS %.0f MiB, peak heap %.0f MiB, GOMAXPROCS %d, load %.1f\n",
				res.Seconds, res.RowsPerSecond, res.CPUSeconds, float64(res.PeakRSSBytes)/(1<<20), float64(res.PeakHeapBytes)/(1<<20), res.GOMAXPROCS, res.LoadAverage)
			if jsonFile != "" {
				return writeJSONFile(jsonFile, res)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&rows, "rows", 1_000_000, "licenses in the ledger and rows in the register")
	cmd.Flags().StringVar(&city, "city", "shenzhen", "mainland city of the synthetic register")
	cmd.Flags().StringVar(&dir, "data", "", "where to write the fixture (default a temporary directory, removed after)")
	cmd.Flags().StringVar(&jsonFile, "json", "", "write the result as JSON")
	return cmd
}
