package system_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
)

// TestUpBusTLS: up's NATS client port beyond loopback is refused in
// plaintext unless allowed explicitly, and with BusTLS it serves a
// certificate of the consortium CA that a client with the consortium's
// ca.crt and its NKey accepts, while a plaintext client and a client that
// trusts another CA are turned away.
func TestUpBusTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The check comes before anything listens, so the address need not be
	// bindable here (tests listen on loopback only).
	refused := t.TempDir()
	_, err := system.Start(ctx, system.Config{DataDir: refused, Listen: "-", NATSListen: "0.0.0.0:4999", Orderers: 4, Logger: quiet})
	if !errors.Is(err, natsserver.ErrPlaintext) {
		t.Fatalf("plaintext NATS beyond loopback: %v, want ErrPlaintext", err)
	}
	if !strings.Contains(err.Error(), "0.0.0.0:4999") {
		t.Errorf("the error does not name the listener: %v", err)
	}
	if left, _ := os.ReadDir(refused); len(left) != 0 {
		t.Errorf("a refused start wrote %d entries into the data directory", len(left))
	}

	dir := t.TempDir()
	sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "-", NATSListen: "127.0.0.1:-1", Orderers: 4, BusTLS: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Stop()
	url := sys.Bus.ClientURL()
	if !strings.HasPrefix(url, "tls://") {
		t.Fatalf("client URL %q, want tls://", url)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls", "nats.crt")); err != nil {
		t.Fatalf("the server's certificate: %v", err)
	}
	caPath, _ := consortium.CAPaths(dir)
	seed := bus.SeedPath(dir, "city-macao")

	plain := "nats://" + strings.TrimPrefix(url, "tls://")
	if nc, err := bus.Connect(plain, seed, "plaintext", nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a plaintext client was accepted")
	}
	other, err := consortium.NewCA("other", consortium.CAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if err := other.Write(otherDir); err != nil {
		t.Fatal(err)
	}
	otherCA, _ := consortium.CAPaths(otherDir)
	if nc, err := bus.Connect(url, seed, "wrong-ca", nats.RootCAs(otherCA), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client that trusts another CA connected")
	}

	nc, err := bus.Connect(url, seed, "tls", nats.RootCAs(caPath), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("a client with the consortium CA and its NKey: %v", err)
	}
	defer nc.Close()
	if !nc.TLSRequired() {
		t.Error("the connection is not TLS")
	}
	pub, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, bus.TxSubject("macao"), "tls-1", []byte("z")); err != nil {
		t.Fatalf("publish over TLS: %v", err)
	}
}
