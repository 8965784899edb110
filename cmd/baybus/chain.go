package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/ledger/audit"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

func newVerifyChainCmd() *cobra.Command {
	var dataDir, trustFile string
	cmd := &cobra.Command{
		Use:   "verify-chain",
		Short: "Re-check a stopped node's whole chain: CRCs, hash links, roots, state, certificates",
		Long: `verify-chain reads the block log of a stopped orderer and re-checks every block:
the record CRCs, the hash links, each block's results, transaction root and results
hash, the license state root (the state is rebuilt from scratch with the orderers'
own rules), and each quorum certificate against the trust bundle.

It writes nothing to the node's directory (the state is rebuilt in a scratch
directory). A torn last record (cut short or left zero-filled by a crash in the
middle of a write, which the orderer cuts when it next starts) is left as found,
reported in a warning, and the chain is verified up to the record before it. A
whole record that fails its CRC was damaged after it was written: that is a fault,
wherever it is, the last record included.

--data is either a 'baybus up' data directory (every orderer under it is checked,
and they must hold the same chain) or one orderer's data directory (then --trust is
required). Exit status 0 when everything holds, 1 at the first fault, naming the
height and what is wrong, 2 when it cannot run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if trustFile == "" {
				trustFile = filepath.Join(dataDir, keys.TrustFile)
			}
			trust, err := keys.LoadBundle(trustFile)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			dirs := audit.OrdererDirs(dataDir, trust)
			if len(dirs) == 0 {
				if _, err := os.Stat(filepath.Join(dataDir, "blocks")); err != nil {
					return exitf(2, "%s holds no block log (neither orderers/<name>/blocks nor blocks/)", dataDir)
				}
				dirs = []string{dataDir}
			}
			out := cmd.OutOrStdout()
			var first *audit.Report
			for _, d := range dirs {
				rep, err := audit.VerifyChain(filepath.Join(d, "blocks"), trust)
				if err != nil {
					var f *audit.Fault
					if errors.As(err, &f) {
						return exitf(1, "%s: FAULT at height %d: %s: %v", d, f.Height, f.What, f.Err)
					}
					return exitError{code: 2, err: err}
				}
				fmt.Fprintf(out, "%s: ok: height %d, %d transactions (%d flagged), %d licenses, head %s, state root %s\n",
					d, rep.Height, rep.Transactions, rep.Flagged, rep.Licenses, schemas.FormatID(rep.LastHash), schemas.FormatID(rep.StateRoot))
				for _, w := range rep.Warnings {
					fmt.Fprintf(out, "%s: warning: %s\n", d, w)
				}
				if first == nil {
					first = rep
					continue
				}
				// Orderers may lag, but never disagree: compare the shorter prefix.
				if rep.Height == first.Height && rep.LastHash != first.LastHash {
					return exitf(1, "%s: FAULT at height %d: head differs from %s's", d, rep.Height, dirs[0])
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "data", "data directory of a stopped node")
	cmd.Flags().StringVar(&trustFile, "trust", "", "trust bundle (default DATA/trust.json)")
	return cmd
}
