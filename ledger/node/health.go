package node

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health is what /healthz and /readyz answer, as JSON.
type Health struct {
	Status string `json:"status"` // "ok", "ready" or "not_ready"
	Chain  string `json:"chain"`
	Node   string `json:"node"`
	Height uint64 `json:"height"`
	Leader string `json:"leader,omitempty"`
	Reason string `json:"reason,omitempty"` // why not ready
}

// Handler serves an orderer's operator endpoints: GET /healthz (the
// process answers: 200), GET /readyz (200 when Ready, else 503 with the
// reason; both name the chain and the node) and, with a gatherer, GET
// /metrics.
func (n *Node) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeHealth(w, http.StatusOK, n.health("ok", nil))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := n.Ready(); err != nil {
			writeHealth(w, http.StatusServiceUnavailable, n.health("not_ready", err))
			return
		}
		writeHealth(w, http.StatusOK, n.health("ready", nil))
	})
	if g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	return mux
}

func (n *Node) health(status string, err error) Health {
	h := Health{Status: status, Chain: n.cfg.Trust.Chain, Node: n.cfg.Name, Height: n.Height(), Leader: n.ord.Leader()}
	if err != nil {
		h.Reason = err.Error()
	}
	return h
}

func writeHealth(w http.ResponseWriter, code int, h Health) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(h)
}
