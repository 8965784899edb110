package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/schemas/keys"
)

// newGatewayBackupCmd is `baybus gateway backup`: a city's part of a
// running gateway's store of personal data, over its API.
func newGatewayBackupCmd() *cobra.Command {
	var (
		cf        clientFlags
		city, out string
	)
	cmd := &cobra.Command{
		Use:   "backup --city C --out FILE [--url U] [--token-file T]",
		Short: "Back up a city's personal data and salts from a running gateway's store",
		Long: `backup asks a running gateway (--url) for its store of the city's personal
data (rules version 3, docs/sharing.md): the city's salt key, the disclosures of
every record the city published through that gateway, and the identity numbers
they name, taken from one consistent snapshot while the gateway goes on
serving. It needs the city's publish credential (--token-file or
$BAYBUS_TOKEN), checks the copy (its count and checksum) and writes it to --out
(mode 0600; a file that exists is not replaced). The copy holds the city's
personal data in plaintext: keep it as the city keeps its register.
'baybus gateway restore' writes it back into a stopped gateway's store.

Exit status: 0 written; 1 refused by the gateway; 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if city == "" || out == "" {
				return exitError{code: 2, err: errors.New("gateway backup: give --city and --out")}
			}
			c, err := cf.shareClient()
			if err != nil {
				return exitError{code: 2, err: err}
			}
			tmp := out + ".partial"
			f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return exitError{code: 2, err: fmt.Errorf("gateway backup: %w", err)}
			}
			defer os.Remove(tmp)
			b, err := c.Backup(cmd.Context(), city, f)
			if err != nil {
				f.Close()
				var ae *share.APIError
				if errors.As(err, &ae) {
					return exitError{code: 1, err: err}
				}
				return exitError{code: 2, err: err}
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return exitError{code: 2, err: err}
			}
			if err := f.Close(); err != nil {
				return exitError{code: 2, err: err}
			}
			// Link rather than rename: an --out that exists stays.
			if err := os.Link(tmp, out); err != nil {
				return exitError{code: 2, err: fmt.Errorf("gateway backup: %w", err)}
			}
			if err := keys.SyncDir(filepath.Dir(out)); err != nil {
				return exitError{code: 2, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %s's personal data on chain %s: %d records, taken %s, written to %s\n",
				b.City, b.Chain, len(b.Records), b.Taken.Format(time.RFC3339), out)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&city, "city", "", "the city whose data to back up (required)")
	cmd.Flags().StringVar(&out, "out", "", "file to write the backup to (required; must not exist)")
	return cmd
}

// newGatewayRestoreCmd is `baybus gateway restore`: a backup written back
// into a stopped gateway's store.
func newGatewayRestoreCmd() *cobra.Command {
	var consortiumDir, data string
	cmd := &cobra.Command{
		Use:   "restore --data DIR [--consortium D] BACKUP",
		Short: "Write a backup of a city's personal data into a stopped gateway's store",
		Long: `restore checks a backup made by 'baybus gateway backup' (its chain, its
records, its count and checksum) and writes it, in one synced batch, into the
store of the gateway whose data directory is --data (DATA/share/disclosures,
created if missing): a gateway that lost its disk, or a new one taking over the
city. The gateway must be stopped (its store is locked while it runs). A store
that already holds another salt key for the city is refused: what was disclosed
under that key would no longer open.

Exit status: 0 restored; 1 refused (another chain, another salt key, a bad
backup); 2 could not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return exitError{code: 2, err: errors.New("gateway restore: give --data, the gateway's data directory")}
			}
			trust, err := keys.LoadBundle(filepath.Join(consortiumDir, keys.TrustFile))
			if err != nil {
				return exitError{code: 2, err: err}
			}
			f, err := os.Open(args[0])
			if err != nil {
				return exitError{code: 2, err: err}
			}
			b, err := share.ReadBackup(f)
			f.Close()
			if err != nil {
				return exitError{code: 1, err: fmt.Errorf("gateway restore: %s: %w", args[0], err)}
			}
			st, err := share.OpenStore(filepath.Join(data, "share", "disclosures"), share.StoreConfig{Chain: trust.Chain})
			if err != nil {
				return exitError{code: 2, err: fmt.Errorf("%w (is the gateway still running?)", err)}
			}
			err = st.Import(cmd.Context(), b)
			if cerr := st.Close(); err == nil {
				err = cerr
			}
			if errors.Is(err, share.ErrBackupConflict) || errors.Is(err, share.ErrBackup) {
				return exitError{code: 1, err: err}
			}
			if err != nil {
				return exitError{code: 2, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d records of %s's personal data (taken %s) into %s\n",
				len(b.Records), b.City, b.Taken.Format(time.RFC3339), filepath.Join(data, "share", "disclosures"))
			return nil
		},
	}
	cmd.Flags().StringVar(&consortiumDir, "consortium", "data", "consortium directory (its trust.json names the chain)")
	cmd.Flags().StringVar(&data, "data", "", "the stopped gateway's data directory (required)")
	return cmd
}
