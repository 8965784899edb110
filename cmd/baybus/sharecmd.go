package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// shareClient returns a client of the share routes with the flags' URL,
// token and TLS.
func (f *clientFlags) shareClient() (*share.Client, error) {
	tok, err := client.Token(f.tokenFile)
	if err != nil {
		return nil, err
	}
	hc, err := f.tls.httpClient()
	if err != nil {
		return nil, err
	}
	return share.NewClient(f.url, hc, tok), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newShareCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "share",
		Short: "Share personal fields under the owner city's control: grants, requests, answers",
		Long: `share is data sharing under the owner's control (chains of rules version 3).
A city's records carry its natural persons' names and identity numbers only as
salted digests; the city grants a named reader (baybus keys add-reader) some of
those fields of some kinds of its licenses, for a purpose, in a window, up to a
number of requests (share grant). The reader asks the city's gateway for a
license's fields, signing with its reader key (share request); the gateway seals
an access record on the ledger, granted or refused with the reason, and only then
answers: the fields sealed (HPKE) to the reader's key, with the proofs. The reader
opens the answer (share open), which checks every field against the sealed
record's digests, and can prove what it read to anyone with trust.json (share
check). Every read is in the audit (baybus audit accesses).`,
	}
	cmd.AddCommand(newShareGrantCmd(), newShareRevokeCmd(), newShareGrantsCmd(), newShareRequestCmd(), newShareMatchCmd(),
		newShareOpenCmd(), newShareCheckCmd())
	return cmd
}

func newShareGrantCmd() *cobra.Command {
	var (
		cf                            clientFlags
		city, kinds, fields, from, to string
		g                             share.GrantBody
	)
	cmd := &cobra.Command{
		Use:   "grant --city C --reader R --kinds K,... [--fields F,...] [--match] --purpose P --from D --to D [--limit N] [--id ID]",
		Short: "Grant a reader fields of the city's licenses; prints the grant once sealed",
		Long: `grant issues a grant of the city to a reader, as a ledger transaction the city
signs, and prints it once sealed. --fields are personal fields: name,
holder.name, holder.idNumber, people.name, people.idNumber; --match allows
questions whether a holder of an identity number holds a valid license of the
kinds. The window is --from to --to, days in GBA time, both included; --limit
bounds the requests answered under it. It needs the city's publish credential.

Exit status: 0 sealed; 1 refused by the gateway or the ledger; 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.shareClient()
			if err != nil {
				return exitError{code: 2, err: err}
			}
			g.Kinds, g.Fields, g.From, g.To = splitList(kinds), splitList(fields), from, to
			r, err := c.Grant(cmd.Context(), city, g)
			if err != nil {
				return shareExit(err)
			}
			return printJSON(cmd.OutOrStdout(), r)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&city, "city", "", "the owner city (required)")
	fl.StringVar(&g.ID, "id", "", "the grant's id among the city's (default: a random one)")
	fl.StringVar(&g.Reader, "reader", "", "the reader granted (required)")
	fl.StringVar(&kinds, "kinds", "", "license kinds: business, certificate, approval (required)")
	fl.StringVar(&fields, "fields", "", "personal fields it may read, comma-separated")
	fl.BoolVar(&g.Match, "match", false, "allow match questions on identity numbers")
	fl.StringVar(&g.Purpose, "purpose", "", "purpose code requests must give, e.g. kyc (required)")
	fl.Int64Var(&g.Limit, "limit", 0, "most requests answered (0: no limit)")
	fl.StringVar(&from, "from", time.Now().In(schemas.GBATime).Format(schemas.DateLayout), "first day of the window")
	fl.StringVar(&to, "to", "", "last day of the window (required)")
	cf.add(cmd)
	for _, f := range []string{"city", "reader", "kinds", "purpose", "to"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

// shareExit maps a gateway's refusal to exit 1, anything else to 2.
func shareExit(err error) error {
	var ae *share.APIError
	if errors.As(err, &ae) && ae.Status < 500 {
		return exitError{code: 1, err: err}
	}
	return exitError{code: 2, err: err}
}

func newShareRevokeCmd() *cobra.Command {
	var (
		cf               clientFlags
		city, id, reason string
	)
	cmd := &cobra.Command{
		Use:   "revoke --city C --id ID --reason R",
		Short: "Revoke one of the city's grants; prints the revocation once sealed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.shareClient()
			if err != nil {
				return exitError{code: 2, err: err}
			}
			r, err := c.Revoke(cmd.Context(), city, id, reason)
			if err != nil {
				return shareExit(err)
			}
			return printJSON(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().StringVar(&city, "city", "", "the owner city (required)")
	cmd.Flags().StringVar(&id, "id", "", "the grant's id (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cf.add(cmd)
	for _, f := range []string{"city", "id", "reason"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newShareGrantsCmd() *cobra.Command {
	var (
		cf           clientFlags
		city, reader string
		proofs       bool
	)
	cmd := &cobra.Command{
		Use:   "grants (--city C | --reader R) [--proofs]",
		Short: "List a city's grants, or a reader's, with their state on the ledger now",
		Long: `grants lists the grants of a city (with the city's credential) or to a reader
(with the reader's), each with its terms and its state as a fresh proof from the
ledger shows it: valid, expired or revoked, and the requests answered under it.
--proofs adds each proof (verify it with baybus verify).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (city == "") == (reader == "") {
				return exitf(2, "grants: give --city or --reader")
			}
			c, err := cf.shareClient()
			if err != nil {
				return exitError{code: 2, err: err}
			}
			l, err := c.Grants(cmd.Context(), city, reader, proofs)
			if err != nil {
				return shareExit(err)
			}
			return printJSON(cmd.OutOrStdout(), l)
		},
	}
	cmd.Flags().StringVar(&city, "city", "", "a city: its grants")
	cmd.Flags().StringVar(&reader, "reader", "", "a reader: the grants to it")
	cmd.Flags().BoolVar(&proofs, "proofs", false, "include each grant's proof")
	cf.add(cmd)
	return cmd
}

// readerFlags are a reader's: its name, keys and trust bundle.
type readerFlags struct {
	dir, name, key, hpke, trust string
}

func (f *readerFlags) add(cmd *cobra.Command, hpke bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "consortium", "data", "directory holding trust.json and keys/ (the defaults of --trust, --key, --hpke)")
	fl.StringVar(&f.name, "reader", "", "the reader's name (required)")
	fl.StringVar(&f.trust, "trust", "", "trust bundle (default CONSORTIUM/trust.json)")
	if hpke {
		fl.StringVar(&f.hpke, "hpke", "", "the reader's HPKE key file (default CONSORTIUM/keys/reader-NAME.hpke)")
	} else {
		fl.StringVar(&f.key, "key", "", "the reader's signing key file (default CONSORTIUM/keys/reader-NAME.key)")
	}
}

func (f *readerFlags) bundle() (*keys.Bundle, error) {
	path := f.trust
	if path == "" {
		path = filepath.Join(f.dir, keys.TrustFile)
	}
	return keys.LoadBundle(path)
}

func (f *readerFlags) signer() (*keys.PrivateKey, error) {
	path := f.key
	if path == "" {
		path = keys.ReaderKeyPath(f.dir, f.name)
	}
	return keys.ReadFile(path)
}

func newShareRequestCmd() *cobra.Command {
	var (
		cf                                   clientFlags
		rf                                   readerFlags
		city, license, kind, fields, purpose string
		out                                  string
	)
	cmd := &cobra.Command{
		Use:   "request --reader R --city C --license JUR/ID --kind K --fields F,... --purpose P [--out ANSWER]",
		Short: "Ask an owner city for fields of one license, signed with the reader's key",
		Long: `request signs a request with the reader's key and sends it to the owner city's
gateway with the reader's credential (--token-file or $BAYBUS_TOKEN). The answer
(written to --out, or printed) is granted, with the fields sealed to the reader's
HPKE key (open it with 'baybus share open'), or refused with the reason; either
way it carries the proof of the access record sealed on the ledger first.

Exit status: 0 granted; 1 refused (recorded); 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			trust, err := rf.bundle()
			if err != nil {
				return exitError{code: 2, err: err}
			}
			k, err := schemas.ParseKind(kind)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			rq, err := share.NewRequest(trust.Chain, rf.name, city, schemas.OpDisclose, time.Now(), rand.Reader)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			rq.License, rq.Kind, rq.Fields, rq.Purpose = license, k, splitList(fields), purpose
			return sendRequest(cmd, &cf, &rf, rq, "", out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&city, "city", "", "the owner city asked (required)")
	fl.StringVar(&license, "license", "", "the license, JUR/ID (required)")
	fl.StringVar(&kind, "kind", "business", "the license's kind")
	fl.StringVar(&fields, "fields", "", "personal fields asked for, comma-separated (required)")
	fl.StringVar(&purpose, "purpose", "", "the purpose, as the grant names it (required)")
	fl.StringVar(&out, "out", "", "write the answer here (default: print it)")
	rf.add(cmd, false)
	cf.add(cmd)
	for _, f := range []string{"reader", "city", "license", "fields", "purpose"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

// sendRequest sorts the request's fields, signs it, sends it and writes
// the answer.
func sendRequest(cmd *cobra.Command, cf *clientFlags, rf *readerFlags, rq schemas.ShareRequest, opening, out string) error {
	slices.Sort(rq.Fields)
	key, err := rf.signer()
	if err != nil {
		return exitError{code: 2, err: err}
	}
	body, err := share.Sign(rq, key)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	body.Opening = opening
	c, err := cf.shareClient()
	if err != nil {
		return exitError{code: 2, err: err}
	}
	a, err := c.Request(cmd.Context(), body)
	if err != nil {
		return shareExit(err)
	}
	raw, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return exitError{code: 2, err: err}
	}
	raw = append(raw, '\n')
	if out != "" {
		if err := os.WriteFile(out, raw, 0o600); err != nil {
			return exitError{code: 2, err: err}
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "share: %s; answer written to %s\n", outcome(a), out)
	} else if _, err := cmd.OutOrStdout().Write(raw); err != nil {
		return exitError{code: 2, err: err}
	}
	if a.Outcome != schemas.OutcomeGranted {
		return exitf(1, "refused: %s", a.Reason)
	}
	return nil
}

func outcome(a *share.Answer) string {
	switch {
	case a.Outcome != schemas.OutcomeGranted:
		return "refused (" + string(a.Reason) + "), recorded on the ledger"
	case a.Result != nil:
		return fmt.Sprintf("match answered: %v", *a.Result)
	}
	return "granted"
}

func newShareMatchCmd() *cobra.Command {
	var (
		cf                               clientFlags
		rf                               readerFlags
		city, kind, number, purpose, out string
	)
	cmd := &cobra.Command{
		Use:   "match --reader R --city C --kind K --id-number N --purpose P",
		Short: "Ask whether the holder of an identity number holds a valid license of a kind of the city",
		Long: `match asks the city's gateway whether the holder of an identity number holds a
valid license of the kind issued by the city. The number goes to the gateway
beside the request; the request, which the access record carries, holds only a
salted digest of it. The answer is yes or no, signed by the city and sealed on
the ledger in the access record, and nothing else.

Exit status: 0 yes; 1 no, or refused; 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			trust, err := rf.bundle()
			if err != nil {
				return exitError{code: 2, err: err}
			}
			k, err := schemas.ParseKind(kind)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			rq, err := share.NewRequest(trust.Chain, rf.name, city, schemas.OpMatch, time.Now(), rand.Reader)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			opening, subject, err := share.MatchSubject(number, rand.Reader)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			rq.Kind, rq.Purpose, rq.Subject = k, purpose, subject
			if err := sendRequest(cmd, &cf, &rf, rq, opening, out); err != nil {
				return err
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&city, "city", "", "the city asked (required)")
	fl.StringVar(&kind, "kind", "certificate", "the license kind asked about")
	fl.StringVar(&number, "id-number", "", "the holder's identity number (required)")
	fl.StringVar(&purpose, "purpose", "", "the purpose, as the grant names it (required)")
	fl.StringVar(&out, "out", "", "write the answer here (default: print it)")
	rf.add(cmd, false)
	cf.add(cmd)
	for _, f := range []string{"reader", "city", "id-number", "purpose"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newShareOpenCmd() *cobra.Command {
	var (
		rf       readerFlags
		renderAs string
		out      string
		jsonOut  bool
	)
	cmd := &cobra.Command{
		Use:   "open ANSWER --reader R [--hpke F] [--render cn|hk|mo] [--out OPENED]",
		Short: "Decrypt an answer, verify every field against the sealed record, and render it",
		Long: `open decrypts an answer with the reader's HPKE key, verifies the proofs of the
access record and of the license against the trust bundle, checks that each
field disclosed hashes to the digest at its place in the sealed record and is
one the access record granted, and renders the record in the reader's
jurisdiction (--render; fields not disclosed are shown as such). --out writes
what was read with its proofs, which anyone with trust.json can check with
'baybus share check'.

Exit status: 0 verified; 1 the answer does not verify, or is a refusal; 2 could
not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			trust, err := rf.bundle()
			if err != nil {
				return exitError{code: 2, err: err}
			}
			path := rf.hpke
			if path == "" {
				path = keys.ReaderHPKEPath(rf.dir, rf.name)
			}
			key, err := keys.ReadHPKEFile(path)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return exitError{code: 2, err: err}
			}
			var a share.Answer
			if err := json.Unmarshal(raw, &a); err != nil {
				return exitf(1, "%s is not an answer: %v", args[0], err)
			}
			opened, r, err := share.Open(trust, key, &a)
			if err != nil {
				return exitError{code: 1, err: err}
			}
			if out != "" {
				b, _ := json.MarshalIndent(opened, "", "  ")
				if err := os.WriteFile(out, append(b, '\n'), 0o600); err != nil {
					return exitError{code: 2, err: err}
				}
			}
			return printReading(cmd.OutOrStdout(), r, renderAs, jsonOut)
		},
	}
	cmd.Flags().StringVar(&renderAs, "render", "", "render as cn, hk or mo (default: the record's jurisdiction)")
	cmd.Flags().StringVar(&out, "out", "", "write the opened answer (fields with their proofs) here")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	rf.add(cmd, true)
	_ = cmd.MarkFlagRequired("reader")
	return cmd
}

func newShareCheckCmd() *cobra.Command {
	var (
		trustFile, renderAs string
		jsonOut             bool
	)
	cmd := &cobra.Command{
		Use:   "check OPENED --trust F [--render cn|hk|mo]",
		Short: "Verify what a reader read (an opened answer) with the trust bundle alone",
		Long: `check verifies an opened answer ('share open --out') with nothing but the trust
bundle: the access record (who asked, for what, under which grant, sealed when),
the license's proof, and each disclosed field against the sealed record's
digests. It is how a reader proves what it read.

Exit status: 0 verified; 1 does not verify; 2 could not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			trust, err := keys.LoadBundle(trustFile)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return exitError{code: 2, err: err}
			}
			var o share.Opened
			if err := json.Unmarshal(raw, &o); err != nil {
				return exitf(1, "%s is not an opened answer: %v", args[0], err)
			}
			r, err := share.Check(trust, &o)
			if err != nil {
				return exitError{code: 1, err: err}
			}
			return printReading(cmd.OutOrStdout(), r, renderAs, jsonOut)
		},
	}
	cmd.Flags().StringVar(&trustFile, "trust", "trust.json", "trust bundle")
	cmd.Flags().StringVar(&renderAs, "render", "", "render as cn, hk or mo (default: the record's jurisdiction)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// readingLine is what share open and share check print with --json.
type readingLine struct {
	Reader    string            `json:"reader"`
	License   string            `json:"license"`
	Fields    []string          `json:"fields"`
	Purpose   string            `json:"purpose"`
	Grant     string            `json:"grant"`
	Access    string            `json:"access"` // the access record's key
	Sealed    time.Time         `json:"sealed"` // its block's time
	Height    uint64            `json:"height"`
	Disclosed []string          `json:"disclosed"` // places
	Rendering *bridge.Rendering `json:"rendering,omitempty"`
	Record    *schemas.Tx       `json:"record,omitempty"`
}

func printReading(w io.Writer, r *share.Reading, renderAs string, asJSON bool) error {
	j, err := parseRender(renderAs)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	if j == "" {
		j = r.Record.Jurisdiction
	}
	l := readingLine{Reader: r.Reader, License: r.License, Fields: r.Fields, Purpose: r.Purpose, Grant: r.Access.Tx.Access.Grant,
		Access: r.Access.Key, Sealed: r.Time, Height: r.Access.TxHeight}
	for _, p := range r.Places {
		l.Disclosed = append(l.Disclosed, p.Path)
	}
	if br := bridge.For(j); br != nil {
		if rd, err := br.Render(r.Record); err == nil {
			l.Rendering = &rd
		}
	}
	if l.Rendering == nil {
		l.Record = r.Record
	}
	if asJSON {
		return printJSON(w, l)
	}
	fmt.Fprintf(w, "%s read %s of %s for %s under grant %s\n", l.Reader, strings.Join(l.Disclosed, ", "), l.License, l.Purpose, l.Grant)
	fmt.Fprintf(w, "  access record %s sealed at height %d (%s)\n", l.Access, l.Height, l.Sealed.Format(time.RFC3339))
	if l.Rendering != nil {
		fmt.Fprintf(w, "  record (%s):\n", l.Rendering.Version)
		for _, f := range l.Rendering.Fields {
			fmt.Fprintf(w, "    %s: %s\n", f.Label, f.Value)
		}
	}
	return nil
}

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Audit the reads of shared data",
	}
	cmd.AddCommand(newAuditAccessesCmd())
	return cmd
}

func newAuditAccessesCmd() *cobra.Command {
	var (
		cf                 clientFlags
		q                  share.AccessQuery
		from, to, proofDir string
		trustFile          string
	)
	cmd := &cobra.Command{
		Use:   "accesses (--license JUR/ID | --reader R | --city C) [--from T] [--to T] [--proofs DIR]",
		Short: "List the access records of reads, answered or refused, each with its proof",
		Long: `accesses lists the access records the ledger holds, oldest first, one JSON line
each: who asked, for what license or kinds, which fields, for what purpose,
under which grant, answered or refused and why, and when it was sealed. A city's
credential sees every read of its own data; a reader's its own reads. --from and
--to bound the block's time (RFC 3339). --proofs DIR writes each record's proof
there (verify them with baybus verify); with --trust each proof is verified
before it is written.

Exit status: 0 listed; 1 refused by the gateway; 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, t := range []struct {
				v  string
				to *time.Time
			}{{from, &q.From}, {to, &q.To}} {
				if t.v == "" {
					continue
				}
				tm, err := time.Parse(time.RFC3339Nano, t.v)
				if err != nil {
					return exitf(2, "%q is not an RFC 3339 time", t.v)
				}
				*t.to = tm
			}
			var trust *keys.Bundle
			if trustFile != "" {
				var err error
				if trust, err = keys.LoadBundle(trustFile); err != nil {
					return exitError{code: 2, err: err}
				}
			}
			q.Proofs = proofDir != ""
			if q.Proofs {
				if err := os.MkdirAll(proofDir, 0o755); err != nil {
					return exitError{code: 2, err: err}
				}
			}
			c, err := cf.shareClient()
			if err != nil {
				return exitError{code: 2, err: err}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			for {
				l, err := c.Accesses(cmd.Context(), q)
				if err != nil {
					return shareExit(err)
				}
				for _, e := range l.Accesses {
					if q.Proofs {
						if trust != nil {
							b, err := proof.DecodeJSON(e.Proof)
							if err == nil {
								_, err = proof.Verify(trust, b)
							}
							if err != nil {
								return exitf(1, "the proof of %s does not verify: %v", e.Key, err)
							}
						}
						name := filepath.Join(proofDir, strings.ReplaceAll(e.Key, "/", "_")+".json")
						if err := os.WriteFile(name, e.Proof, 0o644); err != nil {
							return exitError{code: 2, err: err}
						}
						e.Proof = nil
					}
					if err := enc.Encode(e.AccessEntry); err != nil {
						return exitError{code: 2, err: err}
					}
				}
				if l.Next == "" {
					return nil
				}
				q.Cursor = l.Next
			}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.License, "license", "", "the reads of one license, JUR/ID")
	fl.StringVar(&q.Reader, "reader", "", "the reads of one reader")
	fl.StringVar(&q.City, "city", "", "the reads of a city's data")
	fl.StringVar(&from, "from", "", "from this time (RFC 3339)")
	fl.StringVar(&to, "to", "", "before this time (RFC 3339)")
	fl.StringVar(&proofDir, "proofs", "", "write each access record's proof into this directory")
	fl.StringVar(&trustFile, "trust", "", "verify each proof against this trust bundle")
	cf.add(cmd)
	return cmd
}
