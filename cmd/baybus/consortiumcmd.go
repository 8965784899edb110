package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/ledger/audit"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// newConsortiumCmd is `baybus consortium`: configuration as transactions
// (docs/governance.md).
func newConsortiumCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "consortium",
		Short: "Change the consortium's configuration by quorum: propose, sign, submit, show",
		Long: `consortium drives configuration transactions (docs/governance.md): a proposal
carries the whole next configuration (orderers, the keys of cities, orderers and
readers with their validity heights) and collects signatures: a quorum of the
orderers in force, each new key's proof of possession, and each member whose
keys change (or, for a lost key, a quorum of the others of its kind).

  propose  writes an unsigned proposal over the configuration in force
  sign     adds one signature with a member's key
  submit   hands a signed proposal to the orderers, who seal it alone
  show     prints the configuration in force and its history`,
	}
	cmd.AddCommand(newConsortiumProposeCmd(), newConsortiumSignCmd(), newConsortiumSubmitCmd(), newConsortiumShowCmd())
	return cmd
}

// inForce follows the configuration chain file (if any) from the genesis
// trust bundle and returns the history.
func inForce(trustFile, chainFile string) (*config.History, error) {
	genesis, err := keys.LoadBundle(trustFile)
	if err != nil {
		return nil, err
	}
	if chainFile == "" {
		return config.NewHistory(genesis), nil
	}
	return loadConfigChain(genesis, chainFile)
}

// splitMember parses "role/member".
func splitMember(s string) (keys.Role, string, error) {
	role, member, ok := strings.Cut(s, "/")
	r := keys.Role(role)
	if !ok || member == "" || (r != keys.RoleCity && r != keys.RoleOrderer && r != keys.RoleReader) {
		return "", "", fmt.Errorf("%q: want city/<name>, orderer/<name> or reader/<name>", s)
	}
	return r, member, nil
}

func newConsortiumProposeCmd() *cobra.Command {
	var (
		trustFile, chainFile, out, keyDir, scheme, note      string
		addKeys, rotate, revoke, addOrderers, removeOrderers []string
		from                                                 uint64
		rules                                                int
	)
	cmd := &cobra.Command{
		Use:   "propose --trust F [--config-chain F] --out PROPOSAL [changes] --from-height H",
		Short: "Write an unsigned proposal for the next configuration",
		Long: `propose drafts the next configuration from the one in force (--trust, the genesis
bundle, followed along --config-chain) and writes it, unsigned, to --out. Changes
(each may repeat; all take effect from --from-height, which must be above the
height the proposal will be sealed at):

  --add-key city/<name>          a new key for a member (a city joining, or a
                                 second key)
  --rotate-key city/<name>       a new key from H; the member's keys in force end
                                 at H-1 (role city, orderer or reader)
  --revoke-key <key id>          the key's signatures are refused from H
  --add-orderer <name>           a new orderer, with its key and the lowest
                                 consensus id never given; it starts with
                                 'baybus orderer --join'
  --remove-orderer <name>        its votes stop counting after the configuration,
                                 and it stops itself; the others keep their ids
  --rules N                      the rules version (a chain keeps its own: the
                                 ledger refuses a change)

Each new key is made here and written, mode 0600, to --key-dir (default: beside
--out) as <role>-<member>-<n>.key: hand it to its member, who signs the proposal
with it (proof of possession).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hist, err := inForce(trustFile, chainFile)
			if err != nil {
				return err
			}
			cur := hist.Current()
			d := config.NewDraft(cur)
			if keyDir == "" {
				keyDir = filepath.Dir(out)
			}
			changes := len(addKeys) + len(rotate) + len(revoke) + len(addOrderers) + len(removeOrderers)
			if rules != 0 {
				changes++
				d.SetRules(rules)
			}
			if changes == 0 {
				return fmt.Errorf("consortium propose: name at least one change")
			}
			if from == 0 && changes > len(removeOrderers) {
				return fmt.Errorf("consortium propose: --from-height is required for new and ended keys")
			}
			newKey := func(role keys.Role, member string) (keys.TrustedKey, error) {
				id := d.NextKeyID(role, member)
				k, err := keys.Generate(id, scheme, rand.Reader)
				if err != nil {
					return keys.TrustedKey{}, err
				}
				path := filepath.Join(keyDir, strings.ReplaceAll(id, "/", "-")+".key")
				if _, err := os.Stat(path); err == nil {
					return keys.TrustedKey{}, fmt.Errorf("consortium propose: %s exists: will not overwrite a key", path)
				}
				if err := k.WriteFile(path, string(role), member); err != nil {
					return keys.TrustedKey{}, err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "new key %s for %s/%s written to %s\n", id, role, member, path)
				return config.TrustedKeyOf(k.Public(), role, member, from), nil
			}
			for _, m := range addKeys {
				role, member, err := splitMember(m)
				if err != nil {
					return fmt.Errorf("--add-key %w", err)
				}
				k, err := newKey(role, member)
				if err != nil {
					return err
				}
				if err := d.AddKey(k); err != nil {
					return err
				}
			}
			for _, m := range rotate {
				role, member, err := splitMember(m)
				if err != nil {
					return fmt.Errorf("--rotate-key %w", err)
				}
				k, err := newKey(role, member)
				if err != nil {
					return err
				}
				if err := d.RotateKey(k, from); err != nil {
					return err
				}
			}
			for _, id := range revoke {
				if err := d.RevokeKey(id, from); err != nil {
					return err
				}
			}
			for _, name := range addOrderers {
				k, err := newKey(keys.RoleOrderer, name)
				if err != nil {
					return err
				}
				if err := d.AddOrderer(name, k); err != nil {
					return err
				}
			}
			for _, name := range removeOrderers {
				if err := d.RemoveOrderer(name); err != nil {
					return err
				}
			}
			tx, err := d.Proposal(note)
			if err != nil {
				return err
			}
			if err := keys.WriteFileAtomic(out, config.MarshalIndent(tx), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "proposal over configuration %x written to %s: it needs %d of the orderers %s",
				tx.Base[:8], out, cur.Quorum(), strings.Join(cur.Orderers, ", "))
			if concerned := membersChanged(cur, tx.Next); len(concerned) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", and %s (or, for a lost key, a quorum of the others)", strings.Join(concerned, ", "))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&trustFile, "trust", "", "the genesis trust bundle (required)")
	fl.StringVar(&chainFile, "config-chain", "", "the configuration chain after --trust")
	fl.StringVar(&out, "out", "", "the proposal file to write (required)")
	fl.StringVar(&keyDir, "key-dir", "", "where new private keys are written (default: the directory of --out)")
	fl.StringVar(&scheme, "scheme", keys.Ed25519, "scheme of new keys: "+strings.Join(keys.SupportedSchemes, ", "))
	fl.StringVar(&note, "note", "", "why, for the people who sign")
	fl.StringArrayVar(&addKeys, "add-key", nil, "a new key for role/member")
	fl.StringArrayVar(&rotate, "rotate-key", nil, "rotate role/member's key from --from-height")
	fl.StringArrayVar(&revoke, "revoke-key", nil, "refuse this key id's signatures from --from-height")
	fl.StringArrayVar(&addOrderers, "add-orderer", nil, "a new orderer")
	fl.StringArrayVar(&removeOrderers, "remove-orderer", nil, "an orderer to remove")
	fl.Uint64Var(&from, "from-height", 0, "the first height of new keys, and the first at which ended keys are refused")
	fl.IntVar(&rules, "rules", 0, "the rules version of the next configuration")
	_ = cmd.MarkFlagRequired("trust")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// membersChanged names the members whose keys differ between cur and next
// and who had keys before (the members concerned who must sign).
func membersChanged(cur, next *keys.Bundle) []string {
	var out []string
	had := func(role keys.Role, member string) bool {
		return slices.ContainsFunc(cur.Keys, func(k keys.TrustedKey) bool { return k.Role == role && k.Member == member })
	}
	for _, k := range next.Keys {
		_, old, ok := cur.KeyByID(k.ID)
		changed := !ok || !sameUntil(old.ValidUntil, k.ValidUntil)
		name := string(k.Role) + "/" + k.Member
		if changed && had(k.Role, k.Member) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func sameUntil(a, b *uint64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func newConsortiumSignCmd() *cobra.Command {
	var keyFile, as string
	cmd := &cobra.Command{
		Use:   "sign --key K [--as role/member] PROPOSAL",
		Short: "Add one signature to a proposal with a member's key",
		Long: `sign adds a signature over the proposal (not over earlier signatures, so members
may sign copies in any order: merge them by signing one file in turn) with the
private key file --key, as the member its key id names (<role>/<member>/<n>) or
--as. The file is rewritten in place. Whether the signature counts is the
ledger's to judge: 'consortium show --proposal' tells what is still missing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			tx, err := config.Parse(raw)
			if err != nil {
				return err
			}
			k, err := keys.ReadFile(keyFile)
			if err != nil {
				return err
			}
			if as == "" {
				i := strings.LastIndex(k.KeyID(), "/")
				if i < 0 {
					return fmt.Errorf("consortium sign: key id %q names no member: give --as role/member", k.KeyID())
				}
				as = k.KeyID()[:i]
			}
			role, member, err := splitMember(as)
			if err != nil {
				return fmt.Errorf("--as %w", err)
			}
			config.Sign(tx, k, role, member)
			if err := keys.WriteFileAtomic(args[0], config.MarshalIndent(tx), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s signed as %s/%s with %s (%d signatures)\n", args[0], role, member, k.KeyID(), len(tx.Signatures))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&keyFile, "key", "", "the member's private key file (required)")
	fl.StringVar(&as, "as", "", "sign as role/member (default: from the key id)")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

// configChainOf reads the configuration blocks of the block log in dir
// (an orderer's blocks/), in height order.
func configChainOf(ctx context.Context, dir string) ([]block.ConfigLink, error) {
	r, err := blocklog.OpenReader(dir)
	if err != nil {
		return nil, err
	}
	var links []block.ConfigLink
	err = r.Scan(ctx, 1, r.Height(), nil, func(h uint64, raw []byte) error {
		rec, err := blocklog.DecodeRecord(raw, false)
		if err != nil {
			return fmt.Errorf("block %d: %w", h, err)
		}
		if !block.IsConfig(rec.BlockData) {
			return nil
		}
		blk, err := block.Decode(rec.BlockData)
		if err != nil {
			return fmt.Errorf("block %d: %w", h, err)
		}
		l, err := block.ConfigLinkOf(blk, &rec.QC)
		if err != nil {
			return err
		}
		l.Header = rec.Header
		links = append(links, l)
		return nil
	})
	return links, err
}

func newConsortiumSubmitCmd() *cobra.Command {
	var trustFile, chainFile, natsURL, creds, name string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "submit --trust F [--config-chain F] --nats URL --creds F PROPOSAL",
		Short: "Hand a signed proposal to the orderers, who seal it alone in the next block",
		Long: `submit hands a signed proposal to an orderer over the query service (gba.query.<orderer>, which only
cities' gateways, the service identity and orderers may ask: --creds is one of
their NATS seeds). The orderer checks it again under the configuration in force,
and the leader seals it alone; it takes effect from the height after. The
proposal's signatures are its authority, not the sender. Orderers refuse, for
now, a change of the orderers or their keys (docs/governance.md).

Exit status 0 when an orderer holds it, 1 when it is refused (the reason is
printed), 2 when it could not be sent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hist, err := inForce(trustFile, chainFile)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return exitError{code: 2, err: err}
			}
			tx, err := config.Parse(raw)
			if err != nil {
				return exitError{code: 1, err: err}
			}
			nc, err := bus.Connect(natsURL, creds, name)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			defer nc.Close()
			qc, err := query.NewClient(query.ClientConfig{Conn: nc, Trust: hist.Current(), Timeout: timeout})
			if err != nil {
				return exitError{code: 2, err: err}
			}
			defer qc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*timeout+30*time.Second)
			defer cancel()
			if err := qc.SubmitConfig(ctx, tx); err != nil {
				if errors.Is(err, query.ErrBadRequest) {
					return exitError{code: 1, err: fmt.Errorf("consortium submit: refused: %w", err)}
				}
				return exitError{code: 2, err: fmt.Errorf("consortium submit: %w", err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: submitted (%d signatures); it is sealed alone in the next block and in force from the height after\n", args[0], len(tx.Signatures))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&trustFile, "trust", "", "the genesis trust bundle (required)")
	fl.StringVar(&chainFile, "config-chain", "", "the configuration chain after --trust")
	fl.StringVar(&natsURL, "nats", "", "the bus (required)")
	fl.StringVar(&creds, "creds", "", "a NATS seed of a city's gateway, the service identity or an orderer (required)")
	fl.StringVar(&name, "name", "baybus-consortium-submit", "the connection's name")
	fl.DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for each orderer")
	for _, f := range []string{"trust", "nats", "creds"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newConsortiumShowCmd() *cobra.Command {
	var trustFile, chainFile, proposal, dataDir, chainOut string
	var asJSON bool
	var height uint64
	cmd := &cobra.Command{
		Use:   "show --trust F [--config-chain F | --data DIR [--chain-out F]] [--proposal P --height H] [--json]",
		Short: "Print the configuration in force and its history; check a proposal",
		Long: `show follows the configuration chain from the genesis trust bundle (each
configuration block certified by the configuration before it) and prints the
configuration in force, its orderers and quorum, every key with its validity,
and the history of configuration blocks. --json prints the bundle in force.

--data DIR reads the configuration blocks from a stopped orderer's block log
(DIR is its data directory, or a 'baybus up' data directory: its first orderer)
instead of --config-chain, and --chain-out F writes them as the configuration
chain file that 'verify --config-chain' and other verifiers take.

--proposal P checks a proposal as the ledger would at --height (the height it
would be sealed at): exit status 0 if it would be accepted, 1 with the reason
(too few signatures, a removed member's vote, a stale base, a key without proof
of possession, ...) if not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var hist *config.History
			var err error
			if dataDir != "" {
				if chainFile != "" {
					return fmt.Errorf("consortium show: --data and --config-chain: give one")
				}
				hist, err = historyOfData(cmd.Context(), trustFile, dataDir, chainOut)
			} else {
				hist, err = inForce(trustFile, chainFile)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if proposal != "" {
				raw, err := os.ReadFile(proposal)
				if err != nil {
					return err
				}
				tx, err := config.Parse(raw)
				if err != nil {
					return exitError{code: 1, err: err}
				}
				if height <= hist.LastHeight() {
					return fmt.Errorf("consortium show: --height %d: give the height the proposal would be sealed at, above %d", height, hist.LastHeight())
				}
				if _, err := config.Check(hist.At(height), tx, height); err != nil {
					return exitError{code: 1, err: err}
				}
				fmt.Fprintf(w, "%s: would be accepted at height %d (%d signatures)\n", proposal, height, len(tx.Signatures))
				return nil
			}
			cur := hist.Current()
			if asJSON {
				raw, err := cur.Marshal()
				if err != nil {
					return err
				}
				_, err = w.Write(raw)
				return err
			}
			printConfig(w, cur, config.Digest(cur))
			fmt.Fprintln(w, "history:")
			fmt.Fprintf(w, "  genesis  %x  %d orderers\n", digest8(hist.Genesis()), hist.Genesis().N())
			for _, e := range hist.Entries() {
				fmt.Fprintf(w, "  block %d  %x  %d orderers, %d signatures  %s\n", e.Height, digest8(e.Bundle), e.Bundle.N(), len(e.Tx.Signatures), e.Tx.Note)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&trustFile, "trust", "", "the genesis trust bundle (required)")
	fl.StringVar(&chainFile, "config-chain", "", "the configuration chain after --trust")
	fl.StringVar(&dataDir, "data", "", "read the configuration blocks from this stopped orderer's (or up's) data directory")
	fl.StringVar(&chainOut, "chain-out", "", "with --data: write the configuration chain to this file")
	fl.StringVar(&proposal, "proposal", "", "check this proposal instead")
	fl.Uint64Var(&height, "height", 0, "with --proposal: the height it would be sealed at")
	fl.BoolVar(&asJSON, "json", false, "print the bundle in force as JSON")
	_ = cmd.MarkFlagRequired("trust")
	return cmd
}

// historyOfData follows the configuration blocks of an orderer's block
// log from the genesis trust, writing them to chainOut if set.
func historyOfData(ctx context.Context, trustFile, dataDir, chainOut string) (*config.History, error) {
	genesis, err := keys.LoadBundle(trustFile)
	if err != nil {
		return nil, err
	}
	logs := audit.OrdererLogs(dataDir, genesis)
	if len(logs) == 0 {
		return nil, fmt.Errorf("consortium show: %s holds no block log (neither orderers/<name>/blocks nor blocks/)", dataDir)
	}
	links, err := configChainOf(ctx, logs[0].Dir)
	if err != nil {
		return nil, fmt.Errorf("consortium show: %s: %w", logs[0].Dir, err)
	}
	hist, err := block.FollowConfig(genesis, links)
	if err != nil {
		return nil, exitError{code: 1, err: fmt.Errorf("consortium show: the configuration blocks of %s: %w", logs[0].Dir, err)}
	}
	if chainOut != "" {
		if err := keys.WriteFileAtomic(chainOut, block.EncodeConfigChain(genesis.Chain, links), 0o644); err != nil {
			return nil, err
		}
	}
	return hist, nil
}

func digest8(b *keys.Bundle) []byte {
	d := config.Digest(b)
	return d[:8]
}

func printConfig(w io.Writer, b *keys.Bundle, digest [32]byte) {
	fmt.Fprintf(w, "configuration %x of chain %s (rules version %d)\n", digest[:8], b.Chain, max(b.Rules, 1))
	fmt.Fprintf(w, "orderers (%d, quorum %d): %s\n", b.N(), b.Quorum(), strings.Join(b.Orderers, ", "))
	fmt.Fprintln(w, "keys:")
	for _, k := range b.Keys {
		until := "open"
		if k.ValidUntil != nil {
			until = fmt.Sprint(*k.ValidUntil)
		}
		fmt.Fprintf(w, "  %-28s %-8s %-12s %-10s heights %d..%s\n", k.ID, k.Role, k.Member, k.Scheme, k.ValidFrom, until)
	}
	if len(b.Readers) > 0 {
		names := make([]string, len(b.Readers))
		for i, r := range b.Readers {
			names[i] = r.Name
		}
		fmt.Fprintf(w, "readers: %s\n", strings.Join(names, ", "))
	}
}
