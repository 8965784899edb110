package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// Exit codes of verify (and of the other proof commands where they apply).
const (
	exitValid      = 0 // proof valid, license valid
	exitInvalid    = 1 // proof invalid
	exitNotValid   = 2 // proof valid, license suspended, revoked or expired
	exitCannotRun  = 3 // verify could not run (usage, unreadable file or trust bundle)
	exitNotReached = 1 // subscribe: --timeout passed before --max messages
)

// ---- baybus proof ----

func newProofCmd() *cobra.Command {
	var dataDir, license, ordererName, format, out string
	var af archiveFlags
	cmd := &cobra.Command{
		SilenceUsage:  true,
		SilenceErrors: true,
		Use:           "proof --data DIR --license JUR/ID [--orderer NAME] [--format json|binary] [--out FILE]",
		Short:         "Make a fresh proof of a license's current status from a stopped node's data",
		Long: `proof reads a stopped node's ledger (a 'baybus up' data directory: DIR/trust.json
and DIR/orderers/<name>/{blocks,state}; the first orderer that has one, or
--orderer) and writes a proof of the license's status at the latest height: its
last change and, if that is a status change, the record in force, each with its
batch signature and paths, the headers involved with their quorum certificates,
and the state proof (see ledger/proof/README.md). The proof is checked against
DIR/trust.json before it is written; a summary goes to stderr.

Exit status: 0 written, 1 no such license, 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := schemas.SplitLicenseKey(license); err != nil {
				return exitf(2, "--license: %v", err)
			}
			if format != "json" && format != "binary" {
				return exitf(2, "--format %q: want json or binary", format)
			}
			l, err := openLedger(cmd.Context(), dataDir, ordererName, &af)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			defer l.Close()
			key := normalKey(license)
			b, err := proof.Latest(l.Source(), key)
			if errors.Is(err, proof.ErrNotFound) {
				return exitf(1, "the ledger of %s holds no license %s (height %d)", l.Orderer, key, l.State.Height())
			}
			if err != nil {
				return exitError{code: 2, err: err}
			}
			v, err := proof.Verify(l.Trust, b)
			if err != nil {
				return exitf(2, "the ledger of %s made a proof that does not verify: %v", l.Orderer, err)
			}
			var data []byte
			if format == "binary" {
				data, err = b.MarshalBinary()
			} else {
				data, err = proof.EncodeJSON(b)
			}
			if err != nil {
				return exitError{code: 2, err: err}
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(data)
			} else {
				err = keys.WriteFileAtomic(out, data, 0o644)
			}
			if err != nil {
				return exitError{code: 2, err: err}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s at height %d (last change %s at height %d), from orderer %s\n",
				v.Key, v.Status, v.Height, v.Tx.Action, v.TxHeight, l.Orderer)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data", system.DefaultDataDir, "data directory of a stopped node")
	fl.StringVar(&license, "license", "", "license key JUR/ID, e.g. CN/91440300MA5FXXXX1X (required)")
	fl.StringVar(&ordererName, "orderer", "", "orderer whose ledger to read (default: the first that has one)")
	fl.StringVar(&format, "format", "json", "json or binary")
	fl.StringVar(&out, "out", "", "write the proof to this file (default stdout)")
	af.add(fl)
	_ = cmd.MarkFlagRequired("license")
	return cmd
}

// normalKey upper-cases the jurisdiction of JUR/ID.
func normalKey(key string) string {
	jur, id, _ := strings.Cut(key, "/")
	return strings.ToUpper(jur) + "/" + id
}

// ---- baybus licenses ----

func newLicensesCmd() *cobra.Command {
	var dataDir, city, ordererName, atFlag string
	var af archiveFlags
	var limit int
	cmd := &cobra.Command{
		SilenceUsage:  true,
		SilenceErrors: true,
		Use:           "licenses --data DIR [--city C] [--limit N] [--at TIME] [--orderer NAME]",
		Short:         "List the licenses of a stopped node's ledger: key, status, height, holder, validity",
		Long: `licenses lists the license state of a stopped node (see 'baybus proof' for the
data directory), one license per line in key order: the key (JUR/ID), its
effective status now (valid, suspended, revoked, or expired, also when its
validity ended without an expire event), the height of its last change, the
city that holds it, and the last day of its validity ("-" for none).

Chains of rules version 1 (trust bundles without "rules") do not record the
holder or the validity in their state: the holder is "-" and the status is
as recorded; 'baybus proof' and 'verify' show the validity from the record.

--city takes a jurisdiction (CN, HK, MO: every license of it, read by key
prefix) or a city token (e.g. shenzhen): the licenses that city holds (under
rules version 1, whose state does not say, the licenses whose last change that
city made, read from each license's block, so it is slower). --limit stops
after N lines (0: no limit). --at judges expiry at TIME (RFC 3339) instead of
now.

Exit status: 0, or 2 if it could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := parseAt(atFlag)
			if err != nil {
				return exitf(2, "%v", err)
			}
			prefix, byCity := "", ""
			if city != "" {
				if j, err := schemas.ParseJurisdiction(city); err == nil {
					prefix = string(j) + "/"
				} else if c, err := schemas.LookupCity(city); err == nil {
					prefix, byCity = string(c.Jurisdiction)+"/", c.Token
				} else {
					return exitf(2, "--city %q: not a jurisdiction (CN, HK, MO) nor a city (%s)", city, strings.Join(schemas.CityTokens(), ", "))
				}
			}
			l, err := openLedger(cmd.Context(), dataDir, ordererName, &af)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			defer l.Close()
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			cities := newCityCache(l.Source())
			n := 0
			errStop := errors.New("stop")
			err = l.State.Iterate(prefix, func(leaf smt.Leaf) error {
				if byCity != "" {
					c := leaf.Owner
					if c == "" {
						var err error
						if c, err = cities.city(leaf.Height, leaf.TxID); err != nil {
							return err
						}
					}
					if c != byCity {
						return nil
					}
				}
				if _, err := fmt.Fprintf(w, "%s %s %d %s %s\n", leaf.Key, leaf.Effective(at), leaf.Height, orDash(leaf.Owner), orDash(leaf.ValidTo)); err != nil {
					return err
				}
				if n++; limit > 0 && n >= limit {
					return errStop
				}
				return nil
			})
			if err != nil && !errors.Is(err, errStop) {
				return exitError{code: 2, err: err}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data", system.DefaultDataDir, "data directory of a stopped node")
	fl.StringVar(&city, "city", "", "a jurisdiction (CN, HK, MO) or a city token (the licenses it holds)")
	fl.IntVar(&limit, "limit", 0, "stop after N licenses (0: all)")
	fl.StringVar(&atFlag, "at", "", "judge expiry at this RFC 3339 time instead of now")
	fl.StringVar(&ordererName, "orderer", "", "orderer whose ledger to read (default: the first that has one)")
	af.add(fl)
	return cmd
}

// openLedger opens a stopped node's ledger, over the archive of its
// orderer if the --archive-* flags name one (then --orderer is needed: an
// archive holds one orderer's blocks).
func openLedger(ctx context.Context, dataDir, name string, af *archiveFlags) (*node.Ledger, error) {
	cold, err := af.open(ctx)
	if err != nil || cold == nil {
		if err != nil {
			return nil, err
		}
		return node.OpenLedger(dataDir, name)
	}
	if name == "" {
		return nil, errors.New("an archive holds one orderer's blocks: name it with --orderer")
	}
	return node.OpenLedgerCold(dataDir, name, cold)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseAt parses --at: an RFC 3339 time, or now if empty.
func parseAt(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at %q: not an RFC 3339 time", s)
	}
	return t, nil
}

// cityCache finds the city of a transaction in a block, keeping the
// cities of the last few blocks read.
type cityCache struct {
	src    node.LedgerSource
	blocks map[uint64]map[schemas.TxID]string
	order  []uint64
}

func newCityCache(src node.LedgerSource) *cityCache {
	return &cityCache{src: src, blocks: map[uint64]map[schemas.TxID]string{}}
}

func (c *cityCache) city(height uint64, id [32]byte) (string, error) {
	m, ok := c.blocks[height]
	if !ok {
		blk, _, err := c.src.Block(height)
		if err != nil {
			return "", err
		}
		m = map[schemas.TxID]string{}
		for _, t := range blk.Txs() {
			if t.Result == block.OK {
				m[t.ID] = blk.Batches[t.Batch].City
			}
		}
		if len(c.order) == 64 {
			delete(c.blocks, c.order[0])
			c.order = c.order[1:]
		}
		c.blocks[height], c.order = m, append(c.order, height)
	}
	city, ok := m[id]
	if !ok {
		return "", fmt.Errorf("block %d does not hold transaction %x", height, id)
	}
	return city, nil
}

// ---- verdict output shared by verify and subscribe ----

// verdictLine is one verified proof as verify --json and subscribe print it.
type verdictLine struct {
	Source string         `json:"source"`        // file name or subject
	Seq    uint64         `json:"seq,omitempty"` // stream sequence (subscribe)
	Key    string         `json:"key"`
	Status schemas.Status `json:"status"` // as of the proof's height and time
	// StatusNow is the status when the proof was checked: Status, or
	// expired if the validity ended since.
	StatusNow schemas.Status `json:"statusNow"`
	// Recorded is the status the ledger recorded, when Status differs
	// from it (a validity that ended without an expire event).
	Recorded    schemas.Status    `json:"recorded,omitempty"`
	Time        time.Time         `json:"time"`       // the proof's time: its newest header's timestamp
	AgeSeconds  int64             `json:"ageSeconds"` // how old the proof was when checked
	Owner       string            `json:"owner,omitempty"`
	ValidTo     string            `json:"validTo,omitempty"`
	Rules       int               `json:"rules"`
	Height      uint64            `json:"height"`
	BlockHash   proof.Hash        `json:"blockHash"`
	TxID        proof.Hash        `json:"txId"`
	TxHeight    uint64            `json:"txHeight"`
	TxBlockHash proof.Hash        `json:"txBlockHash"`
	LastChange  bool              `json:"lastChange"`
	Action      schemas.Action    `json:"action"`
	City        string            `json:"city"`
	Kind        schemas.Kind      `json:"kind"`
	Rendering   *bridge.Rendering `json:"rendering,omitempty"`
	RenderError string            `json:"renderError,omitempty"`
	Record      *schemas.Tx       `json:"record,omitempty"` // when not rendered
}

// rejectLine is a proof that failed verification.
type rejectLine struct {
	Source string `json:"source"`
	Seq    uint64 `json:"seq,omitempty"`
	Valid  bool   `json:"valid"`
	Check  string `json:"check"` // proof.CheckName, "" if the proof could not be read
	Error  string `json:"error"`
}

// render makes the verdict line as of now, rendering the record in force
// (or the transaction) through jurisdiction j's bridge ("" for the
// record's own).
func render(source string, v *proof.Verdict, j schemas.Jurisdiction, now time.Time) verdictLine {
	tx := v.Shown()
	out := verdictLine{Source: source, Key: v.Key, Status: v.Status, StatusNow: v.StatusAt(now), Time: v.Time,
		AgeSeconds: int64(now.Sub(v.Time) / time.Second), Owner: v.Owner, ValidTo: v.ValidTo, Rules: v.Rules,
		Height: v.Height, BlockHash: v.BlockHash,
		TxID: v.TxID, TxHeight: v.TxHeight, TxBlockHash: v.TxBlockHash, LastChange: v.LastChange,
		Action: v.Tx.Action, City: v.Tx.City, Kind: v.Tx.Kind}
	if v.Recorded != v.Status {
		out.Recorded = v.Recorded
	}
	if j == "" {
		j = tx.Jurisdiction
	}
	br := bridge.For(j)
	if br == nil {
		out.Record = tx
		return out
	}
	r, err := br.Render(tx)
	if err != nil {
		out.RenderError, out.Record = err.Error(), tx
		return out
	}
	out.Rendering = &r
	return out
}

func parseRender(s string) (schemas.Jurisdiction, error) {
	if s == "" {
		return "", nil
	}
	return schemas.ParseJurisdiction(s)
}

// ---- baybus verify ----

func newVerifyCmd() *cobra.Command {
	var trustFile, chainFile, renderAs, atFlag string
	var asJSON bool
	var maxAge time.Duration
	cmd := &cobra.Command{
		SilenceUsage:  true,
		SilenceErrors: true,
		Use:           "verify --trust F [--config-chain F] [--render cn|hk|mo] [--max-age D] [--at TIME] [--json] PROOF...",
		Short:         "Verify license proofs offline with the trust bundle alone",
		Long: `verify checks each license proof (a file in JSON or binary form, "-" for stdin)
with nothing but the consortium's trust bundle: the record, its city's batch
signature and path, its path to the block's transaction root, each header's
quorum certificate (keys valid at that height), and the state proof of the
license's status. It prints the verdict, the height, the status, the proof's
time (its newest header's timestamp) and age, the city that holds the license
and its validity, and the record rendered through the chosen jurisdiction's
bridge (default the record's own); a proof that fails says which check failed.
--json prints one JSON line per proof instead. Headers trusted by one proof are
remembered for the next, so two proofs that disagree on a block are reported as
a fork.

When the consortium's configuration has changed since the trust bundle was
made (orderers added or removed, keys rotated or revoked), --config-chain F
names the configuration chain (the configuration blocks with their
certificates, as 'baybus consortium show --data DIR --chain-out F' writes it): --trust is then
the genesis bundle, each configuration block must be certified by the
configuration before it, and each proof is judged by the configuration in
force at its heights. A forged chain (too few signatures, a removed orderer's
vote, a changed byte) is refused with exit status 1.

A license is expired from the day after the last day of its validity (GBA time,
UTC+8), with or without an expire event: a proof made while it was valid shows
it expired once that day has passed. A proof shows the status at its height;
a suspension or revocation after that only a fresher proof shows, so
--max-age D refuses proofs older than D (e.g. 24h). --at TIME (RFC 3339)
judges age and expiry at TIME instead of now.

Exit status: 0 every proof valid and every license valid; 1 a proof is invalid;
2 every proof valid but a license is suspended, revoked or expired, or a proof
is older than --max-age; 3 could not run (usage, trust bundle or a file
unreadable).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return exitf(exitCannotRun, "verify: name at least one proof file (\"-\" for stdin)")
			}
			if trustFile == "" {
				return exitf(exitCannotRun, "verify: --trust is required")
			}
			if maxAge < 0 {
				return exitf(exitCannotRun, "verify: --max-age %v is negative", maxAge)
			}
			now, err := parseAt(atFlag)
			if err != nil {
				return exitf(exitCannotRun, "verify: %v", err)
			}
			j, err := parseRender(renderAs)
			if err != nil {
				return exitf(exitCannotRun, "--render: %v", err)
			}
			trust, err := keys.LoadBundle(trustFile)
			if err != nil {
				return exitError{code: exitCannotRun, err: err}
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			verifier := proof.NewVerifier(trust, 0)
			if chainFile != "" {
				hist, err := loadConfigChain(trust, chainFile)
				if err != nil {
					var ee exitError
					if errors.As(err, &ee) {
						return err
					}
					return exitf(exitInvalid, "verify: configuration chain %s refused: %v", chainFile, err)
				}
				verifier = proof.NewChainVerifier(hist, 0)
			}
			invalid, unreadable, notValid, tooOld := 0, 0, 0, 0
			for _, path := range args {
				raw, err := readProofFile(cmd.InOrStdin(), path)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: cannot read: %v\n", path, err)
					unreadable++
					continue
				}
				var v *proof.Verdict
				b, err := proof.Decode(raw)
				if err == nil {
					v, err = verifier.Verify(b)
				}
				if err != nil {
					invalid++
					if asJSON {
						_ = enc.Encode(rejectLine{Source: path, Check: proof.CheckName(err), Error: err.Error()})
					} else {
						fmt.Fprintf(out, "%s: INVALID: %s check failed: %v\n", path, proof.CheckName(err), err)
					}
					continue
				}
				line := render(path, v, j, now)
				if line.StatusNow != schemas.StatusValid {
					notValid++
				}
				old := maxAge > 0 && now.Sub(v.Time) > maxAge
				if old {
					tooOld++
				}
				if asJSON {
					if err := enc.Encode(line); err != nil {
						return exitError{code: exitCannotRun, err: err}
					}
					continue
				}
				printVerdict(out, line, now)
				if old {
					fmt.Fprintf(out, "  TOO OLD: the proof is %v old, more than --max-age %v: fetch a fresh one\n", age(now.Sub(v.Time)), maxAge)
				}
			}
			switch {
			case invalid > 0:
				return exitf(exitInvalid, "%d of %d proofs invalid", invalid, len(args))
			case unreadable > 0:
				return exitf(exitCannotRun, "%d of %d proofs could not be read", unreadable, len(args))
			case tooOld > 0 && notValid > 0:
				return exitf(exitNotValid, "%d of %d proofs older than --max-age %v; %d of %d licenses not valid", tooOld, len(args), maxAge, notValid, len(args))
			case tooOld > 0:
				return exitf(exitNotValid, "%d of %d proofs older than --max-age %v", tooOld, len(args), maxAge)
			case notValid > 0:
				return exitf(exitNotValid, "%d of %d licenses not valid", notValid, len(args))
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitError{code: exitCannotRun, err: err} })
	fl := cmd.Flags()
	fl.StringVar(&trustFile, "trust", "", "trust bundle (trust.json) (required)")
	fl.StringVar(&chainFile, "config-chain", "", "configuration chain after --trust (JSON, as 'consortium show --data DIR --chain-out F' writes it)")
	fl.StringVar(&renderAs, "render", "", "render the record as cn, hk or mo (default: the record's jurisdiction)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line per proof")
	fl.DurationVar(&maxAge, "max-age", 0, "refuse (exit 2) a proof older than this, e.g. 24h (0: any age)")
	fl.StringVar(&atFlag, "at", "", "judge age and expiry at this RFC 3339 time instead of now")
	return cmd
}

// loadConfigChain reads a configuration chain file and follows it from
// the genesis trust. An unreadable file is exitCannotRun; a chain that
// does not decode or verify is returned as a plain error.
func loadConfigChain(genesis *keys.Bundle, path string) (*config.History, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, exitf(exitCannotRun, "verify: %v", err)
	}
	chain, links, err := block.DecodeConfigChain(raw)
	if err != nil {
		return nil, err
	}
	if chain != genesis.Chain {
		return nil, fmt.Errorf("a configuration chain of %q, the trust bundle is of %q", chain, genesis.Chain)
	}
	return block.FollowConfig(genesis, links)
}

// age rounds a proof's age for people: seconds, or minutes past an hour.
func age(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

func readProofFile(stdin io.Reader, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(stdin, 4*proof.MaxBundleBytes))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4*proof.MaxBundleBytes))
}

func printVerdict(w io.Writer, l verdictLine, now time.Time) {
	word := strings.ToUpper(string(l.Status))
	fmt.Fprintf(w, "%s: proof valid: %s is %s at height %d (block %x)\n", l.Source, l.Key, word, l.Height, l.BlockHash[:8])
	fmt.Fprintf(w, "  as of %s: the proof is %v old\n", l.Time.Format(time.RFC3339), age(now.Sub(l.Time)))
	if l.StatusNow != l.Status {
		fmt.Fprintf(w, "  now %s: its validity ended on %s\n", strings.ToUpper(string(l.StatusNow)), l.ValidTo)
	}
	switch {
	case l.Recorded != "":
		fmt.Fprintf(w, "  recorded %s; expired with the end of its validity on %s\n", l.Recorded, l.ValidTo)
	case l.ValidTo != "":
		fmt.Fprintf(w, "  valid to %s\n", l.ValidTo)
	}
	if l.Owner != "" {
		fmt.Fprintf(w, "  held by %s\n", l.Owner)
	}
	change := "last change"
	if !l.LastChange {
		change = "transaction (not the last change)"
	}
	fmt.Fprintf(w, "  %s: %s %s by %s, tx %x, sealed at height %d (block %x)\n", change, l.Kind, l.Action, l.City, l.TxID[:8], l.TxHeight, l.TxBlockHash[:8])
	switch {
	case l.Rendering != nil:
		fmt.Fprintf(w, "  record (%s):\n", l.Rendering.Version)
		for _, f := range l.Rendering.Fields {
			fmt.Fprintf(w, "    %s: %s\n", f.Label, f.Value)
		}
	case l.RenderError != "":
		fmt.Fprintf(w, "  record not rendered: %s\n", l.RenderError)
	}
}

// ---- baybus subscribe ----

type subscribeFlags struct {
	from, kind, renderAs, reader   string
	natsURL, creds, trust, dataDir string
	tlsCA, tlsCert, tlsKey         string
	max                            int
	timeout                        time.Duration
	personal                       bool
}

func newSubscribeCmd() *cobra.Command {
	var f subscribeFlags
	cmd := &cobra.Command{
		SilenceUsage:  true,
		SilenceErrors: true,
		Use:           "subscribe --from cn|hk|mo [--kind K] [--personal] [--render J] (--reader NAME | --creds F) [--nats URL] [--trust F] [--max N] [--timeout D]",
		Short:         "Follow the license proofs of a jurisdiction, verified, as JSON lines",
		Long: `subscribe follows the proofs the orderers publish when they seal license
transactions (JetStream stream GBA_PROOFS, subjects gba.proofs.<JUR>.<kind>),
verifies each one with the trust bundle alone, and prints one JSON line per
verified proof: the verdict (license, status and height, transaction, block
hashes) and the record rendered through --render's bridge (default the --from
jurisdiction). A proof that fails verification is reported on stderr as a JSON
line with the check that failed, and never printed as valid.

It runs as a named reader of the consortium ('baybus keys add-reader'): --creds
is the reader's NATS credentials (default DATA/nats/reader-<--reader>.nk), and
the trust bundle names the reader and its grants. The proofs asked for
(--from, --kind; without --kind, every kind, which needs a <JUR>.* grant) must
be within its grants: anything else is refused here, and by the bus.

It reads through the reader's own durable consumer for those proofs
(<reader>_<jur>_<kind>, 'all' for every kind) and acknowledges each proof
after printing it, so a restart resumes where the last run stopped. Run one
process per reader and subject.

On a chain of rules version 1 or 2, a record that names natural persons
(their names, identity numbers) in plaintext is published apart, on
gba.proofs.<JUR>.<kind>.personal, and only a personal grant (JUR.kind.personal
or JUR.*.personal) reads it: --personal follows those proofs (durable
<reader>_<jur>_<kind>_personal) instead of the others. A chain of rules
version 3 publishes none there: its records hold such fields as digests.

Connection: --nats URL (default nats://127.0.0.1:4222); --trust defaults to
DATA/trust.json. A server beyond loopback speaks TLS (tls://host:port): --tls-ca
is the CA to trust (default DATA/tls/ca.crt for a tls:// URL), --tls-cert and
--tls-key the reader's client certificate (default DATA/tls/reader-<name>.crt and
.key when present; 'baybus keys cert --client').

--max N stops after N proofs (verified or not); --timeout D stops after D.
Exit status: 0 stopped (interrupt, --max reached, or --timeout without --max);
1 --timeout passed before --max proofs; 2 could not run (refused included).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSubscribe(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "", "jurisdiction whose proofs to follow: cn, hk or mo (required)")
	fl.StringVar(&f.kind, "kind", "", "only this kind: business, certificate, approval (default all)")
	fl.StringVar(&f.renderAs, "render", "", "render records as cn, hk or mo (default the --from jurisdiction)")
	fl.StringVar(&f.reader, "reader", "", "reader name in the trust bundle (default: the reader --creds belongs to)")
	fl.StringVar(&f.natsURL, "nats", "nats://"+system.DefaultNATSListen, "NATS URL")
	fl.StringVar(&f.creds, "creds", "", "the reader's NATS credentials: NKey seed or .creds file (default DATA/nats/reader-<reader>.nk)")
	fl.StringVar(&f.trust, "trust", "", "trust bundle (default DATA/trust.json)")
	fl.StringVar(&f.dataDir, "data", system.DefaultDataDir, "data directory the defaults of --trust, --creds and --tls-* come from")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "CA certificates (PEM) to trust for a TLS server (default DATA/tls/ca.crt for a tls:// URL)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "client certificate (PEM) for a TLS server (default DATA/tls/reader-<name>.crt if present)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "its key (default the certificate's path with .key)")
	fl.BoolVar(&f.personal, "personal", false, "follow the proofs of records naming persons in plaintext (needs a personal grant)")
	fl.IntVar(&f.max, "max", 0, "stop after N proofs (0: no limit)")
	fl.DurationVar(&f.timeout, "timeout", 0, "stop after this long (0: no limit)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// subscribeReader finds the reader subscribe runs as: by --reader, or by
// the public key of --creds, which must agree.
func subscribeReader(f *subscribeFlags, trust *keys.Bundle, trustFile string) (*keys.Reader, string, error) {
	creds := f.creds
	var named *keys.Reader
	if f.reader != "" {
		r, ok := trust.Reader(f.reader)
		if !ok {
			return nil, "", exitf(2, "subscribe: reader %q is not in %s (baybus keys add-reader)", f.reader, trustFile)
		}
		named = r
		if creds == "" {
			creds = bus.SeedPath(f.dataDir, bus.IdentityName(bus.RoleReader, f.reader))
		}
	}
	if creds == "" {
		return nil, "", exitf(2, "subscribe: runs as a reader: give --reader NAME or --creds FILE (baybus keys add-reader)")
	}
	pub, err := bus.CredsPublicKey(creds)
	if err != nil {
		return nil, "", exitError{code: 2, err: err}
	}
	r, ok := trust.ReaderByNATS(pub)
	switch {
	case !ok:
		return nil, "", exitf(2, "subscribe: %s are not the credentials of a reader in %s (baybus keys add-reader)", creds, trustFile)
	case named != nil && r.Name != named.Name:
		return nil, "", exitf(2, "subscribe: %s are reader %s's credentials, not %s's", creds, r.Name, named.Name)
	}
	return r, creds, nil
}

// subscribeTLS is the connection's TLS option: none for a plaintext
// (loopback) server unless --tls-ca is given.
func subscribeTLS(f *subscribeFlags, reader string) (nats.Option, error) {
	ca, cert, key := f.tlsCA, f.tlsCert, f.tlsKey
	if ca == "" && strings.HasPrefix(f.natsURL, "tls://") {
		ca, _ = consortium.CAPaths(f.dataDir)
	}
	if ca == "" {
		if cert != "" || key != "" {
			return nil, errors.New("subscribe: --tls-cert and --tls-key need --tls-ca (or a tls:// URL)")
		}
		return nil, nil
	}
	if cert == "" {
		if c, k := consortium.CertPaths(f.dataDir, bus.IdentityName(bus.RoleReader, reader)); fileExists(c) {
			cert, key = c, k
		}
	}
	if cert != "" && key == "" {
		key = strings.TrimSuffix(cert, ".crt") + ".key"
	}
	return bus.TLSOption(ca, cert, key)
}

func runSubscribe(cmd *cobra.Command, f *subscribeFlags) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	jur, err := schemas.ParseJurisdiction(f.from)
	if err != nil {
		return exitf(2, "--from: %v", err)
	}
	kindToken := "*"
	if f.kind != "" {
		k, err := schemas.ParseKind(f.kind)
		if err != nil {
			return exitf(2, "--kind: %v", err)
		}
		kindToken = k.Short()
	}
	renderAs := jur
	if f.renderAs != "" {
		if renderAs, err = schemas.ParseJurisdiction(f.renderAs); err != nil {
			return exitf(2, "--render: %v", err)
		}
	}
	trustFile := f.trust
	if trustFile == "" {
		trustFile = filepath.Join(f.dataDir, keys.TrustFile)
	}
	trust, err := keys.LoadBundle(trustFile)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	reader, creds, err := subscribeReader(f, trust, trustFile)
	if err != nil {
		return err
	}
	if !reader.Allows(string(jur), kindToken) {
		return exitf(2, "subscribe: reader %s may read %s, not %s.%s", reader.Name, strings.Join(reader.Grants, ", "), jur, kindToken)
	}
	durable, _ := bus.ReaderDurableFor(reader.Name, reader.Grants, string(jur), kindToken)
	if f.personal {
		var ok bool
		if durable, ok = bus.ReaderPersonalDurableFor(reader.Name, reader.Grants, string(jur), kindToken); !ok {
			return exitf(2, "subscribe: reader %s may read %s, not the personal fields of %s.%s (a grant %s.%s%s)",
				reader.Name, strings.Join(reader.Grants, ", "), jur, kindToken, jur, kindToken, keys.GrantPersonal)
		}
	}
	// The bus reports a refused call only as an asynchronous error; stop
	// at once with it instead of waiting for a time-out.
	ctx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	opts := []nats.Option{nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			refuse(fmt.Errorf("subscribe: the bus refused reader %s: %w", reader.Name, err))
		}
	})}
	tlsOpt, err := subscribeTLS(f, reader.Name)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	if tlsOpt != nil {
		opts = append(opts, tlsOpt)
	}
	nc, err := bus.Connect(f.natsURL, creds, "baybus-subscribe-"+durable.Name, opts...)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	setup, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// A pull consumer: proofs are fetched only as they are handled, so a
	// run that stops holds nothing the next run must wait for, and the
	// next run starts where this one acknowledged.
	cons, err := js.CreateOrUpdateConsumer(setup, bus.StreamProofs, jetstream.ConsumerConfig{
		Durable: durable.Name, FilterSubject: durable.Filter,
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: subscribeFetch,
		Description: "baybus subscribe: verified license proofs for reader " + reader.Name,
	})
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return exitError{code: 2, err: cause}
	}
	if err != nil {
		return exitf(2, "subscribe: consumer %s on %s: %v", durable.Name, bus.StreamProofs, err)
	}
	if f.timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, f.timeout)
		defer stop()
	}
	s := &subscriber{
		out: bufio.NewWriter(cmd.OutOrStdout()), errOut: cmd.ErrOrStderr(),
		verifier: proof.NewVerifier(trust, 0), renderAs: renderAs,
	}
	err = s.run(ctx, cons, f.max)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		return exitError{code: 2, err: cause}
	}
	switch {
	case err != nil:
		return exitError{code: 2, err: err}
	case f.timeout > 0 && f.max > 0 && s.seen < f.max && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return exitf(exitNotReached, "subscribe: %d of %d proofs before the %v timeout", s.seen, f.max, f.timeout)
	}
	return nil
}

const (
	// subscribeFetch bounds the proofs fetched, and so unacknowledged, at once.
	subscribeFetch = 64
	// minPull is the shortest pull request worth sending.
	minPull = 50 * time.Millisecond
)

// subscriber verifies, prints and acknowledges proofs one at a time, in
// stream order.
type subscriber struct {
	out      *bufio.Writer
	errOut   io.Writer
	verifier *proof.Verifier
	renderAs schemas.Jurisdiction
	seen     int
}

// run fetches and handles proofs until ctx ends or max (if positive) have
// been handled. Proofs fetched but not handled are nak'ed, so the consumer
// redelivers them, first and in order, to the next run.
func (s *subscriber) run(ctx context.Context, cons jetstream.Consumer, max int) error {
	for ctx.Err() == nil && (max <= 0 || s.seen < max) {
		n := subscribeFetch
		if max > 0 {
			n = min(n, max-s.seen)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < minPull {
			<-ctx.Done() // too short for a pull request to the server
			return nil
		}
		batch, err := cons.Fetch(n, jetstream.FetchContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("subscribe: fetch: %w", err)
		}
		var failure error
		for m := range batch.Messages() {
			if failure != nil || ctx.Err() != nil {
				_ = m.Nak()
				continue
			}
			failure = s.handle(ctx, m)
		}
		if failure != nil {
			return failure
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("subscribe: fetch: %w", err)
		}
	}
	return nil
}

// handle verifies one proof: a valid one is printed and then acknowledged
// (the acknowledgement confirmed by the server), a failing one is reported
// on stderr and terminated, never printed.
func (s *subscriber) handle(ctx context.Context, m jetstream.Msg) error {
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	var v *proof.Verdict
	b, err := proof.Decode(m.Data())
	if err == nil {
		v, err = s.verifier.Verify(b)
	}
	if err != nil {
		if err := writeJSONLine(s.errOut, rejectLine{Source: m.Subject(), Seq: seq, Check: proof.CheckName(err), Error: err.Error()}); err != nil {
			_ = m.Nak()
			return err
		}
		_ = m.Term()
	} else {
		line := render(m.Subject(), v, s.renderAs, time.Now())
		line.Seq = seq
		err := writeJSONLine(s.out, line)
		if err == nil {
			err = s.out.Flush()
		}
		if err != nil {
			_ = m.Nak()
			return err
		}
		ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = m.DoubleAck(ackCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("subscribe: acknowledge %d: %w", seq, err)
		}
	}
	s.seen++
	return nil
}

// writeJSONLine writes v as one JSON line, HTML left unescaped.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
