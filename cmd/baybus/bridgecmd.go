package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/schemas"
)

// codeError carries an exit code out of the bridge, id and sample commands;
// main looks for interface{ ExitCode() int }.
type codeError struct {
	code int
	err  error
}

func (e codeError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

// ExitCode is the process exit status the error asks for.
func (e codeError) ExitCode() int { return e.code }

func (e codeError) Unwrap() error { return e.err }

// usageErr is exit status 2: the command was called wrongly.
func usageErr(format string, args ...any) error {
	return codeError{code: 2, err: fmt.Errorf(format, args...)}
}

func newBridgeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bridge",
		Short: "Translate records between the CN, HK and MO native formats and the canonical form",
		Long: `bridge translates events between each jurisdiction's native format (CN keys in
Simplified Chinese and dates like 2019年3月1日; HK English keys and DD/MM/YYYY;
MO Portuguese keys) and the canonical form the bus signs. See bridge/README.md.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(newBridgeConvertCmd())
	return cmd
}

// formatNames are the values of --from and --to.
const formatNames = "cn, hk, mo or canonical"

func parseSide(flag, v string) (schemas.Jurisdiction, error) {
	if v == "canonical" {
		return "", nil
	}
	j, err := schemas.ParseJurisdiction(v)
	if err != nil || strings.ToLower(v) != v {
		return "", usageErr("--%s %q: want %s", flag, v, formatNames)
	}
	return j, nil
}

func newBridgeConvertCmd() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "convert --from cn|hk|mo|canonical --to cn|hk|mo|canonical",
		Short: "Convert events from stdin to stdout (JSON object, JSON array or JSONL in; JSONL out)",
		Long: `convert reads events from stdin (one JSON object, a JSON array of objects, or
JSONL) and writes each converted event as one line of JSON to stdout.

--from cn|hk|mo parses the jurisdiction's native format (and checks its
identifiers); --from canonical accepts canonical events (or transactions,
whose event is taken) and checks them against the schema. --to canonical
writes canonical events; --to cn|hk|mo writes the jurisdiction's native
format, which for a record from elsewhere is a view in native shape.

An event that cannot be converted is reported on stderr with its position and
left out. Exit status: 0 if every event converted, 1 if any did not, 2 for a
usage or input error.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := parseSide("from", from)
			if err != nil {
				return err
			}
			dst, err := parseSide("to", to)
			if err != nil {
				return err
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			failed, n := 0, 0
			err = eachValue(cmd.InOrStdin(), func(raw []byte) error {
				n++
				line, err := convertOne(src, dst, raw)
				if err != nil {
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "baybus bridge convert: event %d: %v\n", n, err)
					return nil
				}
				out.Write(line)
				return out.WriteByte('\n')
			})
			if err != nil {
				return codeError{code: 2, err: err}
			}
			if err := out.Flush(); err != nil {
				return codeError{code: 2, err: err}
			}
			if failed > 0 {
				return codeError{code: 1, err: fmt.Errorf("%d of %d events not converted", failed, n)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "input format: "+formatNames+" (required)")
	cmd.Flags().StringVar(&to, "to", "", "output format: "+formatNames+" (required)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// convertOne converts one event; src or dst "" is the canonical form.
func convertOne(src, dst schemas.Jurisdiction, raw []byte) ([]byte, error) {
	var ev *schemas.Event
	if src == "" {
		var err error
		if ev, err = decodeCanonical(raw); err != nil {
			return nil, err
		}
	} else {
		var err error
		if ev, _, err = bridge.For(src).Normalize(raw); err != nil {
			return nil, err
		}
	}
	if dst != "" {
		return bridge.For(dst).Native(ev)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeCanonical accepts a canonical event, or a transaction (recognised by
// its "chain" key) whose event it returns.
func decodeCanonical(raw []byte) (*schemas.Event, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, isTx := probe["chain"]; !isTx {
		return schemas.ValidateEventJSON(raw)
	}
	var tx schemas.Tx
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tx); err != nil {
		return nil, fmt.Errorf("transaction: %w", err)
	}
	if err := schemas.ValidateTx(&tx); err != nil {
		return nil, err
	}
	return &schemas.Event{EventID: tx.EventID, Kind: tx.Kind, Action: tx.Action, OccurredAt: tx.OccurredAt, Reason: tx.Reason, Record: tx.Record}, nil
}

// eachValue streams the JSON values of r to fn: the elements of a top-level
// array, or each value of a sequence (one object, or JSONL).
func eachValue(r io.Reader, fn func([]byte) error) error {
	br := bufio.NewReader(r)
	first, err := peekNonSpace(br)
	if err == io.EOF {
		return errors.New("no events in input")
	}
	if err != nil {
		return err
	}
	dec := json.NewDecoder(br)
	if first == '[' {
		if _, err := dec.Token(); err != nil {
			return err
		}
	}
	for i := 1; dec.More(); i++ {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("input value %d: %w", i, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if first == '[' {
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("input array: %w", err)
		}
	}
	return nil
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return b, br.UnreadByte()
		}
	}
}

func newIDCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "id",
		Short:         "Check identifiers (USCC, resident ids, HKID, BR numbers, Macao numbers, e-license ids)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(newIDCheckCmd())
	return cmd
}

func newIDCheckCmd() *cobra.Command {
	var kind string
	var names []string
	for _, k := range ids.Kinds() {
		names = append(names, string(k))
	}
	cmd := &cobra.Command{
		Use:   "check --kind KIND VALUE...",
		Short: "Check identifiers of one kind, one line per value",
		Long: `check prints one line per value: "VALUE: valid", or "VALUE: invalid (RULE): why".
Kinds: ` + strings.Join(names, ", ") + `. For hk-brn, hk-brc, mo-bir,
mo-tax, mo-reg and passport only the format can be checked (no check
algorithm is published); the line says so. Exit status: 0 only if every value
is valid, 1 otherwise, 2 for a usage error.`,
		Args:          cobra.MinimumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, values []string) error {
			k, err := ids.ParseKind(kind)
			if err != nil {
				return usageErr("--kind %q: want one of %s", kind, strings.Join(names, ", "))
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			invalid := 0
			for _, v := range values {
				err := ids.Check(k, v)
				switch fe, ok := schemas.AsFieldError(err); {
				case err == nil && k.FormatOnly():
					fmt.Fprintf(out, "%s: valid (format only: no public check algorithm)\n", v)
				case err == nil:
					fmt.Fprintf(out, "%s: valid\n", v)
				case ok:
					invalid++
					fmt.Fprintf(out, "%s: invalid (%s): %s\n", v, fe.Rule, fe.Msg)
				default:
					return err
				}
			}
			if err := out.Flush(); err != nil {
				return codeError{code: 2, err: err}
			}
			if invalid > 0 {
				return codeError{code: 1, err: fmt.Errorf("%d of %d values invalid", invalid, len(values))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "identifier kind: "+strings.Join(names, ", ")+" (required)")
	_ = cmd.MarkFlagRequired("kind")
	return cmd
}

func newSampleCmd() *cobra.Command {
	var (
		city, kind string
		n          int
		seed       int64
	)
	cmd := &cobra.Command{
		Use:   "sample --city C [--kind K] [--n N] [--seed S]",
		Short: "Print realistic native-format events of a city (JSONL), the same for the same seed",
		Long: `sample prints N events in the native format of the city's jurisdiction, one JSON
object per line, from a seeded generator: the same seed gives the same output.
Identifiers are valid and the events form a valid history (licenses are issued
before they are amended, suspended, reinstated, revoked or expired). --kind is
business_registration, professional_certificate or administrative_approval
(or business, certificate, approval); without it the kinds are mixed. Event
ids are <city>-<seed>-<index> (<city>-<kind>-<seed>-<index> with --kind).`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := schemas.LookupCity(city)
			if err != nil {
				return usageErr("--city: %v", err)
			}
			var k schemas.Kind
			if kind != "" {
				if k, err = schemas.ParseKind(kind); err != nil {
					return usageErr("--kind: %v", err)
				}
			}
			if n < 0 {
				return usageErr("--n %d: must not be negative", n)
			}
			var bar *progress
			if n >= progressMinEvents {
				// Generating is most of the time, and one call: a spinner
				// for it, then a bar for the writing.
				bar = newProgress(progressOut{stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr(), dataOnStdout: true},
					-1, fmt.Sprintf("generating %d events", n), false)
				defer bar.Done()
			}
			evs, err := bridge.Sample(c, k, n, seed)
			if err != nil {
				return err
			}
			bar.Phase(int64(len(evs)), "writing")
			out := bufio.NewWriter(cmd.OutOrStdout())
			for _, ev := range evs {
				out.Write(ev)
				out.WriteByte('\n')
				bar.Add(1)
			}
			if err := out.Flush(); err != nil {
				return codeError{code: 2, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&city, "city", "", "city token, e.g. shenzhen (required)")
	cmd.Flags().StringVar(&kind, "kind", "", "record kind (default: mixed)")
	cmd.Flags().IntVar(&n, "n", 10, "number of events")
	cmd.Flags().Int64Var(&seed, "seed", 1, "generator seed")
	_ = cmd.MarkFlagRequired("city")
	return cmd
}
