package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baybus/baybus/gateway/api"
)

// Target is one city's gateway in a deployment that runs elsewhere: its
// URL and the bearer token of the city's publish role.
type Target struct {
	City  string
	URL   string
	Token string
}

// RemoteConfig is a load against gateways that run in other processes
// (the multi-process deployment, with or without its emulated WAN).
// Zero fields take Config's defaults.
type RemoteConfig struct {
	Targets  []Target // one per publishing city
	Duration time.Duration
	Warmup   time.Duration
	Size     int
	Rate     float64 // offered tx/s (open loop); 0 = closed loop
	Bulk     int
	Workers  int // HTTP clients per city
	// Client sends the requests; default one with a connection pool per
	// gateway.
	Client *http.Client
}

// RunRemote loads the targets with wait=commit requests and reports what
// their answers show: transactions committed per second and their
// finality, from the request's send time (an open loop's intended send
// time) to the gateway's commit answer, which is what a city system
// waiting for commits sees. The orderers, JetStream and the disks are in
// other processes, so the machine's references, resources and recovery
// are not measured here.
func RunRemote(ctx context.Context, rc RemoteConfig) (*Result, error) {
	if len(rc.Targets) == 0 {
		return nil, errors.New("bench: no gateways to load")
	}
	cfg := Config{Duration: rc.Duration, Warmup: rc.Warmup, Size: rc.Size, Rate: rc.Rate, Bulk: rc.Bulk, Workers: rc.Workers,
		Cities: len(rc.Targets)}.withDefaults()
	interval, err := cfg.sendInterval()
	if err != nil {
		return nil, err
	}
	hc := rc.Client
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	}
	res := &Result{Cities: len(rc.Targets), SizeBytes: cfg.Size, DurationS: cfg.Duration.Seconds(), OfferedTPS: cfg.Rate,
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		Mode: fmt.Sprintf("remote gateways, wait=commit, %d events per request (JSONL)", cfg.Bulk)}

	var mu sync.Mutex
	var lat []time.Duration
	var committed, acked, refused atomic.Int64
	heights := map[uint64]bool{}
	refusedBy := map[string]int64{}
	refuse := func(code string, n int64) {
		refused.Add(n)
		mu.Lock()
		refusedBy[code] += n
		mu.Unlock()
	}
	start := time.Now()
	winFrom, winTo := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	inWindow := func(t time.Time) bool { return !t.Before(winFrom) && t.Before(winTo) }
	loadCtx, stopLoad := context.WithDeadline(ctx, winTo)
	defer stopLoad()
	template, padLen := makeTemplate(cfg.Size)
	// Event numbers (and so license numbers) start at a place of their
	// own in each run, so a run against a ledger that earlier runs filled
	// issues new licenses, not ones it holds (which it would reject).
	var seq atomic.Int64
	seq.Store(int64(uint64(start.UnixNano()) % 9_000_000))
	workers := len(rc.Targets) * cfg.Workers
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range workers {
		tg := rc.Targets[w%len(rc.Targets)]
		wg.Go(func() {
			pad := newFiller(uint64(w)^uint64(start.UnixNano()), padLen)
			next := start.Add(interval * time.Duration(w) / time.Duration(workers))
			for loadCtx.Err() == nil {
				sent := time.Now()
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-time.After(d):
						case <-loadCtx.Done():
							return
						}
					}
					sent, next = next, next.Add(interval)
				}
				body := &bytes.Buffer{}
				for range cfg.Bulk {
					n := seq.Add(1)
					fmt.Fprintf(body, template, tg.City, n, benchID(tg.City, n), pad.next())
					body.WriteByte('\n')
				}
				// The request runs past the window's end if it must: its
				// answer is the measurement.
				results, err := postCommit(ctx, hc, tg, body.Bytes())
				now := time.Now()
				if err != nil {
					if loadCtx.Err() == nil {
						code := "transport"
						var ae *api.Error
						if errors.As(err, &ae) {
							code = ae.Code
						}
						refuse(code, int64(cfg.Bulk))
						firstErr.CompareAndSwap(nil, err)
						time.Sleep(50 * time.Millisecond)
					}
					continue
				}
				for _, r := range results {
					if r.Receipt == nil {
						code := "transport"
						if r.Error != nil {
							code = r.Error.Code
						}
						refuse(code, 1)
						continue
					}
					if inWindow(now) {
						acked.Add(1)
					}
					if r.Error != nil || r.Status != "committed" || !inWindow(now) {
						continue
					}
					committed.Add(1)
					mu.Lock()
					lat = append(lat, now.Sub(sent))
					heights[r.Height] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	res.Committed, res.Acked, res.Refused = committed.Load(), acked.Load(), refused.Load()
	res.CommittedTPS = float64(res.Committed) / cfg.Duration.Seconds()
	res.AckedTPS = float64(res.Acked) / cfg.Duration.Seconds()
	res.Finality = percentiles(lat)
	if len(refusedBy) > 0 {
		res.RefusedBy = refusedBy
	}
	res.Blocks = uint64(len(heights))
	if res.Blocks > 0 {
		res.MeanBlockTxs = float64(res.Committed) / float64(res.Blocks)
	}
	if res.Committed == 0 {
		if err, ok := firstErr.Load().(error); ok {
			return res, fmt.Errorf("bench: nothing committed: %w", err)
		}
		return res, errors.New("bench: nothing committed in the window")
	}
	return res, nil
}

// postCommit posts a JSONL request with wait=commit and returns its
// results (a whole-request error as an error).
func postCommit(ctx context.Context, hc *http.Client, tg Target, body []byte) ([]api.Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tg.URL+"/v1/cities/"+tg.City+"/events?wait=commit", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/jsonl")
	if tg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+tg.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	var out struct {
		Results []api.Result `json:"results"`
		Error   *api.Error   `json:"error"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("bench: %s answered %d: %w", tg.URL, resp.StatusCode, err)
	}
	if out.Error != nil {
		return nil, fmt.Errorf("bench: %s answered %d: %w", tg.URL, resp.StatusCode, out.Error)
	}
	return out.Results, nil
}
