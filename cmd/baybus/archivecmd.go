package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/snapshot"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas/keys"
)

// Environment variables holding the S3 archive's credentials, so that
// they appear in no command line.
const (
	envS3AccessKey = "BAYBUS_S3_ACCESS_KEY"
	envS3SecretKey = "BAYBUS_S3_SECRET_KEY"
)

// archiveFlags choose a block-log archive: a directory, or a bucket of an
// S3-compatible store.
type archiveFlags struct {
	dir                           string
	endpoint, bucket, prefix, reg string
	insecure                      bool
}

func (a *archiveFlags) add(fl *pflag.FlagSet) {
	a.addNamed(fl, "", "archive the block log's cold part")
}

// addNamed adds the flags with prefix before each name ("from-": a peer's
// archive); what says what the archive is for.
func (a *archiveFlags) addNamed(fl *pflag.FlagSet, prefix, what string) {
	fl.StringVar(&a.dir, prefix+"archive-dir", "", what+" in this directory")
	fl.StringVar(&a.endpoint, prefix+"archive-s3", "", what+" in an S3-compatible store at host:port (HTTPS; credentials from $"+envS3AccessKey+" and $"+envS3SecretKey+")")
	fl.StringVar(&a.bucket, prefix+"archive-s3-bucket", "", "the store's bucket (it must exist)")
	fl.StringVar(&a.prefix, prefix+"archive-s3-prefix", "", "prefix of every object name, e.g. orderer-hk/")
	fl.StringVar(&a.reg, prefix+"archive-s3-region", "", "the store's region (default us-east-1)")
	fl.BoolVar(&a.insecure, prefix+"archive-s3-insecure", false, "plain HTTP to the store (only for a store on loopback)")
}

// objects returns the archive chosen, or nil for none.
func (a *archiveFlags) objects() (archive.Objects, error) {
	switch {
	case a.dir != "" && a.endpoint != "":
		return nil, errors.New("--archive-dir and --archive-s3 exclude each other")
	case a.dir != "":
		return archive.Dir{Path: a.dir}, nil
	case a.endpoint == "":
		if a.bucket != "" || a.prefix != "" || a.insecure {
			return nil, errors.New("--archive-s3-* flags need --archive-s3")
		}
		return nil, nil
	}
	ak, sk := os.Getenv(envS3AccessKey), os.Getenv(envS3SecretKey)
	if ak == "" || sk == "" {
		return nil, fmt.Errorf("--archive-s3 needs $%s and $%s", envS3AccessKey, envS3SecretKey)
	}
	if a.insecure && !isLoopback(a.endpoint) {
		return nil, fmt.Errorf("--archive-s3-insecure: %s is not on loopback", a.endpoint)
	}
	return archive.NewS3(archive.S3Config{Endpoint: a.endpoint, Bucket: a.bucket, Prefix: a.prefix,
		AccessKey: ak, SecretKey: sk, Region: a.reg, Insecure: a.insecure})
}

func isLoopback(hostport string) bool {
	host := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host = hostport[:i]
	}
	host = strings.Trim(host, "[]")
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// open opens the archive chosen (listing it once), or returns nil for
// none. Every command that reads an archive opens it here.
func (a *archiveFlags) open(ctx context.Context) (*archive.Blocks, error) {
	obj, err := a.objects()
	if err != nil || obj == nil {
		return nil, err
	}
	return archive.Open(ctx, obj, archive.Config{})
}

// openBlocks opens a stopped orderer's block log in dir (DIR/blocks) over
// the archive a chooses, if any.
func openBlocks(ctx context.Context, dir string, a *archiveFlags) (*blocklog.Store, *archive.Blocks, error) {
	cold, err := a.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	var c blocklog.Cold
	if cold != nil {
		c = cold
	}
	s, err := blocklog.OpenStoreCold(filepath.Join(dir, "blocks"), wal.Options{}, c)
	if err != nil {
		return nil, nil, err
	}
	return s, cold, nil
}

func newArchiveCmd() *cobra.Command {
	var (
		dataDir    string
		keep       uint64
		chunkBytes string
		af         archiveFlags
	)
	cmd := &cobra.Command{
		Use:   "archive",
		Short: "Move a stopped orderer's old blocks to an archive (a directory or an S3-compatible store)",
		Long: `archive moves the blocks of a stopped orderer's block log (--data, the orderer's
data directory) that are more than --keep below its top to an archive, in objects
of about --chunk bytes named by the SHA-256 of their content, and then cuts them
from the live log. The orderer reads them back from the archive on demand (give it
the same --archive-* flags): proofs of archived blocks, block sync, rebuilding its
index. A running orderer archives by itself with --archive-* flags (see 'baybus
orderer'). The archive must hold exactly the blocks below the live log: use one
archive (one directory or bucket prefix) per orderer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			chunk, err := parseBytes(chunkBytes)
			if err != nil {
				return fmt.Errorf("--chunk: %w", err)
			}
			if af.dir == "" && af.endpoint == "" {
				return errors.New("archive: give --archive-dir or --archive-s3")
			}
			s, cold, err := openBlocks(cmd.Context(), dataDir, &af)
			if err != nil {
				return err
			}
			defer s.Close()
			h := s.Height()
			if h <= keep+1 {
				fmt.Fprintf(cmd.OutOrStdout(), "nothing to archive: height %d, keeping %d blocks\n", h, keep)
				return nil
			}
			start := time.Now()
			n, err := s.Archive(cmd.Context(), h-keep, int(chunk))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "archived %d blocks in %v: the archive holds blocks 1..%d in %d objects, the live log %d..%d\n",
				n, time.Since(start).Round(time.Millisecond), cold.Height(), cold.Chunks(), s.First(), s.Height())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data", "", "the stopped orderer's data directory (holding blocks/) (required)")
	fl.Uint64Var(&keep, "keep", 10_000, "newest blocks to keep in the live log")
	fl.StringVar(&chunkBytes, "chunk", "4MiB", "size of an archived object")
	af.add(fl)
	_ = cmd.MarkFlagRequired("data")
	return cmd
}

func newSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "State snapshots at a certified block: create, verify, restore",
		Long: `A state snapshot holds the license state of an orderer as of one certified block,
with that block's record, in one file named by the SHA-256 of its content
(<hash>.snap). It is checked before use: its content against its name, the block
against the trust bundle's quorum, and the licenses against the block's state root.`,
	}
	cmd.AddCommand(newSnapshotCreateCmd(), newSnapshotVerifyCmd(), newSnapshotRestoreCmd(), newSnapshotJoinCmd())
	return cmd
}

func newSnapshotCreateCmd() *cobra.Command {
	var (
		dataDir, trustFile, out string
		height                  uint64
		af                      archiveFlags
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Write a snapshot of a stopped orderer's license state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			trust, err := keys.LoadBundle(trustFile)
			if err != nil {
				return err
			}
			config, err := snapshot.ConfigHash(trust)
			if err != nil {
				return err
			}
			blocks, _, err := openBlocks(cmd.Context(), dataDir, &af)
			if err != nil {
				return err
			}
			defer blocks.Close()
			st, err := state.Open(filepath.Join(dataDir, "state"), state.Options{CacheSize: 16 << 20})
			if err != nil {
				return fmt.Errorf("%w (is the orderer still running?)", err)
			}
			defer st.Close()
			if height == 0 {
				height = min(st.Height(), blocks.Height())
			}
			if height == 0 {
				return errors.New("snapshot: the orderer has sealed no block")
			}
			rec, err := blocks.Record(height)
			if err != nil {
				return err
			}
			start := time.Now()
			info, err := snapshot.Create(cmd.Context(), out, st, rec, config)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\nsnapshot of %d licenses at block %d of chain %s, %d bytes, in %v\n",
				filepath.Join(out, info.Name+snapshot.Ext), info.Licenses, info.Height, info.Chain, info.Bytes, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data", "", "the stopped orderer's data directory (holding blocks/ and state/) (required)")
	fl.StringVar(&trustFile, "trust", "", "trust bundle in force at the snapshot's height (required)")
	fl.StringVar(&out, "out", ".", "directory to write <hash>.snap in")
	fl.Uint64Var(&height, "height", 0, "the block to take the state at (default the state's height)")
	af.add(fl)
	for _, f := range []string{"data", "trust"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newSnapshotVerifyCmd() *cobra.Command {
	var trustFile string
	cmd := &cobra.Command{
		Use:   "verify FILE.snap",
		Short: "Check a snapshot: its name, its block's certificate and its state root",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			trust, err := keys.LoadBundle(trustFile)
			if err != nil {
				return err
			}
			start := time.Now()
			info, err := snapshot.Verify(cmd.Context(), args[0], trust, "")
			if err != nil {
				return exitError{code: 1, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d licenses at block %d of chain %s, state root %x, checked in %v\n",
				info.Licenses, info.Height, info.Chain, info.StateRoot, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&trustFile, "trust", "", "trust bundle in force at the snapshot's height (required)")
	_ = cmd.MarkFlagRequired("trust")
	return cmd
}

func newSnapshotRestoreCmd() *cobra.Command {
	var trustFile, stateDir string
	cmd := &cobra.Command{
		Use:   "restore FILE.snap",
		Short: "Check a snapshot and restore its license state into a new directory",
		Long: `restore checks a snapshot as verify does and writes its license state into --state,
which must not exist, only once every check has passed. The state answers for the
licenses as of the snapshot's block; it holds no earlier versions of them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			trust, err := keys.LoadBundle(trustFile)
			if err != nil {
				return err
			}
			start := time.Now()
			info, _, err := snapshot.Restore(cmd.Context(), args[0], trust, stateDir, state.Options{})
			if err != nil {
				return exitError{code: 1, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d licenses at block %d of chain %s into %s in %v\n",
				info.Licenses, info.Height, info.Chain, stateDir, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&trustFile, "trust", "", "trust bundle in force at the snapshot's height (required)")
	cmd.Flags().StringVar(&stateDir, "state", "", "directory to restore the state into; must not exist (required)")
	for _, f := range []string{"trust", "state"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newSnapshotJoinCmd() *cobra.Command {
	var (
		trustFile, dataDir string
		from, own          archiveFlags
	)
	cmd := &cobra.Command{
		Use:   "join FILE.snap",
		Short: "Prepare a new orderer's data directory from a snapshot and a peer's archive",
		Long: `join prepares --data (which must hold no state and no block log) for an orderer that
joins the chain from a snapshot instead of replaying it: it copies the chunks of a
peer's block archive (--from-archive-*) into the orderer's own archive (--archive-*),
each checked, restores and checks the snapshot's license state, checks that the
archive holds the snapshot's block, the same one, and starts an empty block log that
continues the archive. Then run 'baybus orderer --data DIR --archive-* ...' with the
same own archive: it rebuilds its transaction index from the archive, replays only
the blocks between the snapshot and the archive's top, and syncs the rest from its
peers. Take the snapshot at a height the peer's archive holds (snapshot create
--height, with that peer's --archive-* flags).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			trust, err := keys.LoadBundle(trustFile)
			if err != nil {
				return err
			}
			src, err := from.objects()
			if err != nil {
				return fmt.Errorf("--from-archive-*: %w", err)
			}
			dst, err := own.objects()
			if err != nil {
				return err
			}
			if src == nil || dst == nil {
				return errors.New("snapshot join: give the peer's archive (--from-archive-dir or --from-archive-s3) and this orderer's (--archive-dir or --archive-s3)")
			}
			start := time.Now()
			res, err := node.Join(cmd.Context(), node.JoinConfig{DataDir: dataDir, Trust: trust, Snapshot: args[0], From: src, Archive: dst})
			if err != nil {
				return exitError{code: 1, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "joined in %v: %d licenses at block %d restored; %d archive objects copied, blocks 1..%d; the block log continues at %d\n",
				time.Since(start).Round(time.Millisecond), res.Snapshot.Licenses, res.Snapshot.Height, res.Copied, res.Archived, res.Archived+1)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&trustFile, "trust", "", "trust bundle in force at the snapshot's height (required)")
	fl.StringVar(&dataDir, "data", "", "the new orderer's data directory (required)")
	from.addNamed(fl, "from-", "the peer's block archive,")
	own.addNamed(fl, "", "this orderer's own block archive,")
	for _, f := range []string{"trust", "data"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}
