package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/schemas/bus"
)

// pubHealth is what a city's publishes say about the bus: the last failure
// and whether a publish succeeded after it. The batcher's publish
// goroutines write it; readiness reads it.
type pubHealth struct {
	now     func() time.Time
	failing prometheus.Gauge // 1 while the latest publish failed

	mu       sync.Mutex
	failedAt time.Time // last failed publish (zero: none since the last success)
	err      error
}

func newPubHealth(now func() time.Time, failing prometheus.Gauge) *pubHealth {
	return &pubHealth{now: now, failing: failing}
}

func (h *pubHealth) ok() {
	h.mu.Lock()
	h.failedAt, h.err = time.Time{}, nil
	h.failing.Set(0)
	h.mu.Unlock()
}

func (h *pubHealth) failed(err error) {
	h.mu.Lock()
	h.failedAt, h.err = h.now(), err
	h.failing.Set(1)
	h.mu.Unlock()
}

// problem returns the last failure if no publish succeeded since and it is
// younger than hold.
func (h *pubHealth) problem(hold time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failedAt.IsZero() || h.now().Sub(h.failedAt) >= hold {
		return nil
	}
	return h.err
}

// Ready reports whether the gateway can take events: the bus probe
// (Config.Ready) passes, and no city's latest publish failed within
// FailureHold. The answer names the chain and this node.
func (g *Gateway) Ready(ctx context.Context) api.Readiness {
	r := api.Readiness{Status: "ready", Chain: g.cfg.Chain, Node: g.cfg.Node}
	if g.cfg.Ready != nil {
		if err := g.cfg.Ready(ctx); err != nil {
			r.Problems = append(r.Problems, "bus: "+err.Error())
		}
	}
	var cities []string
	g.mu.RLock()
	for token, c := range g.cities {
		r.Cities = append(r.Cities, token)
		switch err := c.health.problem(g.cfg.FailureHold); {
		case errors.Is(err, bus.ErrNoLeader):
			cities = append(cities, fmt.Sprintf("%s: no JetStream leader: no server answered its last batch: %v", token, err))
		case err != nil:
			cities = append(cities, fmt.Sprintf("%s: the bus did not store its last batch: %v", token, err))
		}
	}
	g.mu.RUnlock()
	if err := g.kept.problem(g.cfg.FailureHold); err != nil {
		cities = append(cities, fmt.Sprintf("outbox: the last batch could not be kept: %v", err))
	}
	sort.Strings(r.Cities)
	sort.Strings(cities)
	r.Problems = append(r.Problems, cities...)
	if len(r.Problems) > 0 {
		r.Status = "not_ready"
		r.Error = &Error{Status: http.StatusServiceUnavailable, Code: api.CodeNotReady, Message: r.Problems[0]}
	}
	return r
}

func (g *Gateway) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rd := g.Ready(ctx)
	status := http.StatusOK
	if rd.Status != "ready" {
		status = http.StatusServiceUnavailable
		w.Header().Set(api.HeaderRetryAfter, "1")
	}
	writeJSON(w, status, rd)
}
