// Package client is the Go client of the gateway's HTTP API, for city
// systems that publish events and wait for receipts.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/baybus/baybus/gateway"
)

// DefaultURL is where `baybus up` listens unless told otherwise.
const DefaultURL = "http://127.0.0.1:8480"

// BaseURL returns $BAYBUS_URL, or DefaultURL.
func BaseURL() string {
	if u := os.Getenv("BAYBUS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Client talks to a gateway.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a client for the gateway at base (e.g. http://127.0.0.1:8480).
// A nil hc uses http.DefaultClient.
func New(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(base, "/"), hc: hc}
}

// Options for Publish.
type Options struct {
	Native bool // events are in the city jurisdiction's native format
	Wait   bool // wait until each event is sealed in a block (wait=commit)
	// Retries is how many times events refused with 429 (the gateway's
	// queue full, or the orderers behind the bus) are sent again, after the
	// gateway's Retry-After. Default 5; negative: none. Resending is safe:
	// an event's transaction id is its content's hash, and the gateway
	// answers a repeat with the first receipt.
	Retries int
}

// maxRetryWait caps one wait before a retry.
const maxRetryWait = 10 * time.Second

// Result is the answer for one event: a receipt or the gateway's error.
type Result struct {
	Index int `json:"index"`
	*gateway.Receipt
	Error *gateway.Error `json:"error,omitempty"`
}

// APIError is a whole-request failure answered by the gateway.
type APIError struct {
	Status int
	Err    gateway.Error
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("gateway answered %d %s: %s", e.Status, e.Err.Code, e.Err.Message)
	if e.Err.Field != "" {
		s += " (field " + e.Err.Field + ")"
	}
	return s
}

// Publish sends events (each one JSON object) of one city in a single
// request and returns one result per event, in order. Events refused with
// 429 are sent again (see Options.Retries); what is still refused after
// the last try is returned as it was answered.
func (c *Client) Publish(ctx context.Context, city string, events []json.RawMessage, opt Options) ([]Result, error) {
	if len(events) == 0 {
		return nil, errors.New("client: no events")
	}
	retries := opt.Retries
	if retries == 0 {
		retries = 5
	}
	out := make([]Result, len(events))
	pending := make([]int, len(events)) // indexes of events to send
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; ; attempt++ {
		batch := make([]json.RawMessage, len(pending))
		for j, i := range pending {
			batch[j] = events[i]
		}
		res, wait, err := c.publishOnce(ctx, city, batch, opt)
		var api *APIError
		if errors.As(err, &api) && api.Status == http.StatusTooManyRequests && attempt < retries {
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		var again []int
		for j, r := range res {
			r.Index = pending[j]
			out[pending[j]] = r
			if r.Error != nil && isBackpressure(r.Error.Code) {
				again = append(again, pending[j])
			}
		}
		if len(again) == 0 || attempt >= retries {
			return out, nil
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		pending = again
	}
}

// isBackpressure reports an error code a later retry may not get.
func isBackpressure(code string) bool { return code == "backpressure" || code == "ledger_backlog" }

// sleep waits d (at least 100 ms, at most maxRetryWait) or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(min(max(d, 100*time.Millisecond), maxRetryWait))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publishOnce sends one request and returns its results and how long the
// gateway asked to wait before a retry (Retry-After, if any).
func (c *Client) publishOnce(ctx context.Context, city string, events []json.RawMessage, opt Options) ([]Result, time.Duration, error) {
	var body bytes.Buffer
	for i, e := range events {
		// JSONL: one event per line, so each is compacted.
		if err := json.Compact(&body, e); err != nil {
			return nil, 0, fmt.Errorf("client: event %d is not valid JSON: %w", i, err)
		}
		body.WriteByte('\n')
	}
	q := url.Values{}
	if opt.Native {
		q.Set("format", "native")
	}
	if opt.Wait {
		q.Set("wait", "commit")
	}
	u := c.base + "/v1/cities/" + url.PathEscape(city) + "/events"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, &body)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/jsonl")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	var wait time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		wait = time.Duration(secs) * time.Second
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("client: read answer: %w", err)
	}
	var bulk struct {
		Results []Result       `json:"results"`
		Error   *gateway.Error `json:"error"`
	}
	if err := json.Unmarshal(raw, &bulk); err != nil {
		return nil, 0, fmt.Errorf("client: answer %d is not JSON: %.200s", resp.StatusCode, raw)
	}
	if bulk.Error != nil {
		return nil, wait, &APIError{Status: resp.StatusCode, Err: *bulk.Error}
	}
	if len(bulk.Results) != len(events) {
		return nil, 0, fmt.Errorf("client: %d results for %d events", len(bulk.Results), len(events))
	}
	return bulk.Results, wait, nil
}

// Tx asks where a transaction is (GET /v1/tx/{id}).
func (c *Client) Tx(ctx context.Context, id string) (*gateway.Receipt, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/tx/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		gateway.Receipt
		Error *gateway.Error `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("client: answer %d is not JSON: %w", resp.StatusCode, err)
	}
	if out.Error != nil {
		return nil, &APIError{Status: resp.StatusCode, Err: *out.Error}
	}
	return &out.Receipt, nil
}
