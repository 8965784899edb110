package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/internal/bench"
	"github.com/baybus/baybus/internal/deploy"
	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run the three-region deployment on this host as separate processes (up, down, status)",
		Long: `cluster runs, on one host, the deployment a consortium runs across hosts: a
NATS supercluster of three clusters (Guangdong, Hong Kong, Macao; three servers
each, joined by NATS gateways; the streams' replicas placed in Guangdong), the
five orderers each in its region ('baybus orderer'), and one city gateway
process per region ('baybus gateway' for the nine Guangdong cities, Hong Kong,
Macao), each process with only its own credentials. --wan puts toxiproxy with
latency, jitter and loss on every connection between regions.

Everything is kept in --dir (default ./cluster): the consortium, each process's
credentials, configuration, data and log, and plan.json, which says where
everything listens. scripts/cluster is the entry point; docs/deployment.md
explains the layout and how to run the same across hosts.`,
	}
	cmd.AddCommand(newClusterUpCmd(), newClusterDownCmd(), newClusterStatusCmd(),
		newClusterProcCmd("start", "Start processes of the deployment again and wait until they are ready"),
		newClusterProcCmd("stop", "Stop processes of the deployment (SIGTERM, then SIGKILL after 15 s)"),
		newClusterProcCmd("kill", "Kill processes of the deployment with SIGKILL, as a crash would"),
		newClusterStreamsCmd(), newClusterWANCmd())
	return cmd
}

func newClusterUpCmd() *cobra.Command {
	var (
		cfg     deploy.Config
		wan     bool
		w       deploy.WANConfig
		latency map[string]string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create (first time) and start the deployment, wait until every process is ready, print where each listens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := (&logFlags{level: "info"}).logger()
			if err != nil {
				return err
			}
			cfg.Logger = log
			if wan {
				w.Latency = map[string]time.Duration{}
				for r, v := range latency {
					d, err := time.ParseDuration(v)
					if err != nil {
						return fmt.Errorf("--wan-latency %s=%s: %w", r, v, err)
					}
					w.Latency[r] = d
				}
				cfg.WAN = &w
			}
			d, err := deploy.Up(cmd.Context(), cfg, deploy.Options{Logger: log})
			if err != nil {
				return err
			}
			printPlan(cmd.OutOrStdout(), d.Plan)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Dir, "dir", deploy.DefaultDir, "state directory")
	fl.StringVar(&cfg.Chain, "chain", "", "chain id of a new consortium (default gba; an existing one keeps its own)")
	fl.StringVar(&cfg.Scheme, "scheme", "Ed25519", "signature scheme of a new consortium's keys")
	fl.IntVar(&cfg.Orderers, "orderers", 0, "orderers of a new consortium, 4 to 11 (default the five demonstration nodes; an existing one keeps its own)")
	fl.IntSliceVar(&cfg.Servers, "servers", nil, "NATS servers per region: one count for all, or guangdong,hongkong,macao (default 3)")
	fl.StringVar(&cfg.StreamRegion, "stream-region", deploy.DefaultStreamRegion, "region whose NATS cluster holds the streams' replicas")
	fl.IntVar(&cfg.BasePort, "base-port", deploy.DefaultBasePort, "first port of the layout (docs/deployment.md); every port is within base+800")
	fl.StringSliceVar(&cfg.ProofOrderers, "proof-orderers", nil, "orderers that publish license proofs (default the last of each region: hongkong, macao, nansha)")
	fl.StringVar(&cfg.LogLevel, "log-level", "info", "log level of every process")
	fl.StringVar(&cfg.SyncInterval, "sync-interval", "", "the NATS servers' JetStream sync_interval: always or a duration (default nats-server's, 2 minutes; docs/faults.md says what each risks on a kill -9)")
	fl.DurationVar(&cfg.ReadyTimeout, "timeout", deploy.DefaultReadyTimeout, "how long every process may take to be ready")
	fl.BoolVar(&wan, "wan", false, "put toxiproxy, with latency, jitter and loss, on every connection between regions")
	fl.StringToStringVar(&latency, "wan-latency", nil, "one-way latency into a region, e.g. guangdong=3ms,hongkong=2ms (default 3ms, 2ms, 2ms)")
	fl.DurationVar(&w.Jitter, "wan-jitter", 0, "latency jitter (default 1ms)")
	fl.Float64Var(&w.Loss, "wan-loss", 0, "share of reads held as if a segment were lost (default 0.001)")
	fl.DurationVar(&w.LossDelay, "wan-loss-delay", 0, "how long a lost segment holds its stream (default 200ms)")
	return cmd
}

// printPlan prints where everything listens and how to use it.
func printPlan(out io.Writer, p *deploy.Plan) {
	fmt.Fprintf(out, "baybus deployment of chain %s in %s\n\n", p.Chain, p.Dir)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROCESS\tREGION\tLISTENS")
	for _, pr := range p.Procs {
		var ls []string
		for _, e := range pr.Listen {
			ls = append(ls, e.Name+" "+e.URL)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", pr.Name, pr.Region, strings.Join(ls, "  "))
	}
	tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tCITIES\tGATEWAY\tNATS")
	for _, r := range p.Regions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, strings.Join(r.Cities, ","), r.GatewayURL, r.NATS)
	}
	tw.Flush()
	fmt.Fprintf(out, "\nStreams: replicas %d in %s. Orderer metrics: <orderer http>/metrics; gateway metrics: <gateway>/metrics (token).\n",
		p.StreamReplicas, p.StreamRegion)
	if p.WAN != nil {
		fmt.Fprintf(out, "WAN: toxiproxy on every gateway connection between regions (latency %v, jitter %v, loss %g)\n",
			p.WAN.Latency, p.WAN.Jitter, p.WAN.Loss)
	}
	if url, tok, err := p.CityGateway("shenzhen"); err == nil {
		fmt.Fprintf(out, "\nTry:\n  go run ./cmd/baybus sample --city shenzhen --n 3 > sz.jsonl\n")
		fmt.Fprintf(out, "  go run ./cmd/baybus publish --url %s --token-file %s --city shenzhen --native --wait --file sz.jsonl\n", url, tok)
		fmt.Fprintf(out, "  scripts/cluster status --dir %s\n  scripts/cluster down --dir %s\n", p.Dir, p.Dir)
	}
}

func newClusterDownCmd() *cobra.Command {
	var (
		dir   string
		purge bool
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop every process of the deployment (state stays for the next up, unless --purge)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := deploy.Open(dir, deploy.Options{})
			if err != nil {
				return err
			}
			if err := d.Down(cmd.Context()); err != nil {
				return err
			}
			if purge {
				if err := os.RemoveAll(d.Plan.Dir); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "stopped; %s removed\n", d.Plan.Dir)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stopped; state kept in %s (up starts it again)\n", d.Plan.Dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", deploy.DefaultDir, "state directory")
	cmd.Flags().BoolVar(&purge, "purge", false, "remove the state directory (consortium, data, logs) after stopping")
	return cmd
}

func newClusterStatusCmd() *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each process: running, ready (its /readyz or /healthz), an orderer's height and leader",
		Long: `status asks every process of the deployment for its health: an orderer's
/readyz (height, the leader it follows), a gateway's /readyz, a NATS server's
/healthz (JetStream current), the WAN's API. Exit status 0 when every process
runs and is ready, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := deploy.Open(dir, deploy.Options{})
			if err != nil {
				return err
			}
			sts := d.Status(cmd.Context())
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(sts); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PROCESS\tREGION\tPID\tREADY\tHEIGHT\tLEADER\tDETAIL")
				for _, st := range sts {
					pid, height := "-", "-"
					if st.PID != 0 {
						pid = fmt.Sprint(st.PID)
					}
					if st.Kind == deploy.KindOrderer && st.PID != 0 {
						height = fmt.Sprint(st.Height)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", st.Name, st.Region, pid, st.Ready, height, orDash(st.Leader), st.Detail)
				}
				tw.Flush()
			}
			for _, st := range sts {
				if !st.Ready {
					return exitError{code: 1}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", deploy.DefaultDir, "state directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newClusterProcCmd(verb, short string) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   verb + " NAME...",
		Short: short,
		Long: short + `. NAME is a process of the deployment as status lists it, e.g.
orderer-hongkong, nats-guangdong-2, gateway-macao, wan.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			d, err := deploy.Open(dir, deploy.Options{})
			if err != nil {
				return err
			}
			for _, name := range names {
				switch verb {
				case "start":
					err = d.Start(cmd.Context(), name)
				case "stop":
					err = d.Stop(cmd.Context(), name)
				case "kill":
					err = d.Kill(name)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", name, map[string]string{"start": "ready", "stop": "stopped", "kill": "killed"}[verb])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", deploy.DefaultDir, "state directory")
	return cmd
}

func newClusterWANCmd() *cobra.Command {
	var (
		config string
		lf     logFlags
	)
	cmd := &cobra.Command{
		Use:   "wan --config FILE",
		Short: "Run toxiproxy with the deployment's proxies and toxics (a process 'cluster up --wan' starts)",
		Long: `wan runs Shopify/toxiproxy (v2.5.0, embedded) with the proxies and toxics of
--config: one proxy in front of each NATS server's gateway port, with latency,
jitter and loss. Its HTTP API (the file's "api" address) is toxiproxy's own, so
toxiproxy-cli or curl can change toxics while the deployment runs, e.g. to cut
Macao off: curl -X POST http://API/proxies/nats-macao-1.gateway -d '{"enabled":false}'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := zerolog.InfoLevel
			if lvl, err := zerolog.ParseLevel(lf.level); err == nil {
				level = lvl
			}
			if _, err := lf.logger(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wan: toxiproxy with the proxies of %s (Ctrl-C to stop)\n", config)
			return deploy.RunWAN(cmd.Context(), config, level)
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "WAN configuration (DIR/wan/wan.json) (required)")
	_ = cmd.MarkFlagRequired("config")
	lf.add(cmd)
	return cmd
}

// clusterTargets are the first n cities of a deployment (every city for
// n <= 0 or above 11), each with its region's gateway and token, and the
// deployment's plan.
func clusterTargets(dir string, n int) ([]bench.Target, *deploy.Plan, error) {
	p, err := deploy.LoadPlan(dir)
	if err != nil {
		return nil, nil, err
	}
	cities := schemas.CityTokens()
	if n > 0 && n < len(cities) {
		cities = cities[:n]
	}
	var out []bench.Target
	for _, city := range cities {
		url, tokFile, err := p.CityGateway(city)
		if err != nil {
			return nil, nil, err
		}
		tok, err := client.Token(tokFile)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, bench.Target{City: city, URL: url, Token: tok})
	}
	return out, p, nil
}

func newClusterStreamsCmd() *cobra.Command {
	var (
		natsURL, dir, creds, region string
		tlsCA, tlsCert, tlsKey      string
		replicas                    int
		timeout                     time.Duration
		recreate                    string
	)
	cmd := &cobra.Command{
		Use:   "streams --nats URL --consortium DIR",
		Short: "Create the streams on a NATS supercluster (or cluster) as the operator, for a deployment across hosts",
		Long: `streams creates GBA_TX, GBA_BLOCKS and GBA_PROOFS (or brings them to this
configuration) as the operator identity (--creds, default DIR/nats/operator.nk):
--replicas replicas of each, placed in the cluster --region names (a NATS
cluster name, "" to let JetStream choose), GBA_TX with interest retention over
the durable consumers of the orderers of DIR/trust.json. It returns once every
orderer's consumer has a leader, so the orderers can start. 'cluster up' does
the same on one host; docs/deployment.md shows where it fits across hosts.

--recreate STREAM first deletes that stream: the operator's step for a stream
left without a leader for good, its replicas each waiting for a leader to catch
it up (docs/faults.md). What the stream held is lost; the gateways' outboxes
publish again every batch not yet sealed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if recreate != "" && !slices.Contains(deploy.Streams, recreate) {
				return fmt.Errorf("--recreate %q: want one of %s", recreate, strings.Join(deploy.Streams, ", "))
			}
			trust, err := keys.LoadBundle(filepath.Join(dir, keys.TrustFile))
			if err != nil {
				return err
			}
			if creds == "" {
				creds = bus.SeedPath(dir, bus.IdentityName(bus.RoleOperator, ""))
			}
			var opts []nats.Option
			if tlsCA == "" && strings.HasPrefix(natsURL, "tls://") {
				tlsCA, _ = consortium.CAPaths(dir)
			}
			if tlsCA != "" {
				opt, err := bus.TLSOption(tlsCA, tlsCert, tlsKey)
				if err != nil {
					return err
				}
				opts = append(opts, opt)
			}
			nc, err := bus.Connect(natsURL, creds, "operator@cluster-streams", opts...)
			if err != nil {
				return err
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if recreate != "" {
				sc := bus.StreamConfig{Replicas: replicas, Orderers: trust.Orderers}
				if region != "" {
					sc.Placement = &jetstream.Placement{Cluster: region}
				}
				if err := natsserver.RecreateStream(ctx, nc, recreate, sc); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "stream %s deleted and created again\n", recreate)
			}
			if err := deploy.EnsureStreams(ctx, nc, trust.Orderers, region, replicas); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "streams of chain %s ready: %d replicas in %s, consumers of %s\n",
				trust.Chain, replicas, orDash(region), strings.Join(trust.Orderers, ", "))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&natsURL, "nats", "nats://127.0.0.1:4222", "NATS URL(s) of the cluster, comma-separated")
	fl.StringVar(&dir, "consortium", "data", "consortium directory (trust.json; nats/operator.nk unless --creds)")
	fl.StringVar(&creds, "creds", "", "the operator's NATS credentials (default DIR/nats/operator.nk)")
	fl.StringVar(&region, "region", deploy.DefaultStreamRegion, `NATS cluster that holds the replicas ("" to let JetStream choose)`)
	fl.IntVar(&replicas, "replicas", 3, "replicas of each stream (at most the servers of that cluster)")
	fl.StringVar(&tlsCA, "tls-ca", "", "CA certificates (PEM) for a TLS bus (default DIR/tls/ca.crt for a tls:// URL)")
	fl.StringVar(&tlsCert, "tls-cert", "", "client certificate (PEM) for a bus that verifies clients")
	fl.StringVar(&tlsKey, "tls-key", "", "its key (PEM)")
	fl.DurationVar(&timeout, "timeout", time.Minute, "how long JetStream may take to elect its leaders")
	fl.StringVar(&recreate, "recreate", "", "delete this stream first and create it again (a stream left without a leader for good; docs/faults.md)")
	return cmd
}
