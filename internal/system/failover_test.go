package system_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// busLoad publishes signed batches straight to the bus for a few cities,
// open loop (one batch per city every pause), and remembers when each was
// acknowledged by the stream, so a test can ask when sealing resumed.
type busLoad struct {
	sys   *system.System
	pause time.Duration

	mu    sync.Mutex
	acked []loadBatch // in acknowledgement order
	seq   uint64
}

type loadBatch struct {
	first schemas.TxID // the batch's first transaction
	at    time.Time    // when the stream acknowledged it
}

func (l *busLoad) run(ctx context.Context, t *testing.T, cities []string) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	chain := l.sys.Consortium.Bundle.Chain
	for _, city := range cities {
		nc, err := l.sys.Bus.Connect(bus.IdentityName(bus.RoleCity, city))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := bus.NewPublisher(nc)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer nc.Close()
			for ctx.Err() == nil {
				l.mu.Lock()
				l.seq++
				seq := l.seq
				l.mu.Unlock()
				var txs [][]byte
				for i := range 8 {
					txs = append(txs, blocktest.Tx(chain, city, blocktest.BusinessID(city, int(seq)*10+i), schemas.ActionIssue))
				}
				b, err := schemas.SealBatch(chain, city, time.Now().UnixNano(), seq, txs, l.sys.Consortium.Cities[city])
				if err != nil {
					panic(err) // the test's own transactions
				}
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err = pub.Publish(pctx, bus.TxSubject(city), b.ID(), b.Encode())
				cancel()
				if err == nil {
					l.mu.Lock()
					l.acked = append(l.acked, loadBatch{first: b.IDs[0], at: time.Now()})
					l.mu.Unlock()
				}
				select {
				case <-ctx.Done():
				case <-time.After(l.pause):
				}
			}
		})
	}
	return &wg
}

// firstAfter returns the first batch the stream acknowledged after t,
// waiting for one.
func (l *busLoad) firstAfter(ctx context.Context, t time.Time) (loadBatch, error) {
	for {
		l.mu.Lock()
		i := slices.IndexFunc(l.acked, func(b loadBatch) bool { return b.at.After(t) })
		var b loadBatch
		if i >= 0 {
			b = l.acked[i]
		}
		l.mu.Unlock()
		if i >= 0 {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return loadBatch{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// sealedAfter waits until a batch acknowledged after t is sealed on any of
// the running orderers and returns when that happened.
func sealedAfter(ctx context.Context, sys *system.System, l *busLoad, t time.Time, skip int) (time.Time, error) {
	b, err := l.firstAfter(ctx, t)
	if err != nil {
		return time.Time{}, fmt.Errorf("no batch acknowledged after the fault: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan time.Time, len(sys.Nodes))
	for i := range sys.Nodes {
		if i == skip {
			continue
		}
		n := sys.Node(i)
		go func() {
			if _, err := n.WaitTx(ctx, b.first); err == nil {
				done <- time.Now()
			}
		}()
	}
	select {
	case at := <-done:
		return at, nil
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("no batch published after the fault was sealed: %w", ctx.Err())
	}
}

// TestLeaderFailoverWithUpTimings is issue 13's failover figure: with up's
// default engine timings and a steady load on the bus, the leader is
// stopped and the test reports how long until a batch published after
// that is sealed. The target is 3 s on the 2-core machine; the test only
// bounds it generously (it runs under whatever load the machine has).
func TestLeaderFailoverWithUpTimings(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system under load")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, err := system.Start(ctx, system.Config{DataDir: t.TempDir(), Listen: "-", NATSListen: "-", Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Stop()
	load := &busLoad{sys: sys, pause: 50 * time.Millisecond}
	loadCtx, stopLoad := context.WithCancel(ctx)
	wg := load.run(loadCtx, t, []string{"shenzhen", "guangzhou", "hongkong", "macao"})
	defer func() { stopLoad(); wg.Wait() }()

	// Let the cluster settle into a view with blocks flowing.
	if _, err := sealedAfter(ctx, sys, load, time.Now().Add(time.Second), -1); err != nil {
		t.Fatal(err)
	}
	leader := sys.Node(0).Orderer().Leader()
	i := slices.Index(sys.Consortium.Bundle.Orderers, leader)
	if i < 0 {
		t.Fatalf("no leader (%q)", leader)
	}
	h := sys.Node(i).Height()
	killed := time.Now()
	sys.StopOrderer(i)
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	at, err := sealedAfter(wctx, sys, load, killed, i)
	if err != nil {
		t.Fatalf("leader %s stopped at height %d: %v", leader, h, err)
	}
	next := sys.Node((i + 1) % len(sys.Nodes)).Orderer().Leader()
	t.Logf("FAILOVER: leader %s stopped at height %d; a batch published after that sealed %v later (new leader %s)",
		leader, h, at.Sub(killed).Round(time.Millisecond), next)
}

// testLog discards logs unless BAYBUS_TEST_LOG names a file to append them
// to (at debug level).
func testLog(t *testing.T) *slog.Logger {
	path := os.Getenv("BAYBUS_TEST_LOG")
	if path == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
