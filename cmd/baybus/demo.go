package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/audit"
	"github.com/baybus/baybus/schemas"
)

func newDemoCmd() *cobra.Command {
	var (
		f       systemFlags
		events  int
		seed    int64
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start the embedded system, publish sample events from all eleven cities, wait until sealed, verify",
		Long: `demo starts the embedded system (in a fresh temporary directory unless --data is
given), publishes --events sample events in each jurisdiction's native format,
spread over all eleven cities, through the gateways' HTTP API, waits until every
one is sealed, stops the system, re-verifies every orderer's chain and prints a
summary: blocks, transactions, rate, finality p50/p99. Exit status 0 on success,
1 on any failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("data") {
				tmp, err := os.MkdirTemp("", "baybus-demo-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				cfg.DataDir = tmp
			}
			cfg.Listen, cfg.NATSListen = "127.0.0.1:0", "-"
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			bar := newProgress(progressOut{stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}, -1, "starting the system", false)
			res, err := runDemo(ctx, cfg, events, seed, bar)
			bar.Done()
			if err != nil {
				return exitError{code: 1, err: err}
			}
			res.print(cmd.OutOrStdout())
			return nil
		},
	}
	f.add(cmd, false)
	cmd.Flags().IntVar(&events, "events", 1000, "number of sample events")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed of the sample generator")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	return cmd
}

type demoResult struct {
	orderers          []string
	events, committed int
	flagged           int
	blocks            uint64
	elapsed           time.Duration
	p50, p99, pmax    time.Duration
	verified          []string
}

func (r *demoResult) print(w interface{ Write([]byte) (int, error) }) {
	fmt.Fprintf(w, "demo: %d events from 11 cities, %d orderers (%v)\n", r.events, len(r.orderers), r.orderers)
	fmt.Fprintf(w, "  sealed:    %d transactions in %d blocks (%d recorded with another result)\n", r.committed, r.blocks, r.flagged)
	fmt.Fprintf(w, "  rate:      %.0f tx/s (first publish to last seal, %v)\n", float64(r.committed)/r.elapsed.Seconds(), r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  finality:  p50 %v  p99 %v  max %v (gateway accepted -> sealed)\n", r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.pmax.Round(time.Millisecond))
	for _, v := range r.verified {
		fmt.Fprintf(w, "  verified:  %s\n", v)
	}
}

// runDemo is the demo: publish, wait, stop, verify. bar (nil: none) counts
// the events sealed, then each orderer's blocks verified.
func runDemo(ctx context.Context, cfg system.Config, n int, seed int64, bar *progress) (*demoResult, error) {
	sys, err := system.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			sys.Stop()
		}
	}()
	bar.Phase(int64(n), "sealing")
	cities := schemas.Cities()
	per := make([]int, len(cities))
	for i := range n {
		per[i%len(cities)]++
	}
	node := sys.Nodes[0]
	res := &demoResult{orderers: sys.Consortium.Bundle.Orderers, events: n}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	start := time.Now()
	for i, city := range cities {
		if per[i] == 0 {
			continue
		}
		raw, err := bridge.Sample(city, "", per[i], seed)
		if err != nil {
			return nil, err
		}
		tok, err := sys.Token(city.Token)
		if err != nil {
			return nil, err
		}
		c := client.New("http://"+sys.HTTPAddr, nil, client.WithToken(tok))
		wg.Add(1)
		go func() {
			defer wg.Done()
			const chunk = 100
			for lo := 0; lo < len(raw); lo += chunk {
				part := raw[lo:min(lo+chunk, len(raw))]
				evs := make([]json.RawMessage, len(part))
				for j, e := range part {
					evs[j] = e
				}
				results, err := c.Publish(ctx, city.Token, evs, client.Options{Native: true})
				if err != nil {
					fail(fmt.Errorf("%s: %w", city.Token, err))
					return
				}
				accepted := time.Now()
				for _, r := range results {
					if r.Error != nil {
						fail(fmt.Errorf("%s event %d refused: %s: %s (field %s)", city.Token, lo+r.Index, r.Error.Code, r.Error.Message, r.Error.Field))
						return
					}
					id, _ := schemas.ParseID(r.TxID)
					wg.Add(1)
					go func() {
						defer wg.Done()
						loc, err := node.WaitTx(ctx, id)
						if err != nil {
							fail(fmt.Errorf("%s tx %s not sealed: %w", city.Token, r.TxID, err))
							return
						}
						lat := time.Since(accepted)
						bar.Add(1)
						mu.Lock()
						latencies = append(latencies, lat)
						if loc.Result != 0 {
							res.flagged++
						}
						mu.Unlock()
					}()
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	res.committed = len(latencies) - res.flagged
	slices.Sort(latencies)
	res.p50, res.p99, res.pmax = pct(latencies, 0.50), pct(latencies, 0.99), latencies[len(latencies)-1]
	res.blocks = node.Height()
	for _, other := range sys.Nodes {
		if err := other.WaitHeight(ctx, res.blocks); err != nil {
			return nil, fmt.Errorf("orderer %s did not reach height %d: %w", other.Name(), res.blocks, err)
		}
	}
	trust := sys.Consortium.Bundle
	sys.Stop()
	stopped = true
	// Every orderer's chain on its own, then against the others.
	logs := audit.OrdererLogs(cfg.DataDir, trust)
	cur := -1
	cluster, err := audit.VerifyClusterProgress(ctx, logs, trust, func(i int, h, last uint64) {
		if i != cur {
			cur = i
			bar.Phase(int64(last), "verifying "+logs[i].Name)
		}
		bar.Set(int64(h))
	})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	for _, c := range cluster.Chains {
		rep := c.Report
		if rep.Height < res.blocks {
			return nil, fmt.Errorf("verify %s: height %d, want at least %d", c.Name, rep.Height, res.blocks)
		}
		res.verified = append(res.verified, fmt.Sprintf("%s: height %d, %d transactions, %d licenses, state root %s",
			c.Name, rep.Height, rep.Transactions, rep.Licenses, schemas.FormatID(rep.StateRoot)[:16]))
	}
	if len(cluster.Chains) != len(trust.Orderers) {
		return nil, fmt.Errorf("verified %d orderers of %d", len(cluster.Chains), len(trust.Orderers))
	}
	return res, nil
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
