package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// RawJetStream measures async publishes per second of size-byte messages to
// a scratch file-backed stream on a scratch embedded server (the same
// storage settings as GBA_TX: file store, the server's default sync), with
// one publisher per city.
func RawJetStream(ctx context.Context, size, publishers int, d time.Duration) (float64, error) {
	dir, err := os.MkdirTemp("", "baybus-rawjs-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	// Each publisher is a city on its own gba.tx.<city>, under the same
	// permissions as a gateway; the operator only makes the stream.
	cities := schemas.CityTokens()
	ids, err := bus.NewIdentities(cities, nil)
	if err != nil {
		return 0, err
	}
	srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: dir, Identities: ids})
	if err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	setup, err := srv.Connect("operator")
	if err != nil {
		return 0, err
	}
	defer setup.Close()
	js, _ := jetstream.New(setup)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SCRATCH", Subjects: []string{bus.SubjectTxAll}, Storage: jetstream.FileStorage,
		Duplicates: 10 * time.Minute}); err != nil {
		return 0, err
	}
	payload := make([]byte, size)
	var count atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for p := range publishers {
		city := cities[p%len(cities)]
		nc, err := srv.Connect(bus.IdentityName(bus.RoleCity, city))
		if err != nil {
			return 0, err
		}
		defer nc.Close()
		pjs, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4000))
		wg.Add(1)
		go func() {
			defer wg.Done()
			subj := bus.TxSubject(city)
			for i := 0; time.Now().Before(deadline); i++ {
				msg := &nats.Msg{Subject: subj, Data: payload, Header: nats.Header{}}
				msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%d-%d", p, i)) // as the gateways do
				if _, err := pjs.PublishMsgAsync(msg); err != nil {
					<-pjs.PublishAsyncComplete()
					continue
				}
				count.Add(1)
			}
			<-pjs.PublishAsyncComplete()
		}()
	}
	start := time.Now()
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds(), nil
}

// CryptoFloor is the best rate, in transactions per second, of the
// signature and hash work the design does per transaction on this machine,
// with all cores busy: per batch of meanBatch transactions, one gateway
// signature and, for each of n orderers, one verification of the batch
// signature (at ingestion; block.Checks reuses it) and one SHA-256 of each
// transaction; per block of batchesPerBlock batches, each orderer's vote is
// signed once and verified by every orderer.
func CryptoFloor(n int, meanBatch, batchesPerBlock float64, d time.Duration) float64 {
	k, err := keys.Generate("city/bench/1", keys.Ed25519, rand.Reader)
	if err != nil {
		return 0
	}
	dom := keys.Domain{Chain: "gba-bench", Purpose: keys.PurposeBatch}
	msg := make([]byte, 96)
	tx := make([]byte, 1024)
	sig := k.Sign(dom, msg)
	pub := k.Public()
	batchesPerBlock = max(batchesPerBlock, 1)
	votesPerBatch := float64(n) * float64(n) / batchesPerBlock // verifications of votes per batch
	signsPerBatch := 1 + float64(n)/batchesPerBlock
	verifiesPerBatch := float64(n) + votesPerBatch
	var ops atomic.Int64 // units of one batch's work
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range max(1, runtime.NumCPU()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s, v, h float64
			for time.Now().Before(deadline) {
				// Do the batch's work in its proportions.
				for s < signsPerBatch {
					k.Sign(dom, msg)
					s++
				}
				for v < verifiesPerBatch {
					_ = pub.Verify(dom, msg, sig)
					v++
				}
				for h < meanBatch*float64(n) {
					sha256.Sum256(tx)
					h++
				}
				s, v, h = s-signsPerBatch, v-verifiesPerBatch, h-meanBatch*float64(n)
				ops.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	return float64(ops.Load()) * meanBatch / time.Since(start).Seconds()
}
