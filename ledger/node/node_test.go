package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/node/nodetest"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
)

// TestEngineDefaults: one set of consensus defaults for every node, which
// an explicit setting overrides.
func TestEngineDefaults(t *testing.T) {
	o := node.EngineDefaults(bft.Options{})
	if o.BlockMaxBatches != node.DefaultBlockMaxBatches || o.ForwardTimeout != node.DefaultForwardTimeout ||
		o.ComplainTimeout != node.DefaultComplainTimeout || o.HeartbeatTimeout != node.DefaultHeartbeatTimeout {
		t.Fatalf("defaults %+v", o)
	}
	if o.BlockMaxBytes == 0 || o.PoolSize == 0 || o.Tick == 0 {
		t.Fatalf("bft's own defaults not filled: %+v", o)
	}
	if got := node.EngineDefaults(bft.Options{BlockMaxBatches: 64, HeartbeatTimeout: 3 * time.Second}); got.BlockMaxBatches != 64 || got.HeartbeatTimeout != 3*time.Second {
		t.Fatalf("explicit settings lost: %+v", got)
	}
}

func gatherNames(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		var sum float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
		out[mf.GetName()] = sum
	}
	return out
}

// TestMetricsAndHealth: every orderer metric is registered under its
// name, labelled with the orderer, and moves with the chain; /healthz and
// /readyz name the chain and the node, and /readyz says 503 with the
// reason once the node stops.
func TestMetricsAndHealth(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := nodetest.Start(t, nodetest.Options{Config: func(i int, cfg *node.Config) {
		cfg.Registerer = reg
		cfg.Proofs.Publish = i == 3
	}})
	ids := c.Issue("guangzhou", "G0001", "G0002")
	c.Publish("guangzhou", tx(c, "guangzhou", "NEVER", schemas.ActionRevoke))
	c.WaitHeight(1)
	for _, n := range c.Nodes {
		if _, err := n.WaitTx(ctxFor(t, 30*time.Second), ids[1]); err != nil {
			t.Fatal(err)
		}
	}
	h := c.Nodes[0].Height()
	waitFor(t, "the catalogues and the metrics", func() bool {
		m := gatherNames(t, reg)
		for _, n := range c.Nodes {
			if n.CatalogHeight() < h {
				return false
			}
		}
		return m["baybus_orderer_results_total"] >= 4*3 && m["baybus_orderer_cluster_height"] >= float64(4*h) && m["baybus_orderer_ready"] == 4
	})
	m := gatherNames(t, reg)
	for _, name := range node.MetricNames {
		if _, ok := m[name]; !ok {
			t.Errorf("no metric %s", name)
		}
	}
	for _, name := range node.ProofMetricNames {
		if _, ok := m[name]; !ok {
			t.Errorf("no proof metric %s", name)
		}
	}
	if m["baybus_orderer_height"] < float64(4*h) || m["baybus_orderer_decisions_total"] < float64(4*h) ||
		m["baybus_orderer_commit_seconds"] < float64(4*h) || m["baybus_orderer_blocklog_fsync_seconds"] < float64(4*h) {
		t.Errorf("metrics do not follow %d blocks on 4 orderers: %v", h, m)
	}
	if m["baybus_orderer_disk_bytes"] <= 0 || m["baybus_orderer_is_leader"] != 1 || m["baybus_orderer_ready"] != 4 {
		t.Errorf("disk %v, leaders %v, ready %v", m["baybus_orderer_disk_bytes"], m["baybus_orderer_is_leader"], m["baybus_orderer_ready"])
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "baybus_orderer_results_total" {
			continue
		}
		got := map[string]float64{}
		for _, mt := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range mt.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["orderer"] == "" {
				t.Errorf("a results series without its orderer: %v", l)
			}
			got[l["kind"]+"/"+l["action"]+"/"+l["result"]] += mt.GetCounter().GetValue()
		}
		if got["professional_certificate/issue/ok"] != 8 || got["professional_certificate/revoke/rejected"] != 4 { // blocktest.Tx: certificates
			t.Errorf("results per kind, action and result: %v", got)
		}
	}

	// Health.
	srv := httptest.NewServer(c.Nodes[1].Handler(reg))
	defer srv.Close()
	get := func(path string) (int, node.Health, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var hl node.Health
		if path != "/metrics" {
			if err := json.Unmarshal(body, &hl); err != nil {
				t.Fatalf("%s: %s", path, body)
			}
		}
		return resp.StatusCode, hl, string(body)
	}
	name := c.Nodes[1].Name()
	if code, hl, _ := get("/healthz"); code != 200 || hl.Chain != "gba-test" || hl.Node != name || hl.Height < h {
		t.Errorf("/healthz: %d %+v", code, hl)
	}
	if code, hl, _ := get("/readyz"); code != 200 || hl.Status != "ready" || hl.Chain != "gba-test" || hl.Node != name {
		t.Errorf("/readyz: %d %+v", code, hl)
	}
	if code, _, body := get("/metrics"); code != 200 || !strings.Contains(body, `baybus_orderer_height{orderer="`+name+`"}`) {
		t.Errorf("/metrics: %d", code)
	}
	c.Nodes[1].Stop()
	if code, hl, _ := get("/readyz"); code != 503 || hl.Status != "not_ready" || hl.Node != name || hl.Reason == "" {
		t.Errorf("/readyz of a stopped node: %d %+v", code, hl)
	}
	// A stopped node's metrics leave the registry, so it can be opened
	// again under the same name.
	n, err := node.Open(c.Config(1))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	n.Stop()
}

// TestCatalogueRebuilt: a node whose catalogue is lost (or behind) builds
// it again from its block log when it starts.
func TestCatalogueRebuilt(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{})
	c.Issue("foshan", "F0001", "F0002")
	rev := c.Publish("foshan", tx(c, "foshan", "F0001", schemas.ActionRevoke))
	n := c.Nodes[2]
	if l, err := n.WaitTx(ctxFor(t, 30*time.Second), rev[0]); err != nil || l.Result != block.OK {
		t.Fatalf("revoke: %+v %v", l, err)
	}
	h := n.Height()
	n.Stop()
	cfg := c.Config(2)
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "catalog")); err != nil {
		t.Fatal(err)
	}
	again, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if err := again.Start(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the catalogue rebuilt", func() bool { return again.CatalogHeight() >= h })
	ls, next, err := again.Licenses(query.LicenseFilter{City: "foshan"})
	if err != nil || next != "" || len(ls) != 2 || ls[0].Status != schemas.StatusRevoked || ls[1].Status != schemas.StatusValid {
		t.Fatalf("rebuilt catalogue: %+v %q %v", ls, next, err)
	}
	if ls, _, err := again.Licenses(query.LicenseFilter{Status: schemas.StatusRevoked, Jurisdiction: "CN"}); err != nil || len(ls) != 1 || ls[0].Key != "CN/F0001" {
		t.Fatalf("revoked in CN: %+v %v", ls, err)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func tx(c *nodetest.Cluster, city, id string, a schemas.Action) []byte {
	return blocktest.Tx(c.Cons.Bundle().Chain, city, id, a)
}

// TestDashboardQueriesKnownMetrics: the Grafana dashboard of the orderers
// (docs/grafana/orderers.json) queries only metrics the node registers,
// and has a panel for each of them.
func TestDashboardQueriesKnownMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana", "orderers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, n := range append(append([]string{}, node.MetricNames...), node.ProofMetricNames...) {
		known[n] = true
	}
	used := map[string]bool{}
	name := regexp.MustCompile(`baybus_[a-z0-9_]+`)
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base := strings.TrimSuffix(m, suffix); base != m && known[base] {
						m = base
					}
				}
				if !known[m] {
					t.Errorf("panel %q queries %s, which no node registers", p.Title, m)
				}
				used[m] = true
			}
		}
	}
	for n := range known {
		if !used[n] && n != "baybus_proofs_skipped_blocks_total" {
			t.Errorf("no panel shows %s", n)
		}
	}
}
