// Package natstest starts real embedded NATS servers with JetStream for
// tests, with the streams of package bus created.
package natstest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/schemas/bus"
)

// Options of Start.
type Options struct {
	Listen  string           // client address ("" = in-process only), e.g. "127.0.0.1:-1"
	Streams bus.StreamConfig // how the streams are created
}

// Start runs a server for ids in a temporary directory, creates the streams
// as the operator identity, and shuts the server down when the test ends.
func Start(t testing.TB, ids *bus.Identities, opt Options) *natsserver.Embedded {
	t.Helper()
	srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: opt.Listen, Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect(bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, opt.Streams); err != nil {
		t.Fatal(err)
	}
	return srv
}
