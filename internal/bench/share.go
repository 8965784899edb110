package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// errNoAnswer: a share run that had no answer to measure.
var errNoAnswer = errors.New("bench: no answer")

// ShareConfig configures RunShare. Zero fields take the documented
// defaults.
type ShareConfig struct {
	DataDir  string        // default a temporary directory, removed after
	Rate     float64       // requests offered per second, open loop; default 200
	Duration time.Duration // of the measured window; default 20 s
	Warmup   time.Duration // requests sent but not counted first; default 3 s
	Licenses int           // Shenzhen business registrations to read from; default 200
	Orderers int           // default 4
	// MaxInFlight bounds requests outstanding at once, and the reader's
	// connections (under the gateway's 1,024). The loop stays open: a
	// request due while MaxInFlight are outstanding is not sent, and is
	// counted (ShareResult.Unsent) rather than sent late. Default 512.
	MaxInFlight int
	// Timeout bounds one request; default 30 s.
	Timeout time.Duration
	Logger  *slog.Logger // default: discard
}

func (c ShareConfig) withDefaults() ShareConfig {
	if c.Rate <= 0 {
		c.Rate = 200
	}
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = 3 * time.Second
	}
	if c.Licenses <= 0 {
		c.Licenses = 200
	}
	if c.Orderers == 0 {
		c.Orderers = 4
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 512
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ShareResult is the documented JSON output of `baybus bench share --json`.
type ShareResult struct {
	// Answer is the latency of a sealed answer as the reader sees it: the
	// request signed and posted (from its intended send time, open loop),
	// the grant checked, the access record sealed by the orderers, the
	// fields HPKE-sealed and the answer received.
	Answer       Latency `json:"answer_ms"`
	OfferedPerS  float64 `json:"offered_per_s"`
	AnsweredPerS float64 `json:"answered_per_s"` // granted answers received per second in the window
	Answered     int64   `json:"answered"`       // in the window
	Failed       int64   `json:"failed"`         // errors or refusals, whole run
	// Unsent counts requests due while MaxInFlight were outstanding,
	// which the open loop did not send (whole run): the load the system
	// was offered is OfferedPerS less these.
	Unsent      int64  `json:"unsent"`
	MaxInFlight int    `json:"max_in_flight"`
	FirstError  string `json:"first_error,omitempty"`
	// Opened is the reader's side, once the load has stopped: answers
	// decrypted and checked (both proofs verified cold, every field
	// against its digest) per second, on one core.
	OpenedPerS float64 `json:"opened_per_s"`
	// ReaderCPUMsPerAnswer is the reader's own CPU to open and check one
	// answer, measured apart, after the load; its requests are signed
	// before the load starts, so neither is in CPUSecondsPer1kRequests.
	ReaderCPUMsPerAnswer float64 `json:"reader_cpu_ms_per_answer"`
	// AccessRecords is what the ledger holds after the run: one per
	// request answered or refused.
	AccessRecords int64   `json:"access_records"`
	Blocks        uint64  `json:"blocks"`
	Orderers      int     `json:"orderers"`
	DurationS     float64 `json:"duration_s"`
	// CPUSecondsPer1kRequests is the process's CPU in the run (gateway,
	// bus, orderers; and the reader's HTTP client, which shares the
	// process) per 1,000 requests sent.
	CPUSecondsPer1kRequests float64 `json:"cpu_s_per_1k_requests"`
	GoVersion               string  `json:"go_version"`
	CPUs                    int     `json:"cpus"`
	GOOS                    string  `json:"goos"`
	GOARCH                  string  `json:"goarch"`
}

// RunShare measures sealed answers (issue 15's performance target): a
// whole system of rules version 3 (up's composition), Shenzhen publishes
// business registrations whose legal representatives' names are personal,
// grants a Hong Kong bank their names, and the bank asks for them at Rate
// requests per second, open loop. Every answer is a granted disclosure
// whose access record was sealed before it was given.
func RunShare(ctx context.Context, cfg ShareConfig) (*ShareResult, error) {
	cfg = cfg.withDefaults()
	dir := cfg.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "baybus-bench-share-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	const chain, reader = "gba-bench-share", "hk-bank"
	if _, err := consortium.Create(dir, consortium.Spec{Chain: chain, Orderers: cfg.Orderers, Rules: keys.MaxRules}); err != nil {
		return nil, err
	}
	if _, err := consortium.AddReader(dir, consortium.ReaderSpec{Name: reader, Grants: []string{"CN.*"}}); err != nil {
		return nil, err
	}
	sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSListen: "-", Orderers: cfg.Orderers, Chain: chain, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer sys.Stop()
	trust := sys.Consortium.Bundle
	base := "http://" + sys.HTTPAddr
	szToken, err := sys.Token("shenzhen")
	if err != nil {
		return nil, err
	}
	tokens, err := auth.OpenTokens(auth.TokenPath(dir), auth.TokenConfig{})
	if err != nil {
		return nil, err
	}
	readerToken, _, err := tokens.IssueReader(reader, time.Hour, "bench share")
	if err != nil {
		return nil, err
	}
	signKey, err := keys.ReadFile(keys.ReaderKeyPath(dir, reader))
	if err != nil {
		return nil, err
	}
	hpkeKey, err := keys.ReadHPKEFile(keys.ReaderHPKEPath(dir, reader))
	if err != nil {
		return nil, err
	}

	licenses, err := publishShareFixture(ctx, base, szToken, chain, cfg.Licenses)
	if err != nil {
		return nil, err
	}
	owner := share.NewClient(base, nil, szToken)
	today := time.Now().In(schemas.GBATime)
	if _, err := owner.Grant(ctx, "shenzhen", share.GrantBody{ID: "g-bench", Reader: reader, Kinds: []string{"business"},
		Fields: []string{"people.name"}, Purpose: "kyc", From: today.AddDate(0, 0, -1).Format(schemas.DateLayout),
		To: today.AddDate(1, 0, 0).Format(schemas.DateLayout)}); err != nil {
		return nil, fmt.Errorf("bench: grant: %w", err)
	}

	hc := &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{MaxIdleConns: cfg.MaxInFlight, MaxIdleConnsPerHost: cfg.MaxInFlight, MaxConnsPerHost: cfg.MaxInFlight}}
	rc := share.NewClient(base, hc, readerToken)
	res := &ShareResult{OfferedPerS: cfg.Rate, Orderers: cfg.Orderers, DurationS: cfg.Duration.Seconds(), MaxInFlight: cfg.MaxInFlight,
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	// The reader's requests, signed before the load: its signing is the
	// reader's CPU, not the system's (the gateway allows a request's time
	// MaxSkew, 5 minutes, from its own).
	bodies := make([]*share.Body, 0, int((cfg.Warmup+cfg.Duration)/interval)+1)
	for i := 0; i < cap(bodies); i++ {
		rq, err := share.NewRequest(chain, reader, "shenzhen", schemas.OpDisclose, time.Now(), rand.Reader)
		if err != nil {
			return nil, err
		}
		rq.License, rq.Kind, rq.Fields, rq.Purpose = licenses[i%len(licenses)], schemas.KindBusiness, []string{"people.name"}, "kyc"
		body, err := share.Sign(rq, signKey)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, body)
	}
	h0 := sys.Nodes[0].Height()
	cpu0 := cpuSeconds()
	var (
		mu        sync.Mutex
		lat       []time.Duration
		answers   []*share.Answer
		failed    atomic.Int64
		firstErr  error // guarded by mu
		wg        sync.WaitGroup
		requested int64
	)
	slots := make(chan struct{}, cfg.MaxInFlight)
	var unsent int64
	start := time.Now()
	winFrom, winTo := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	for i, at := 0, start; at.Before(winTo) && i < len(bodies); i, at = i+1, at.Add(interval) {
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(d):
			}
		}
		select {
		case slots <- struct{}{}:
		default:
			unsent++ // open loop: not sent late, counted
			continue
		}
		wg.Add(1)
		requested++
		go func(at time.Time, body *share.Body) {
			defer func() { <-slots; wg.Done() }()
			a, err := rc.Request(ctx, body)
			if err == nil && (a.Outcome != schemas.OutcomeGranted || a.Sealed == nil) {
				err = fmt.Errorf("bench: answer %s (%s)", a.Outcome, a.Reason)
			}
			if err == nil {
				done := time.Now()
				if !at.Before(winFrom) && at.Before(winTo) {
					mu.Lock()
					lat = append(lat, done.Sub(at))
					if len(answers) < 200 {
						answers = append(answers, a)
					}
					mu.Unlock()
				}
				return
			}
			failed.Add(1)
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}(at, bodies[i])
	}
	wg.Wait()
	res.Answered = int64(len(lat))
	res.AnsweredPerS = float64(res.Answered) / cfg.Duration.Seconds()
	res.Failed = failed.Load()
	res.Unsent = unsent
	res.Answer = percentiles(lat)
	res.CPUSecondsPer1kRequests = (cpuSeconds() - cpu0) / float64(max(requested, 1)) * 1000
	if firstErr != nil {
		res.FirstError = firstErr.Error()
		cfg.Logger.Warn("bench: share requests failed", "failed", res.Failed, "first", firstErr)
	}
	if len(answers) == 0 {
		return nil, fmt.Errorf("bench: no answer in the window (%d failed; the first: %w)", res.Failed, errors.Join(firstErr, errNoAnswer))
	}
	// The reader's side: open and check answers, one core, its CPU
	// measured apart.
	n, t0, rcpu0 := 0, time.Now(), cpuSeconds()
	for time.Since(t0) < 2*time.Second {
		if _, _, err := share.Open(trust, hpkeKey, answers[n%len(answers)]); err != nil {
			return nil, fmt.Errorf("bench: an answer does not open: %w", err)
		}
		n++
	}
	res.OpenedPerS = float64(n) / time.Since(t0).Seconds()
	res.ReaderCPUMsPerAnswer = (cpuSeconds() - rcpu0) / float64(n) * 1000
	res.Blocks = sys.Nodes[0].Height() - h0
	all, err := owner.Accesses(ctx, share.AccessQuery{City: "shenzhen", Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("bench: audit: %w", err)
	}
	for res.AccessRecords = int64(len(all.Accesses)); all.Next != ""; res.AccessRecords += int64(len(all.Accesses)) {
		if all, err = owner.Accesses(ctx, share.AccessQuery{City: "shenzhen", Cursor: all.Next, Limit: 1000}); err != nil {
			return nil, fmt.Errorf("bench: audit: %w", err)
		}
	}
	return res, nil
}

// publishShareFixture publishes n Shenzhen business registrations, each
// with a legal representative (a personal name), waits until they are
// sealed, and returns their license keys.
func publishShareFixture(ctx context.Context, base, token, chain string, n int) ([]string, error) {
	sz, err := schemas.LookupCity("shenzhen")
	if err != nil {
		return nil, err
	}
	natives, err := bridge.Sample(sz, schemas.KindBusiness, n, 15)
	if err != nil {
		return nil, err
	}
	var (
		raws []json.RawMessage
		keys []string
	)
	for i, nat := range natives {
		tx, err := bridge.ToTx(chain, sz, nat)
		if err != nil {
			return nil, err
		}
		ev := tx.Event()
		ev.Record.People = []schemas.Party{{Name: schemas.Text{schemas.LangHans: fmt.Sprintf("王%05d", i)}, Role: schemas.Text{schemas.LangHans: "法定代表人"}}}
		raw, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		raws = append(raws, raw)
		keys = append(keys, schemas.LicenseKey(schemas.CN, ev.Record.ID))
	}
	res, err := client.New(base, nil, client.WithToken(token)).Publish(ctx, "shenzhen", raws, client.Options{Wait: true})
	if err != nil {
		return nil, fmt.Errorf("bench: publish the fixture: %w", err)
	}
	for i, r := range res {
		if r.Error != nil || r.Receipt == nil || r.Receipt.Status != api.StatusCommitted {
			return nil, fmt.Errorf("bench: fixture event %d not sealed: %+v", i, r.Error)
		}
	}
	return keys, nil
}
