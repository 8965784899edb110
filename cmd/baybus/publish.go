package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/gateway/client"
)

// clientFlags are the flags of commands that talk to a gateway over HTTP.
type clientFlags struct {
	url, tokenFile string
	tls            clientTLSFlags
}

func (f *clientFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", client.BaseURL(), "gateway URL (default $"+client.EnvURL+", else "+client.DefaultURL+")")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token (default $"+client.EnvToken+")")
	f.tls.add(cmd)
}

// client returns a gateway client with the flags' URL, token and TLS.
func (f *clientFlags) client() (*client.Client, error) {
	tok, err := client.Token(f.tokenFile)
	if err != nil {
		return nil, err
	}
	hc, err := f.tls.httpClient()
	if err != nil {
		return nil, err
	}
	return client.New(f.url, hc, client.WithToken(tok)), nil
}

func newPublishCmd() *cobra.Command {
	var (
		city, file   string
		native, wait bool
		chunk        int
		cf           clientFlags
	)
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish events of one city through its gateway and print one receipt per event",
		Long: `publish reads events from --file (a JSON object, a JSON array, JSONL, or objects
one after another; "-" for stdin) and posts them to the city's gateway in bulk
requests of --chunk events, reading one chunk at a time. It prints one JSON line
per event: the receipt, or the gateway's error. With --wait it returns only once
each event is sealed in a block (status "committed", with height and block hash).

The gateway needs a credential: --token-file (or $BAYBUS_TOKEN) with a token of
the city's publish role; 'baybus up' writes one per city under DATA/clients/.

Exit status: 0 if every event was accepted, 1 if any was refused, 2 if the input
could not be read or the gateway refused a whole request (the chunks before it
were published; publishing the same input again is safe).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := cmd.InOrStdin()
			var bar *progress
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return exitError{code: 2, err: err}
				}
				defer f.Close()
				in = f
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() >= progressMinBytes {
					bar = newProgress(progressOut{stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr(), dataOnStdout: true},
						fi.Size(), "publishing "+filepath.Base(file), true)
					in = bar.Reader(f)
				}
			}
			defer bar.Done()
			c, err := cf.client()
			if err != nil {
				return exitError{code: 2, err: err}
			}
			out := json.NewEncoder(cmd.OutOrStdout())
			out.SetEscapeHTML(false)
			sum, err := c.PublishStream(cmd.Context(), city, in, client.StreamOptions{
				Options: client.Options{Native: native, Wait: wait}, Chunk: chunk,
			}, func(r client.Result) error { return out.Encode(r) })
			if err != nil {
				return exitError{code: 2, err: err}
			}
			if sum.Failed > 0 {
				return exitf(1, "%d of %d events refused", sum.Failed, sum.Events)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&city, "city", "", "city token, e.g. shenzhen (required)")
	cmd.Flags().StringVar(&file, "file", "-", `events file: JSON object, JSON array or JSONL ("-" for stdin)`)
	cmd.Flags().BoolVar(&native, "native", false, "events are in the city jurisdiction's native format")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until every event is sealed in a block")
	cmd.Flags().IntVar(&chunk, "chunk", 1000, "events per HTTP request (the gateway takes up to 10,000)")
	cf.add(cmd)
	_ = cmd.MarkFlagRequired("city")
	return cmd
}

// clientTLSFlags configure HTTPS to a gateway: the CA that signed its
// certificate, and a client certificate for mutual TLS.
type clientTLSFlags struct{ ca, cert, key string }

func (f *clientTLSFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.ca, "ca-file", os.Getenv(client.EnvCA), "PEM file of the CA that signed the gateway's certificate, for https (default $"+client.EnvCA+"; else the system's roots)")
	fl.StringVar(&f.cert, "cert-file", "", "PEM client certificate for mutual TLS (with --key-file)")
	fl.StringVar(&f.key, "key-file", "", "PEM private key of --cert-file")
}

// httpClient returns nil (the default client) when no TLS flag is set.
func (f *clientTLSFlags) httpClient() (*http.Client, error) {
	if f.ca == "" && f.cert == "" && f.key == "" {
		return nil, nil
	}
	tc, err := client.TLSConfig(f.ca, f.cert, f.key)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}, nil
}
