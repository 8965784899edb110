package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/spf13/cobra"

	"github.com/baybus/baybus/internal/natsserver"
)

func newNATSCmd() *cobra.Command {
	var (
		configFile string
		lf         logFlags
	)
	cmd := &cobra.Command{
		Use:   "nats --config FILE",
		Short: "Run one NATS server (with JetStream) from a configuration file",
		Long: `nats runs one nats-server, the same server 'baybus up' embeds, from a
nats-server configuration file, so a deployment needs no nats-server binary:
'baybus cluster up' writes one file per server (accounts and permissions of the
consortium's bus identities, JetStream store, cluster routes, the gateway to
the other regions, placement tags, monitoring port) and runs one 'baybus nats'
process for each. Any nats-server configuration file works.

A port that is in use is reported at once, naming the configuration key to
change; any other error the server meets while starting is reported with its
reason. SIGINT or SIGTERM shuts the server down.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger()
			if err != nil {
				return err
			}
			opts, err := server.ProcessConfigFile(configFile)
			if err != nil {
				return fmt.Errorf("--config %s: %w", configFile, err)
			}
			opts.NoSigs = true
			if err := natsserver.CheckListeners(opts); err != nil {
				var le *natsserver.ListenError
				if errors.As(err, &le) {
					return fmt.Errorf("%w: change %s in %s", err, le.Listener, configFile)
				}
				return err
			}
			if opts.JetStream && opts.StoreDir != "" {
				if err := os.MkdirAll(opts.StoreDir, 0o755); err != nil {
					return fmt.Errorf("nats: JetStream store: %w", err)
				}
			}
			srv, err := natsserver.Start(opts, log, 0)
			if err != nil {
				return fmt.Errorf("%w (config %s)", err, configFile)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "nats server %s: clients on %s", srv.Name(), srv.ClientURL())
			if opts.Cluster.Port != 0 {
				fmt.Fprintf(out, ", cluster %s on %s", opts.Cluster.Name, hostPort(opts.Cluster.Host, opts.Cluster.Port))
			}
			if opts.Gateway.Name != "" {
				fmt.Fprintf(out, ", gateway %s on %s", opts.Gateway.Name, hostPort(opts.Gateway.Host, opts.Gateway.Port))
			}
			if opts.HTTPPort != 0 {
				fmt.Fprintf(out, ", monitoring on http://%s", hostPort(opts.HTTPHost, opts.HTTPPort))
			}
			fmt.Fprintln(out, " (Ctrl-C to stop)")
			<-cmd.Context().Done()
			srv.Shutdown()
			srv.WaitForShutdown()
			log.Info("nats server stopped", "name", srv.Name())
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "nats-server configuration file (required)")
	_ = cmd.MarkFlagRequired("config")
	lf.add(cmd)
	return cmd
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// natsStartError names the flag that fixes an embedded NATS server that
// could not open its client port.
func natsStartError(err error) error {
	var le *natsserver.ListenError
	if errors.As(err, &le) && le.Listener == natsserver.ListenerClient {
		return fmt.Errorf("%w: change --nats-listen (or \"-\" for in-process only)", err)
	}
	if errors.Is(err, natsserver.ErrPlaintext) {
		return fmt.Errorf("%w: use --tls-from-consortium, or --insecure to allow plaintext", err)
	}
	return err
}
