package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/ledger/audit"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

func newVerifyChainCmd() *cobra.Command {
	var dataDir, trustFile string
	var af archiveFlags
	cmd := &cobra.Command{
		Use:   "verify-chain",
		Short: "Re-check stopped orderers' chains: CRCs, hash links, roots, state, certificates, forks",
		Long: `verify-chain reads the block log of each stopped orderer and re-checks every block:
the record CRCs, the hash links, each block's results, transaction root and results
hash, the license state root (the state is rebuilt from scratch with the orderers'
own rules), each quorum certificate and vote message against the trust bundle, and
the consensus metadata. Then it compares the orderers' chains: they may lag, but
never disagree, so a chain that is not a prefix of the others (a lagging orderer on
a fork included) is a fault at the height where it forked.

It writes nothing to the node's directory (the state is rebuilt in a scratch
directory). A torn last record (cut short or left zero-filled by a crash in the
middle of a write, which the orderer cuts when it next starts) is left as found,
reported in a warning, and the chain is verified up to the record before it. A
whole record that fails its CRC was damaged after it was written: that is a fault,
wherever it is, the last record included.

--data is either a 'baybus up' data directory (every orderer under it is checked)
or one orderer's data directory (then --trust is required). An orderer whose
oldest blocks were archived is verified with its archive: give --data its data
directory and the --archive-* flags it runs with. Exit status 0 when
everything holds, 1 when any chain has a fault (each is printed, naming the orderer,
the height and what is wrong), 2 when it cannot run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if trustFile == "" {
				trustFile = filepath.Join(dataDir, keys.TrustFile)
			}
			trust, err := keys.LoadBundle(trustFile)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			logs := audit.OrdererLogs(dataDir, trust)
			if len(logs) == 0 {
				return exitf(2, "%s holds no block log (neither orderers/<name>/blocks nor blocks/)", dataDir)
			}
			cold, err := af.open(cmd.Context())
			if err != nil {
				return exitError{code: 2, err: err}
			}
			if cold != nil {
				if len(logs) != 1 {
					return exitf(2, "an archive holds one orderer's blocks: give --data that orderer's data directory")
				}
				logs[0].Cold = cold
			}
			bar := newProgress(progressOut{stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}, -1, "verifying", false)
			cur := -1
			rep, err := audit.VerifyClusterProgress(cmd.Context(), logs, trust, func(i int, h, last uint64) {
				if i != cur {
					cur = i
					bar.Phase(int64(last), fmt.Sprintf("verifying %s (%d of %d)", orName(logs[i]), i+1, len(logs)))
				}
				bar.Set(int64(h))
			})
			bar.Done()
			if rep == nil {
				return exitError{code: 2, err: err}
			}
			out := cmd.OutOrStdout()
			var first error
			faults := 0
			for _, c := range rep.Chains {
				name := c.Name
				if name == "" {
					name = filepath.Dir(c.Dir)
				}
				if r := c.Report; r != nil {
					fmt.Fprintf(out, "%s: ok: height %d, %d transactions (%d flagged), %d licenses, head %s, state root %s\n",
						name, r.Height, r.Transactions, r.Flagged, r.Licenses, schemas.FormatID(r.LastHash), schemas.FormatID(r.StateRoot))
					for _, w := range r.Warnings {
						fmt.Fprintf(out, "%s: warning: %s\n", name, w)
					}
				}
				if f := c.Fault; f != nil {
					fmt.Fprintf(out, "%s: FAULT at height %d: %s: %v\n", name, f.Height, f.What, f.Err)
					if faults++; first == nil {
						first = fmt.Errorf("%s: FAULT at height %d: %s: %w", name, f.Height, f.What, f.Err)
					}
				}
			}
			if first != nil {
				return exitf(1, "%v (%d of %d chains have a fault)", first, faults, len(rep.Chains))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "data", "data directory of a stopped node")
	cmd.Flags().StringVar(&trustFile, "trust", "", "trust bundle (default DATA/trust.json)")
	af.add(cmd.Flags())
	return cmd
}

// orName names a log: its orderer, or its directory.
func orName(l audit.Log) string {
	if l.Name != "" {
		return l.Name
	}
	return filepath.Dir(l.Dir)
}
