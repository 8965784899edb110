package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/server"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

func newGatewayCmd() *cobra.Command {
	var (
		cfg    server.Config
		cities string
		lf     logFlags
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run city gateways against an external NATS server or cluster",
		Long: `gateway runs the HTTP gateways of one or more cities (the same code as in
'baybus up') against an external NATS server or cluster. Each city connects with
its own NATS identity (--consortium DIR/nats/city-<city>.nk, or a JWT .creds
file of that name) and signs with its own key (DIR/keys/city-<city>.key), so the
bus itself refuses a publish to another city's subject. A city deploying its
gateway alone needs only trust.json and its own files in DIR.

Through the orderers' query service (verifying every answer against
trust.json) the gateway waits for commits (?wait=commit), answers /v1/tx and
the proof route, holds requests while the orderers fall behind, and keeps every
published batch in DATA/outbox until it is sealed, publishing it again if the
bus lost it (--no-ledger for an accept-only gateway).

Every request but /healthz and /readyz is authenticated: a bearer token from
the token file (--token-file, default DIR/clients/tokens.json; 'baybus gateway
token add' makes one), or a client certificate from the consortium CA ('baybus
gateway client-cert'). A listener beyond loopback serves TLS (--tls-cert and
--tls-key, or --tls-from-consortium); plaintext there needs --insecure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger()
			if err != nil {
				return err
			}
			cfg.Logger = log
			cfg.Gateway.Bridges = gatewayBridges
			if cities != "all" {
				cfg.Cities = strings.Split(cities, ",")
			}
			srv, err := server.Start(cmd.Context(), cfg)
			if err != nil {
				return gatewayStartError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "gateways for %s on %s, bus %s (Ctrl-C to stop)\n",
				strings.Join(cfg.Cities, ", "), srv.URL(), cfg.NATS)
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.NATS, "nats", "nats://127.0.0.1:4222", "NATS URL(s), comma-separated for a cluster")
	fl.StringVar(&cfg.Consortium, "consortium", "data", "consortium directory (trust.json, keys/, nats/, tls/, clients/), as written by 'keys init' or 'up'")
	fl.StringVar(&cfg.Listen, "listen", server.DefaultListen, "HTTP address")
	fl.StringVar(&cities, "cities", "all", "comma-separated city tokens, or all")
	fl.StringVar(&cfg.Node, "node", "", "this gateway's name in /readyz and logs (default the host name)")
	fl.StringVar(&cfg.TLS.CertFile, "tls-cert", "", "PEM server certificate (with --tls-key)")
	fl.StringVar(&cfg.TLS.KeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fl.BoolVar(&cfg.TLS.FromConsortium, "tls-from-consortium", false, "serve a certificate the consortium CA issues (needs DIR/tls/ca.key), kept as DIR/tls/gateway-<node>.crt")
	fl.StringSliceVar(&cfg.TLS.Hosts, "tls-host", nil, "names and addresses the consortium-issued certificate covers (default the listen host, the host name, localhost)")
	fl.StringVar(&cfg.TLS.ClientCAFile, "client-ca", "", "PEM CAs that client certificates must chain to (default DIR/tls/ca.crt if present)")
	fl.BoolVar(&cfg.TLS.RequireClientCert, "require-client-cert", false, "accept only clients with a certificate (mutual TLS; no tokens)")
	fl.BoolVar(&cfg.TLS.Insecure, "insecure", false, "allow plaintext HTTP on an address beyond loopback")
	fl.StringVar(&cfg.Auth.TokenFile, "token-file", "", "token file (default DIR/clients/tokens.json)")
	fl.BoolVar(&cfg.Auth.Unauthenticated, "no-auth", false, "serve without authentication (loopback only; development)")
	fl.IntVar(&cfg.HTTP.MaxConns, "max-conns", 1024, "most open HTTP connections; at the cap a new one takes the place of the keep-alive idle the longest")
	fl.StringVar(&cfg.DataDir, "data", "", "where the gateway keeps its outbox of unsealed batches (default DIR/gateways/<node>)")
	fl.BoolVar(&cfg.Ledger.Disabled, "no-ledger", false, "run without the orderers' query service: no wait=commit, /v1/tx lookups, proofs or outbox")
	fl.StringSliceVar(&cfg.Ledger.Orderers, "orderers", nil, "orderers to query, in turn (default all of trust.json)")
	fl.IntVar(&cfg.Gateway.MaxBacklog, "max-backlog", server.DefaultMaxBacklog, "batches that may wait on the bus for a block before requests are held")
	fl.DurationVar(&cfg.Gateway.RepublishAfter, "republish-after", 30*time.Second, "how long a kept batch waits to be sealed before it is published again")
	lf.add(cmd)
	cmd.AddCommand(newGatewayTokenCmd(), newGatewayClientCertCmd(), newGatewayBackupCmd(), newGatewayRestoreCmd())
	return cmd
}

// gatewayStartError names the flag that fixes a failed start.
func gatewayStartError(err error) error {
	var le *server.ListenError
	switch {
	case errors.As(err, &le):
		return fmt.Errorf("%w: change --listen", err)
	case errors.Is(err, server.ErrInsecure):
		return fmt.Errorf("%w (--tls-cert and --tls-key, or --tls-from-consortium; --insecure for plaintext, --no-auth only on loopback)", err)
	}
	return err
}

// tokenFileFlag is --token-file with its default under --consortium.
type tokenFileFlag struct{ consortium, file string }

func (f *tokenFileFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.consortium, "consortium", "data", "consortium or data directory")
	cmd.Flags().StringVar(&f.file, "token-file", "", "token file (default DIR/clients/tokens.json)")
}

func (f *tokenFileFlag) open() (*auth.TokenStore, error) {
	path := f.file
	if path == "" {
		path = auth.TokenPath(f.consortium)
	}
	return auth.OpenTokens(path, auth.TokenConfig{})
}

func newGatewayTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Issue, revoke and list the bearer tokens of city systems",
		Long: `A token is scoped to one city and its roles (publish: post the city's events;
read: fetch proofs), expires, and can be revoked; the token file keeps only its
SHA-256. Gateways re-read the file within a second of a change.`,
	}
	var (
		tf                  tokenFileFlag
		city, reader, roles string
		note, out           string
		ttl                 time.Duration
		revokeTF, lsTF      tokenFileFlag
	)
	add := &cobra.Command{
		Use:   "add",
		Short: "Issue a token and print it (it is shown once)",
		Long: `add issues a token for a city system (--city, with --role) or for a named
reader of trust.json (--reader: it reads proofs its grants cover, nothing else).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := tf.open()
			if err != nil {
				return err
			}
			var (
				tok string
				rec auth.TokenRecord
			)
			switch {
			case (city == "") == (reader == ""):
				return errors.New("give --city or --reader")
			case reader != "":
				trust, err := keys.LoadBundle(filepath.Join(tf.consortium, keys.TrustFile))
				if err != nil {
					return err
				}
				if _, ok := trust.Reader(reader); !ok {
					return fmt.Errorf("%s names no reader %q (add it with 'baybus keys add-reader')", filepath.Join(tf.consortium, keys.TrustFile), reader)
				}
				roles = "read"
				tok, rec, err = store.IssueReader(reader, ttl, note)
				if err != nil {
					return err
				}
			default:
				rs, err := auth.ParseRoles(roles)
				if err != nil {
					return err
				}
				if tok, rec, err = store.Issue(city, rs, ttl, note); err != nil {
					return err
				}
			}
			whom := "city " + rec.City
			if rec.Reader != "" {
				whom = "reader " + rec.Reader
			}
			if out != "" {
				if err := keys.WriteFileAtomic(out, []byte(tok+"\n"), 0o600); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "token %s for %s (%s) until %s written to %s\n", rec.ID, whom, roles, rec.Expires.Format(time.RFC3339), out)
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s for %s (%s) until %s\n", rec.ID, whom, roles, rec.Expires.Format(time.RFC3339))
			return nil
		},
	}
	tf.add(add)
	add.Flags().StringVar(&city, "city", "", "city token")
	add.Flags().StringVar(&reader, "reader", "", "named reader of trust.json (instead of --city)")
	add.Flags().StringVar(&roles, "role", "publish", "roles, comma-separated: publish, read")
	add.Flags().DurationVar(&ttl, "ttl", auth.DefaultTTL, "lifetime")
	add.Flags().StringVar(&note, "note", "", "who holds it, for the list")
	add.Flags().StringVar(&out, "out", "", "write the token to this file (0600) instead of stdout")

	revoke := &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke tokens by id (the 16 hex digits after bbt_)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			store, err := revokeTF.open()
			if err != nil {
				return err
			}
			for _, id := range ids {
				if err := store.Revoke(id); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", id)
			}
			return nil
		},
	}
	revokeTF.add(revoke)

	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens: id, city, roles, expiry, revocation, note",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := lsTF.open()
			if err != nil {
				return err
			}
			recs, err := store.List()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tFOR\tROLES\tEXPIRES\tREVOKED\tNOTE")
			for _, r := range recs {
				revoked := "-"
				if r.Revoked != nil {
					revoked = r.Revoked.Format(time.RFC3339)
				}
				rs := make([]string, len(r.Roles))
				for i, x := range r.Roles {
					rs[i] = string(x)
				}
				whom := r.City
				if r.Reader != "" {
					whom = "reader:" + r.Reader
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, whom, strings.Join(rs, ","), r.Expires.Format(time.RFC3339), revoked, r.Note)
			}
			return w.Flush()
		},
	}
	lsTF.add(list)
	cmd.AddCommand(add, revoke, list)
	return cmd
}

func newGatewayClientCertCmd() *cobra.Command {
	var (
		dir, city, reader, system, roles, outDir string
	)
	cmd := &cobra.Command{
		Use:   "client-cert",
		Short: "Issue a client certificate for a city system from the consortium CA (mutual TLS)",
		Long: `client-cert has the consortium CA (DIR/tls/ca.key) issue a client certificate
naming the city and system ("<city>.<system>") with its roles, and writes
<city>.<system>.crt and .key (0600) to --out. A gateway whose TLS verifies
client certificates against the consortium CA takes it instead of a token
(publish --cert-file F --key-file K --ca-file DIR/tls/ca.crt).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (city == "") == (reader == "") {
				return errors.New("give --city or --reader")
			}
			ca, err := consortium.LoadCA(dir, nil)
			if err != nil {
				return err
			}
			var iss *consortium.Issued
			if reader != "" {
				roles = "read"
				iss, err = auth.IssueReaderCert(ca, reader)
			} else {
				var rs []auth.Role
				if rs, err = auth.ParseRoles(roles); err == nil {
					iss, err = auth.IssueClientCert(ca, city, system, rs)
				}
			}
			if err != nil {
				return err
			}
			if err := os.MkdirAll(outDir, 0o700); err != nil {
				return err
			}
			name := iss.Cert.Subject.CommonName
			certPath, keyPath := filepath.Join(outDir, name+".crt"), filepath.Join(outDir, name+".key")
			if err := iss.Write(certPath, keyPath); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "client certificate %s (%s) until %s: %s, %s\n", name, roles,
				iss.Cert.NotAfter.Format(time.RFC3339), certPath, keyPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "consortium", "data", "consortium directory holding tls/ca.crt and tls/ca.key")
	cmd.Flags().StringVar(&city, "city", "", "city token")
	cmd.Flags().StringVar(&reader, "reader", "", "named reader of trust.json (instead of --city): reader-<name>, role reader")
	cmd.Flags().StringVar(&system, "system", "", "the city system's name, e.g. samr")
	cmd.Flags().StringVar(&roles, "role", "publish", "roles, comma-separated: publish, read")
	cmd.Flags().StringVar(&outDir, "out", ".", "directory to write the certificate and key to")
	return cmd
}
