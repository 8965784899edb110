package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

func newGatewayCmd() *cobra.Command {
	var (
		url, consortium, listen, cities string
		lf                              logFlags
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run city gateways against an external NATS server or cluster",
		Long: `gateway runs the HTTP gateways of one or more cities (the same code as in
'baybus up') against an external NATS server or cluster. Each city connects with
its own NATS identity (--consortium DIR/nats/city-<city>.nk, or a JWT .creds
file of that name) and signs with its own key (DIR/keys/city-<city>.key), so the
bus itself refuses a publish to another city's subject.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger()
			if err != nil {
				return err
			}
			trust, err := keys.LoadBundle(filepath.Join(consortium, keys.TrustFile))
			if err != nil {
				return err
			}
			tokens := schemas.CityTokens()
			if cities != "all" {
				tokens = strings.Split(cities, ",")
			}
			reg := prometheus.NewRegistry()
			var probe jetstream.JetStream
			gw := gateway.New(gateway.Config{Chain: trust.Chain, Bridges: gatewayBridges, Registerer: reg, Logger: log,
				Ready: func(ctx context.Context) error {
					if probe == nil {
						return errors.New("no bus connection")
					}
					_, err := probe.Stream(ctx, bus.StreamTx)
					return err
				}})
			defer gw.Close()
			for _, city := range tokens {
				if _, err := schemas.LookupCity(city); err != nil {
					return err
				}
				key, err := keys.ReadFile(keys.CityKeyPath(consortium, city))
				if err != nil {
					return err
				}
				name := bus.IdentityName(bus.RoleCity, city)
				nc, err := bus.Connect(url, bus.SeedPath(consortium, name), name)
				if err != nil {
					return err
				}
				defer nc.Close()
				pub, err := bus.NewPublisher(nc)
				if err != nil {
					return err
				}
				if probe == nil {
					probe = pub.JetStream()
				}
				if err := gw.AddCity(city, key, pub); err != nil {
					return err
				}
			}
			mux := http.NewServeMux()
			gw.Register(mux)
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			fmt.Fprintf(cmd.OutOrStdout(), "gateways for %s on http://%s, bus %s (Ctrl-C to stop)\n", strings.Join(tokens, ", "), ln.Addr(), url)
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "nats", "nats://127.0.0.1:4222", "NATS URL(s), comma-separated for a cluster")
	fl.StringVar(&consortium, "consortium", "data", "consortium directory (trust.json, keys/, nats/), as written by 'keys init' or 'up'")
	fl.StringVar(&listen, "listen", strings.TrimPrefix(client.DefaultURL, "http://"), "HTTP address")
	fl.StringVar(&cities, "cities", "all", "comma-separated city tokens, or all")
	lf.add(cmd)
	return cmd
}
