package system_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// TestSM2Consortium runs the embedded system (what `up` and `demo --scheme
// SM2` run) with an SM2 consortium, and with a mixed one (cities signing
// with SM2, orderers with Ed25519; issue 14 §7): events are sealed, and
// their license proofs, carrying a city's SM2 batch signature and the
// orderers' quorum certificate, verify offline against the trust bundle.
func TestSM2Consortium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	for _, tc := range []struct {
		name                      string
		scheme, city, orderer     string
		wantCity, wantOrdererKeys string
	}{
		{name: "all SM2", scheme: keys.SM2, wantCity: keys.SM2, wantOrdererKeys: keys.SM2},
		{name: "SM2 cities, Ed25519 orderers", city: keys.SM2, orderer: keys.Ed25519, wantCity: keys.SM2, wantOrdererKeys: keys.Ed25519},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.city != "" {
				// A mixed consortium is made first (keys init --city-scheme);
				// the system opens it.
				if _, err := consortium.Create(dir, consortium.Spec{Chain: system.DefaultChain, Orderers: 4,
					CityScheme: tc.city, OrdererScheme: tc.orderer}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSListen: "-", Orderers: 4,
				Scheme: tc.scheme, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer sys.Stop()
			trust, err := keys.LoadBundle(filepath.Join(dir, keys.TrustFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range trust.Keys {
				want := tc.wantOrdererKeys
				if k.Role == keys.RoleCity {
					want = tc.wantCity
				}
				if k.Scheme != want {
					t.Fatalf("%s: scheme %s, want %s", k.ID, k.Scheme, want)
				}
			}

			for _, city := range []string{"shenzhen", "hongkong"} {
				res, err := cityClient(t, sys, city).Publish(ctx, city, []json.RawMessage{event(city, 1), event(city, 2)}, client.Options{Wait: true})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res {
					if r.Error != nil || r.Receipt.Status != "committed" {
						t.Fatalf("%s: %+v %+v", city, r.Receipt, r.Error)
					}
				}
			}

			nc, err := sys.Bus.Connect(bus.IdentityName(bus.RoleOperator, ""))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			cons, err := js.OrderedConsumer(ctx, bus.StreamProofs, jetstream.OrderedConsumerConfig{})
			if err != nil {
				t.Fatal(err)
			}
			for got := 0; got < 4; got++ {
				m, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
				if err != nil {
					t.Fatalf("after %d proofs: %v", got, err)
				}
				b, err := proof.Decode(m.Data())
				if err != nil {
					t.Fatal(err)
				}
				// Offline: only the trust bundle as written to disk.
				if _, err := proof.Verify(trust, b); err != nil {
					t.Fatalf("proof of %s: %v", b.Key, err)
				}
			}
		})
	}
}
