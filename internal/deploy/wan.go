package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// WANFile is the configuration `baybus cluster wan` reads: toxiproxy's API
// address and every proxy with its toxics.
type WANFile struct {
	API     string     `json:"api"` // toxiproxy's HTTP API (toxiproxy-cli and curl change toxics live)
	Proxies []WANProxy `json:"proxies"`
}

// WANProxy is one toxiproxy proxy: a listener that forwards to upstream
// through its toxics.
type WANProxy struct {
	Name     string     `json:"name"`
	Listen   string     `json:"listen"`
	Upstream string     `json:"upstream"`
	Toxics   []WANToxic `json:"toxics"`
}

// WANToxic is a toxic as toxiproxy's API takes it.
type WANToxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`   // latency, loss, bandwidth, ...
	Stream     string         `json:"stream"` // upstream (towards the server) or downstream
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// wanFile makes the WAN configuration of a plan: one proxy in front of
// every NATS server's gateway port, which every other region dials (the
// server advertises the proxy as its gateway address). NATS sends on a
// gateway connection only from the dialing side, so the toxics of a
// server's proxy hold what other regions send into its region: the
// latency into a region is a property of that region's proxies, and a
// round trip between two regions is the sum of their latencies.
func wanFile(p *Plan) WANFile {
	w := *p.WAN
	f := WANFile{}
	if wp, ok := p.Proc("wan"); ok {
		f.API = wp.Endpoint("api")
	}
	for _, pr := range p.ofKind(KindNATS) {
		lat := w.Latency[pr.Region]
		var ts []WANToxic
		for _, stream := range []string{"upstream", "downstream"} {
			ts = append(ts,
				WANToxic{Name: "latency_" + stream, Type: "latency", Stream: stream, Toxicity: 1,
					Attributes: map[string]any{"latency": lat.Milliseconds(), "jitter": w.Jitter.Milliseconds()}},
				WANToxic{Name: "loss_" + stream, Type: LossToxicType, Stream: stream, Toxicity: 1,
					Attributes: map[string]any{"probability": w.Loss, "delay": w.LossDelay.Milliseconds()}})
		}
		f.Proxies = append(f.Proxies, WANProxy{Name: pr.Name + ".gateway", Listen: pr.Endpoint("proxy"),
			Upstream: pr.Endpoint("gateway"), Toxics: ts})
	}
	return f
}

// LossToxicType is the toxiproxy type name of LossToxic.
const LossToxicType = "loss"

// LossToxic is packet loss as a TCP stream shows it: with probability
// Probability a read is held for Delay milliseconds (a retransmission
// time-out) before it and everything after it pass on. Toxiproxy makes
// one per toxic and runs its Pipe once per connection, so the random
// source is shared under a lock; Seed fixes it (0: random).
type LossToxic struct {
	Probability float64 `json:"probability"`
	Delay       int64   `json:"delay"` // ms
	Seed        uint64  `json:"seed"`

	mu  sync.Mutex
	rnd *rand.Rand
}

func (t *LossToxic) lose() bool {
	if t.Probability <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rnd == nil {
		seed := t.Seed
		if seed == 0 {
			seed = rand.Uint64()
		}
		t.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	return t.rnd.Float64() < t.Probability
}

// Pipe passes chunks on in order, holding one now and then.
func (t *LossToxic) Pipe(stub *toxics.ToxicStub) {
	delay := time.Duration(t.Delay) * time.Millisecond
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if t.lose() {
				select {
				case <-time.After(delay):
				case <-stub.Interrupt:
					stub.Output <- c // never drop data when the toxic is replaced
					return
				}
			}
			stub.Output <- c
		}
	}
}

// RunWAN runs toxiproxy with the proxies and toxics of the configuration
// file at path until ctx ends. Every proxy listens before RunWAN serves
// the API; a listener that cannot open is an error at once.
func RunWAN(ctx context.Context, path string, level zerolog.Level) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("deploy: wan: %w", err)
	}
	var f WANFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return fmt.Errorf("deploy: wan: %s: %w", path, err)
	}
	// Toxiproxy keeps its toxic types in a registry of its own; adding
	// ours again is harmless.
	toxics.Register(LossToxicType, new(LossToxic))
	logger := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).Level(level).With().Timestamp().Logger()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), logger)
	defer srv.Collection.Clear()
	for _, p := range f.Proxies {
		px := toxiproxy.NewProxy(srv, p.Name, p.Listen, p.Upstream)
		if err := srv.Collection.Add(px, true); err != nil {
			return fmt.Errorf("deploy: wan: proxy %s on %s: %w", p.Name, p.Listen, err)
		}
		for _, t := range p.Toxics {
			body, err := json.Marshal(t)
			if err != nil {
				return fmt.Errorf("deploy: wan: %w", err)
			}
			if _, err := px.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
				return fmt.Errorf("deploy: wan: proxy %s: toxic %s: %w", p.Name, t.Name, err)
			}
		}
	}
	if f.API != "" {
		host, port, err := net.SplitHostPort(f.API)
		if err != nil {
			return fmt.Errorf("deploy: wan: api %q: %w", f.API, err)
		}
		// toxiproxy's Listen exits the process if it cannot listen: find
		// out first, with an error that says so.
		ln, err := net.Listen("tcp", f.API)
		if err != nil {
			return fmt.Errorf("deploy: wan: api: %w", err)
		}
		ln.Close()
		go srv.Listen(host, port)
	}
	<-ctx.Done()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
