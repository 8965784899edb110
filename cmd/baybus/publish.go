package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/gateway/client"
)

func newPublishCmd() *cobra.Command {
	var (
		city, file, url string
		native, wait    bool
		chunk           int
	)
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish events of one city through its gateway and print one receipt per event",
		Long: `publish reads events from --file (a JSON object, a JSON array, or JSONL; "-" for
stdin) and posts them to the city's gateway in bulk requests. It prints one JSON
line per event: the receipt, or the gateway's error. With --wait it returns only
once each event is sealed in a block (status "committed", with height and block
hash). Exit status: 0 if every event was accepted, 1 if any was refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := cmd.InOrStdin()
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			events, err := readEvents(in)
			if err != nil {
				return err
			}
			c := client.New(url, nil)
			out := json.NewEncoder(cmd.OutOrStdout())
			out.SetEscapeHTML(false)
			failed := 0
			for start := 0; start < len(events); start += chunk {
				part := events[start:min(start+chunk, len(events))]
				results, err := c.Publish(cmd.Context(), city, part, client.Options{Native: native, Wait: wait})
				if err != nil {
					return exitError{code: 2, err: err}
				}
				for _, r := range results {
					r.Index += start
					if r.Error != nil {
						failed++
					}
					if err := out.Encode(r); err != nil {
						return err
					}
				}
			}
			if failed > 0 {
				return exitf(1, "%d of %d events refused", failed, len(events))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&city, "city", "", "city token, e.g. shenzhen (required)")
	cmd.Flags().StringVar(&file, "file", "-", `events file: JSON object, JSON array or JSONL ("-" for stdin)`)
	cmd.Flags().StringVar(&url, "url", client.BaseURL(), "gateway URL (default $BAYBUS_URL, else "+client.DefaultURL+")")
	cmd.Flags().BoolVar(&native, "native", false, "events are in the city jurisdiction's native format")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until every event is sealed in a block")
	cmd.Flags().IntVar(&chunk, "chunk", 1000, "events per HTTP request")
	_ = cmd.MarkFlagRequired("city")
	return cmd
}

// readEvents accepts a JSON object, a JSON array of objects, or JSONL.
func readEvents(r io.Reader) ([]json.RawMessage, error) {
	raw, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("no events in input")
	}
	if trimmed[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, fmt.Errorf("input array: %w", err)
		}
		return list, nil
	}
	var out []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	for dec.More() {
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("event %d: %w", len(out)+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}
