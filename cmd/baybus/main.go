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
	root.AddCommand(newUpCmd(), newDemoCmd(), newGatewayCmd(), newKeysCmd(), newPublishCmd(), newOrdererCmd(), newVerifyChainCmd(),
		newBridgeCmd(), newIDCmd(), newSampleCmd(), newBenchCmd(),
		newProofCmd(), newLicensesCmd(), newVerifyCmd(), newSubscribeCmd(), newReconcileCmd())
	return root
}
