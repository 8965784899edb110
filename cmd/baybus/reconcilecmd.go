package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/reconcile"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// reconcileFlags are the reconcile command's flags.
type reconcileFlags struct {
	city, register, format, report string
	asOf                           uint64
	repair                         bool
	dataDir, natsURL, creds, trust string
	orderer, url, tempDir          string
	tokenFile, disclosures         string
	progress                       string
	workers, show                  int
	archive                        archiveFlags // --data's orderer's archive
}

func newReconcileCmd() *cobra.Command {
	var f reconcileFlags
	cmd := &cobra.Command{
		Use:   "reconcile --city C --register FILE [--format csv|jsonl] [--as-of HEIGHT] [--report FILE] [--repair] [--data DIR | --nats URL]",
		Short: "Compare a city's register with the ledger, report the differences, optionally repair them",
		Long: `reconcile streams a city's register of record (JSONL of native events, as
'baybus sample' prints them, or CSV with a header of native key paths; see
ledger/reconcile/README.md) against the ledger's licenses of that city as of a
height, and reports: licenses on the ledger but not in the register, in the
register but not on the ledger, with different fields (each field, both
values), with a different status, and invalid rows (line, field, rule).

The ledger is read from a stopped node's data directory (--data, read-only:
nothing there is written; an orderer whose oldest blocks were archived is read
over its archive: give --orderer and the --archive-* flags it runs with) or from
the running orderers over the bus (--nats,
as the 'service' identity: --creds, default DATA/nats/service.nk). Blocks are
checked against the trust bundle (--trust, default DATA/trust.json).

--repair then publishes, through the city's gateway (--url), the issues,
amendments and status changes that the register proves are missing or stale,
with event ids derived from the rows, and waits for them to be sealed: a second
--repair publishes nothing. Revoked licenses and licenses missing from the
register are reported, never repaired.

Prints a summary table (and the first --show differences); --report writes
the machine-readable report: the summary as the first JSON line, then one
JSON line per difference. Exit status: 0 no differences, 1 differences, 2
could not run.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReconcile(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.city, "city", "", "city token, e.g. shenzhen (required)")
	fl.StringVar(&f.register, "register", "", `register file ("-" for stdin) (required)`)
	fl.StringVar(&f.format, "format", "", "register format: jsonl or csv (default: csv for a .csv file, else jsonl)")
	fl.Uint64Var(&f.asOf, "as-of", 0, "ledger height to reconcile against (default: the last block)")
	fl.StringVar(&f.report, "report", "", "write the report here: summary line, then one JSON line per difference")
	fl.BoolVar(&f.repair, "repair", false, "publish the repair events through the city's gateway and wait for commit")
	fl.StringVar(&f.dataDir, "data", "data", "data directory: a stopped node's (read-only), and where --trust and --creds default from")
	fl.StringVar(&f.natsURL, "nats", "", "read the ledger from the running orderers over NATS at this URL instead of --data's block log")
	fl.StringVar(&f.creds, "creds", "", "NATS credentials for --nats (default DATA/nats/service.nk)")
	fl.StringVar(&f.trust, "trust", "", "trust bundle (default DATA/trust.json)")
	fl.StringVar(&f.orderer, "orderer", "", "which orderer's block log (--data) or which orderer to ask (--nats); default: the first that has one / the highest")
	fl.StringVar(&f.url, "url", client.BaseURL(), "gateway URL for --repair (default $BAYBUS_URL, else "+client.DefaultURL+")")
	fl.StringVar(&f.tokenFile, "token-file", "", "bearer token of the city's publish role for --repair (default $"+client.EnvToken+")")
	fl.StringVar(&f.disclosures, "disclosures", "", "on a chain of rules version 3: the city's store of personal data (a stopped gateway's GATEWAY-DATA/share/disclosures, DATA/gateways/up/share/disclosures under up, or a copy of it), to compare its records with their personal fields opened")
	fl.StringVar(&f.tempDir, "temp", "", "directory for the scratch index (default the system's)")
	fl.IntVar(&f.workers, "workers", 0, "goroutines checking blocks and normalising rows (default: one per CPU)")
	fl.StringVar(&f.progress, "progress", "auto", "progress display: auto (a bar on a terminal, log lines otherwise), bar, log, off")
	fl.IntVar(&f.show, "show", 20, "differences to print after the summary")
	f.archive.add(fl)
	_ = cmd.MarkFlagRequired("city")
	_ = cmd.MarkFlagRequired("register")
	return cmd
}

func runReconcile(cmd *cobra.Command, f *reconcileFlags) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	city, err := schemas.LookupCity(f.city)
	if err != nil {
		return exitf(2, "--city: %v", err)
	}
	if f.repair && f.asOf != 0 {
		return exitf(2, "--repair works on the ledger's latest state: drop --as-of")
	}
	format := reconcile.FormatJSONL
	switch {
	case f.format != "":
		if format, err = reconcile.ParseFormat(f.format); err != nil {
			return exitf(2, "--format: %v", err)
		}
	case strings.EqualFold(filepath.Ext(f.register), ".csv"):
		format = reconcile.FormatCSV
	}
	var mode string
	switch f.progress {
	case "auto", "bar", "log", "off":
		mode = f.progress
	default:
		return exitf(2, "--progress %q: want auto, bar, log or off", f.progress)
	}

	trustFile := f.trust
	if trustFile == "" {
		trustFile = filepath.Join(f.dataDir, keys.TrustFile)
	}
	trust, err := keys.LoadBundle(trustFile)
	if err != nil {
		return exitf(2, "trust bundle: %v", err)
	}

	var src reconcile.Source
	if f.natsURL != "" {
		if f.archive.dir != "" || f.archive.endpoint != "" {
			return exitf(2, "--archive-* read --data's block log: the orderers asked over --nats read their own archives")
		}
		creds := f.creds
		if creds == "" {
			if p := bus.SeedPath(f.dataDir, bus.IdentityName(bus.RoleService, "")); fileExists(p) {
				creds = p
			}
		}
		nc, err := bus.Connect(f.natsURL, creds, "baybus-reconcile")
		if err != nil {
			return exitError{code: 2, err: err}
		}
		defer nc.Close()
		if src, err = reconcile.NewBusSource(reconcile.BusConfig{Conn: nc, Trust: trust, Orderer: f.orderer}); err != nil {
			return exitError{code: 2, err: err}
		}
	} else {
		cold, err := f.archive.open(ctx)
		if err != nil {
			return exitError{code: 2, err: err}
		}
		// An archive holds one orderer's blocks: in a `baybus up` data
		// directory, the orderer must be named, not guessed.
		if cold != nil && f.orderer == "" && fileExists(filepath.Join(f.dataDir, "orderers")) {
			return exitf(2, "an archive holds one orderer's blocks: name it with --orderer")
		}
		dir, err := reconcile.BlocksDir(f.dataDir, f.orderer, trust)
		if err != nil {
			return exitError{code: 2, err: err}
		}
		var c blocklog.Cold
		if cold != nil {
			c = cold
		}
		if src, err = reconcile.OpenBlockLogCold(dir, c); err != nil {
			return exitError{code: 2, err: err}
		}
	}
	defer src.Close()

	in := cmd.InOrStdin()
	var size int64
	name := "stdin"
	if f.register != "-" {
		file, err := os.Open(f.register)
		if err != nil {
			return exitError{code: 2, err: err}
		}
		defer file.Close()
		if fi, err := file.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		in, name = file, f.register
	}

	// Differences go to a scratch file beside the report (the summary,
	// known last, is the report's first line), and the first --show of
	// them to the screen.
	shown := &firstLines{n: f.show}
	var diffs io.Writer = shown
	var scratch *os.File
	if f.report != "" {
		scratch, err = os.CreateTemp(filepath.Dir(f.report), ".reconcile-*.jsonl")
		if err != nil {
			return exitError{code: 2, err: err}
		}
		defer os.Remove(scratch.Name())
		defer scratch.Close()
		diffs = io.MultiWriter(scratch, shown)
	}

	cfg := reconcile.Config{City: city, Source: src, Trust: trust, AsOf: f.asOf,
		Register: in, RegisterName: name, RegisterSize: size, Format: format,
		Differences: diffs, TempDir: f.tempDir, Workers: f.workers, Meter: &reconcile.Meter{}}
	if f.disclosures != "" {
		// The owner's own salts (docs/sharing.md): read-only, so a copy
		// or a stopped gateway's store is never changed.
		st, err := share.OpenStore(f.disclosures, share.StoreConfig{Chain: trust.Chain, ReadOnly: true})
		if err != nil {
			return exitError{code: 2, err: err}
		}
		defer st.Close()
		cfg.Disclosures = st
	}
	if f.repair {
		// The gateway authenticates every request: the city's publish role.
		tok, err := client.Token(f.tokenFile)
		if err != nil {
			return exitError{code: 2, err: err}
		}
		cfg.Repair = gatewayPublisher{client.New(f.url, nil, client.WithToken(tok))}
	}
	stopProgress := startProgress(ctx, cmd.ErrOrStderr(), mode, cfg.Meter)
	sum, runErr := reconcile.Run(ctx, cfg)
	stopProgress()
	if sum == nil {
		return exitError{code: 2, err: runErr}
	}
	if f.report != "" {
		if err := writeReport(f.report, sum, scratch); err != nil {
			return exitError{code: 2, err: err}
		}
	}
	printSummary(cmd.OutOrStdout(), sum, f, shown)
	switch {
	case runErr != nil:
		return exitError{code: 2, err: runErr}
	case sum.Differences.Total > 0:
		return exitf(1, "%d differences", sum.Differences.Total)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startProgress shows the meter on w until the returned function is called.
func startProgress(ctx context.Context, w io.Writer, mode string, m *reconcile.Meter) (stop func()) {
	terminal := false
	if file, ok := w.(*os.File); ok {
		if fi, err := file.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			terminal = true
		}
	}
	switch mode {
	case "off":
		return func() {}
	case "bar":
		terminal = true
	case "log":
		terminal = false
	}
	p := &reconcile.Progress{Meter: m, W: w, Terminal: terminal}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// writeReport writes the summary line and then the differences, through a
// temporary file renamed into place.
func writeReport(path string, sum *reconcile.Summary, diffs *os.File) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	line, err := json.Marshal(struct {
		Summary *reconcile.Summary `json:"summary"`
	}{sum})
	if err != nil {
		return err
	}
	w.Write(line)
	w.WriteByte('\n')
	if _, err := diffs.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.Copy(w, diffs); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// firstLines keeps the first n lines written to it and counts the rest.
type firstLines struct {
	n     int
	lines [][]byte
	part  []byte
}

func (f *firstLines) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0 && len(f.lines) < f.n; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			f.part = append(f.part, rest...)
			break
		}
		f.lines = append(f.lines, append(f.part, rest[:i]...))
		f.part, rest = nil, rest[i+1:]
	}
	return len(p), nil
}

func printSummary(w io.Writer, s *reconcile.Summary, f *reconcileFlags, shown *firstLines) {
	head := s.Head
	if len(head) > 12 {
		head = head[:12]
	}
	fmt.Fprintf(w, "reconcile %s (%s): %s (%s) against %s at height %d (head %s)\n", s.City, s.Jurisdiction, s.Register, s.Format, s.Source, s.Height, head)
	line := func(label string, n uint64, note string) {
		fmt.Fprintf(w, "  %-26s %13s  %s\n", label, reconcile.Thousands(int64(n)), note)
	}
	line("rows", s.Rows, fmt.Sprintf("(%s matched by native hash)", reconcile.Thousands(int64(s.FastRows))))
	line("licenses in the register", s.RegisterLicenses, "")
	line("licenses on the ledger", s.LedgerLicenses, "(last change by "+s.City+")")
	line("matched", s.Matched, "")
	for _, c := range reconcile.Classes {
		line(string(c), s.Differences.Of(c), "")
	}
	line("differences", s.Differences.Total, "")
	if r := s.Repair; r != nil && r.Planned > 0 {
		if r.Ran {
			fmt.Fprintf(w, "repair: %d events: %d committed, %d accepted, %d duplicates, %d refused\n", r.Planned, r.Committed, r.Accepted, r.Duplicates, r.Refused)
			for _, e := range r.Errors {
				fmt.Fprintf(w, "  refused: %s\n", e)
			}
		} else {
			fmt.Fprintf(w, "repair: %d events planned (run with --repair to publish them through %s)\n", r.Planned, f.url)
		}
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintf(w, "took %.1fs (ledger %.1fs, register %.1fs, compare %.1fs; %.1f CPU s): %s rows/s\n",
		s.Seconds.Total, s.Seconds.Ledger, s.Seconds.Register, s.Seconds.Compare, s.CPUSeconds.Total, reconcile.Thousands(int64(s.RowsPerSecond)))
	if len(shown.lines) > 0 {
		fmt.Fprintf(w, "first %d differences:\n", len(shown.lines))
		for _, l := range shown.lines {
			var d reconcile.Difference
			if json.Unmarshal(l, &d) == nil {
				fmt.Fprintf(w, "  %s\n", describe(&d))
			}
		}
	}
	if f.report != "" {
		fmt.Fprintf(w, "report: %s\n", f.report)
	}
}

// describe is one difference for people.
func describe(d *reconcile.Difference) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", d.Class)
	if d.Key != "" {
		fmt.Fprintf(&b, " %s", d.Key)
	}
	if d.Line != 0 {
		fmt.Fprintf(&b, " (line %d)", d.Line)
	}
	switch d.Class {
	case reconcile.InvalidRow:
		if d.Field != "" {
			fmt.Fprintf(&b, ": %s", d.Field)
		}
		fmt.Fprintf(&b, ": %s: %s", d.Rule, d.Message)
	case reconcile.FieldsDiffer:
		sep := ": "
		for i, fd := range d.Fields {
			if i == 3 {
				fmt.Fprintf(&b, "; and %d more", len(d.Fields)-3)
				break
			}
			fmt.Fprintf(&b, "%s%s: register %s, ledger %s", sep, fd.Field, orAbsent(fd.Register), orAbsent(fd.Ledger))
			sep = "; "
		}
	case reconcile.StatusDiffers:
		fmt.Fprintf(&b, ": register %s, ledger %s", d.Register.Status, d.Ledger.Status)
	case reconcile.LedgerOnly:
		fmt.Fprintf(&b, ": %s on the ledger", d.Ledger.Status)
	case reconcile.RegisterOnly:
		fmt.Fprintf(&b, ": %s in the register", d.Register.Status)
		if d.Ledger != nil {
			fmt.Fprintf(&b, ", held by %s on the ledger", d.Ledger.City)
		}
	}
	if len(d.Repair) > 0 {
		fmt.Fprintf(&b, " [repair: %v]", d.Repair)
	} else if d.Unrepairable != "" && d.Class != reconcile.LedgerOnly {
		fmt.Fprintf(&b, " [not repaired: %s]", d.Unrepairable)
	}
	return b.String()
}

func orAbsent(v json.RawMessage) string {
	if len(v) == 0 {
		return "(absent)"
	}
	return string(v)
}

// gatewayPublisher publishes repairs through a gateway's HTTP API in native
// form, waiting for commit (wait=commit), so that the next reconciliation
// sees them.
type gatewayPublisher struct{ c *client.Client }

var _ reconcile.Publisher = gatewayPublisher{}

func (g gatewayPublisher) Publish(ctx context.Context, city string, native []json.RawMessage) ([]reconcile.Published, error) {
	res, err := g.c.Publish(ctx, city, native, client.Options{Native: true, Wait: true})
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.Published, len(res))
	for i, r := range res {
		switch {
		case r.Error != nil:
			out[i].Err = r.Error.Code + ": " + r.Error.Message
			if r.Error.Field != "" {
				out[i].Err += " (field " + r.Error.Field + ")"
			}
		case r.Receipt != nil:
			out[i] = reconcile.Published{TxID: r.TxID, Status: r.Status, Duplicate: r.Duplicate}
		}
	}
	return out, nil
}
