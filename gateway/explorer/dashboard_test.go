package explorer_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/ledger/node"
)

// dashboardFile is the Grafana dashboard shipped for operators.
const dashboardFile = "../../docs/grafana-dashboard.json"

// checkDashboard: every metric a query of the dashboard names is one the
// running system registers (the orderers', the proof publisher's and the
// gateway's), and the dashboard shows what issue 16 §3 asks an operator to
// see.
func checkDashboard(t *testing.T, c *chain) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash["uid"] == "" || dash["title"] == "" {
		t.Fatalf("%s: no uid or title", dashboardFile)
	}
	registered := map[string]bool{}
	for _, reg := range []prometheus.Gatherer{c.sys.Registry, c.srv.Registry()} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			registered[mf.GetName()] = true
		}
	}
	// Vectors without a child yet are not gathered: take the names every
	// node and every gateway registers too.
	for _, n := range node.MetricNames {
		registered[n] = true
	}
	rec := &describer{}
	gateway.New(gateway.Config{Chain: "gba", Registerer: rec, Logger: quiet})
	for _, n := range rec.names {
		registered[n] = true
	}

	var exprs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				exprs = append(exprs, e)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	if len(exprs) < 10 {
		t.Fatalf("%s: %d queries", dashboardFile, len(exprs))
	}
	metricRe := regexp.MustCompile(`\bbaybus_[a-z0-9_]+`)
	used := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metricRe.FindAllString(e, -1) {
			base := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, suffix); ok && registered[b] {
					base = b
				}
			}
			if !registered[base] {
				t.Errorf("the dashboard queries %s (in %q), which nothing registers", m, e)
			}
			used[base] = true
		}
	}
	for _, want := range []string{
		"baybus_orderer_height", "baybus_orderer_view", "baybus_orderer_leader", "baybus_orderer_decisions_total",
		"baybus_orderer_consumer_pending", "baybus_orderer_consumer_ack_pending", "baybus_orderer_commit_seconds",
		"baybus_orderer_results_total", "baybus_orderer_sync_blocks_total", "baybus_orderer_batch_fetches_total",
		"baybus_orderer_blocklog_fsync_seconds", "baybus_orderer_disk_bytes",
		"baybus_gateway_events_total", "baybus_gateway_sealed_total",
	} {
		if !used[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	var unused []string
	for n := range registered {
		if strings.HasPrefix(n, "baybus_") && !used[n] {
			unused = append(unused, n)
		}
	}
	slices.Sort(unused)
	t.Logf("metrics the dashboard leaves out: %v", unused)
}

// describer is a Registerer that only records the names of what would be
// registered.
type describer struct{ names []string }

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := descName.FindStringSubmatch(desc.String()); m != nil {
			d.names = append(d.names, m[1])
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return true }

// counters returns a counter vector's values in a registry by one label,
// among the children whose label filter has value want.
func counters(t *testing.T, reg prometheus.Gatherer, name, filter, want, by string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels[filter] == want {
				out[labels[by]] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}
