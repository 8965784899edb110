package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBenchWritesConsistentJSON runs a 3-second bench and checks the JSON
// is well formed with a non-zero committed count and figures that agree
// with each other. It asserts no speed.
func TestBenchWritesConsistentJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.json")
	var buf bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"bench", "--duration", "3s", "--warmup", "1s", "--orderers", "4", "--cities", "3", "--json", out})
	cmd.SetOut(&buf)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("bench: %v\n%s", err, buf.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	for _, k := range []string{"committed_tps", "acked_tps", "finality_ms", "jetstream_raw_pub_per_s", "crypto_floor_tps", "ratio_vs_jetstream",
		"ratio_vs_crypto_floor", "rss_peak_bytes", "cpu_s_per_1k_tx", "disk_bytes_per_tx", "orderers", "size_bytes", "go_version", "cpus"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}
	num := func(k string) float64 { v, _ := r[k].(float64); return v }
	if num("committed") <= 0 || num("committed_tps") <= 0 {
		t.Fatalf("nothing committed: %s", raw)
	}
	if got, want := num("committed_tps"), num("committed")/num("duration_s"); got < want*0.999 || got > want*1.001 {
		t.Errorf("committed_tps %f != committed/duration %f", got, want)
	}
	if got, want := num("ratio_vs_jetstream"), num("committed_tps")/num("jetstream_raw_pub_per_s"); got < want*0.999 || got > want*1.001 {
		t.Errorf("ratio_vs_jetstream %f != %f", got, want)
	}
	if got, want := num("ratio_vs_crypto_floor"), num("committed_tps")/num("crypto_floor_tps"); got < want*0.999 || got > want*1.001 {
		t.Errorf("ratio_vs_crypto_floor %f != %f", got, want)
	}
	f := r["finality_ms"].(map[string]any)
	if !(f["p50"].(float64) <= f["p95"].(float64) && f["p95"].(float64) <= f["p99"].(float64) && f["p99"].(float64) <= f["max"].(float64)) || f["p50"].(float64) <= 0 {
		t.Errorf("finality percentiles out of order: %v", f)
	}
	if num("orderers") != 4 || num("size_bytes") != 1024 || num("cpus") < 1 || num("rss_peak_bytes") <= 0 || num("disk_bytes_per_tx") <= 0 {
		t.Errorf("figures: %s", raw)
	}
	// The breakdown: every part holds something (each transaction is in a
	// block log, a header and a proof; GBA_TX drops a batch once every
	// orderer sealed it, so it may hold nothing), and the parts fit in the
	// one-orderer total they split.
	d, _ := r["disk_per_tx"].(map[string]any)
	var parts float64
	for _, k := range []string{"block_log_per_orderer", "jetstream_tx", "jetstream_blocks", "jetstream_proofs"} {
		v, ok := d[k].(float64)
		if !ok || v < 0 || (v == 0 && k != "jetstream_tx") {
			t.Errorf("disk_per_tx.%s = %v", k, d[k])
		}
		parts += v
	}
	if one := num("disk_bytes_per_tx_per_orderer"); parts > one*1.001 {
		t.Errorf("disk parts %f exceed the one-orderer total %f", parts, one)
	}
	// Proofs: made from the last block and verified, cold and warm; a
	// bundle carries its transaction, so it is larger than one.
	p, _ := r["proofs"].(map[string]any)
	pnum := func(k string) float64 { v, _ := p[k].(float64); return v }
	for _, k := range []string{"generated_per_s", "verify_cold_per_s", "verify_warm_per_s", "block_txs"} {
		if pnum(k) <= 0 {
			t.Errorf("proofs.%s = %v", k, p[k])
		}
	}
	if pnum("bundle_bytes") <= num("size_bytes") {
		t.Errorf("proofs.bundle_bytes %v, not above the transaction size", p["bundle_bytes"])
	}
	checkRoles(t, r, raw)
	if !strings.Contains(buf.String(), "CPU by role") {
		t.Errorf("the human output lacks the CPU by role:\n%s", buf.String())
	}
}

// checkRoles checks the CPU by role: every role present, one figure per
// orderer, the work of the pipeline's parts seen (gateways, bus, each
// orderer), and the roles summing to the profiled
// CPU, which is no more than the process's over the same span.
func checkRoles(t *testing.T, r map[string]any, raw []byte) {
	t.Helper()
	c, ok := r["cpu_s_per_1k_tx_by_role"].(map[string]any)
	if !ok {
		t.Fatalf("JSON lacks cpu_s_per_1k_tx_by_role: %s", raw)
	}
	num := func(k string) float64 {
		v, ok := c[k].(float64)
		if !ok || v < 0 {
			t.Errorf("cpu_s_per_1k_tx_by_role.%s = %v", k, c[k])
		}
		return v
	}
	sum := 0.0
	for _, k := range []string{"gateways", "bus", "consensus", "storage", "proofs", "gc", "bench", "other"} {
		sum += num(k)
	}
	for _, k := range []string{"gateways", "bus"} {
		if num(k) == 0 {
			t.Errorf("no CPU for %s: %s", k, raw)
		}
	}
	ords, _ := c["orderers"].(map[string]any)
	if len(ords) != 4 {
		t.Errorf("orderers by name: %v, want 4", ords)
	}
	for name, v := range ords {
		f, _ := v.(float64)
		if f <= 0 {
			t.Errorf("orderer %s: %v", name, v)
		}
		sum += f
	}
	profiled, process := num("profiled"), num("process")
	if sum < profiled*0.999 || sum > profiled*1.001 {
		t.Errorf("roles sum to %f, profiled %f", sum, profiled)
	}
	// The profiler takes a sample per 10 ms of a thread's CPU; a thread's
	// last, partial interval can count whole, hence the slack.
	if profiled > process*1.02+0.01 || profiled <= 0 {
		t.Errorf("profiled %f s per 1k, the process's CPU %f", profiled, process)
	}
	if share := num("gc_share"); share > 1 {
		t.Errorf("gc_share %v", share)
	}
	if num("window_txs") <= 0 || num("window_s") <= 0 {
		t.Errorf("window: %v transactions in %v s", c["window_txs"], c["window_s"])
	}
}

// TestBenchSweepWritesTheCurve runs a two-point open-loop sweep at rates far
// below what the pipeline sustains and checks that both points committed
// what was offered to them in the window (a client that first sent one
// interval late once sent nothing at low rates) and that the CSV and SVG
// hold both points. It asserts no speed.
func TestBenchSweepWritesTheCurve(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "curve")
	var buf bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"bench", "--sweep", "100,200", "--duration", "2s", "--warmup", "1s", "--cities", "2", "--sweep-out", prefix})
	cmd.SetOut(&buf)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("bench --sweep: %v\n%s", err, buf.String())
	}
	f, err := os.Open(prefix + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0][0] != "offered_tps" || rows[0][1] != "committed_tps" {
		t.Fatalf("CSV: %q", rows)
	}
	for _, row := range rows[1:] {
		committed, err1 := strconv.ParseFloat(row[1], 64)
		acked, err2 := strconv.ParseFloat(row[2], 64)
		if err1 != nil || err2 != nil || committed <= 0 || acked <= 0 {
			t.Errorf("sweep point %q: nothing acknowledged or committed\n%s", row, buf.String())
		}
	}
	svg, err := os.ReadFile(prefix + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Errorf("SVG is not well-formed XML: %v", err)
	}
	if n := bytes.Count(svg, []byte("<circle")); n != 4 {
		t.Errorf("SVG has %d points, want 2 rates × p50 and p99", n)
	}
}

// TestBenchRefusesTooCoarseOpenLoop: requests so large that a client would
// send fewer than four in the window are refused before anything starts.
func TestBenchRefusesTooCoarseOpenLoop(t *testing.T) {
	cmd := newRootCmd()
	cmd.SetArgs([]string{"bench", "--rate", "500", "--bulk", "256", "--duration", "4s"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "too seldom for a 4s window; lower --bulk") {
		t.Fatalf("err = %v, want the coarse open loop refused", err)
	}
}
