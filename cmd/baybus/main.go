// Command baybus runs and uses the Greater Bay Area government message bus:
// the embedded system (up, demo), single components (gateway, orderer), and
// tools for city systems, cross-boundary services and operators (publish,
// subscribe, verify, reconcile, bench, keys).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "baybus:", msg)
		}
		os.Exit(coded.ExitCode())
	}
	fmt.Fprintln(os.Stderr, "baybus:", err)
	os.Exit(2)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "baybus",
		Short: "Cross-region government message bus for the eleven Greater Bay Area cities",
		Long: `baybus carries signed government records (business licenses, certificates,
approvals) between the eleven Greater Bay Area cities over NATS JetStream, orders
them with a SmartBFT ordering service into a hash-chained, Merkle-rooted ledger,
and translates them between the mainland, Hong Kong and Macao formats.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var memLimit string
	root.PersistentFlags().StringVar(&memLimit, "memory-limit", "768MiB",
		"soft limit on the Go heap (garbage collection works harder near it), e.g. 512MiB, 2GiB; 0 for none; GOMEMLIMIT wins")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return applyMemoryLimit(memLimit) }
	root.AddCommand(newUpCmd(), newDemoCmd(), newGatewayCmd(), newKeysCmd(), newPublishCmd(), newOrdererCmd(), newVerifyChainCmd(),
		newBridgeCmd(), newIDCmd(), newSampleCmd(), newBenchCmd(),
		newProofCmd(), newLicensesCmd(), newVerifyCmd(), newSubscribeCmd(), newReconcileCmd(), newNATSCmd(), newClusterCmd(),
		newShareCmd(), newAuditCmd(), newConsortiumCmd(),
		newArchiveCmd(), newSnapshotCmd(), newSoakCmd())
	return root
}

// applyMemoryLimit sets the runtime's soft memory limit from --memory-limit
// unless GOMEMLIMIT is set. The limit is soft: a heap that needs more gets
// more, at the cost of more frequent collections.
func applyMemoryLimit(v string) error {
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	n, err := parseBytes(v)
	if err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	if n > 0 {
		debug.SetMemoryLimit(n)
	}
	return nil
}

// parseBytes reads a byte count: digits with an optional KiB, MiB or GiB
// suffix.
func parseBytes(v string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a byte count such as 768MiB or 1GiB", v)
	}
	return n * mult, nil
}
