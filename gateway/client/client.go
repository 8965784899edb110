// Package client is the Go client of the gateway's HTTP API, for city
// systems that publish events and wait for receipts. It speaks the
// protocol of gateway/api and links nothing else of baybus: no NATS, no
// ledger.
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
	"strings"
	"time"

	"github.com/baybus/baybus/gateway/api"
)

// DefaultURL is where `baybus up` listens unless told otherwise.
const DefaultURL = "http://127.0.0.1:8480"

// Environment variables the CLI and BaseURL/Token read.
const (
	EnvURL   = "BAYBUS_URL"
	EnvToken = "BAYBUS_TOKEN"
)

// BaseURL returns $BAYBUS_URL, or DefaultURL.
func BaseURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// Token returns the bearer token to use: the first line of file if file is
// not empty, else $BAYBUS_TOKEN, else "" (no credential).
func Token(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv(EnvToken)), nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("client: token file: %w", err)
	}
	tok, _, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("client: token file %s is empty", file)
	}
	return tok, nil
}

// Client talks to a gateway. It is safe for concurrent use.
type Client struct {
	base  string
	hc    *http.Client
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as the bearer credential of every request.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// New returns a client for the gateway at base (e.g. http://127.0.0.1:8480).
// A nil hc uses http.DefaultClient; give one with a TLS configuration
// (root CAs, client certificate) for an https gateway.
func New(base string, hc *http.Client, opts ...Option) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{base: strings.TrimRight(base, "/"), hc: hc}
	for _, o := range opts {
		o(c)
	}
	return c
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
type Result = api.Result

// APIError is a whole-request failure answered by the gateway.
type APIError struct {
	Status int
	Err    api.Error
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
// the last try is returned as it was answered. Events the gateway did not
// process, because too many before them failed, carry its error
// api.CodeTooManyFailures.
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
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests && attempt < retries {
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
func isBackpressure(code string) bool {
	return code == api.CodeBackpressure || code == api.CodeLedgerBacklog
}

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

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if c.token != "" {
		req.Header.Set(api.HeaderAuthorization, "Bearer "+c.token)
	}
	return req, nil
}

// publishOnce sends one request and returns one result per event and how
// long the gateway asked to wait before a retry (Retry-After, if any).
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
		q.Set(api.ParamFormat, api.FormatNative)
	}
	if opt.Wait {
		q.Set(api.ParamWait, api.WaitCommit)
	}
	path := api.EventsPath(city)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := c.newRequest(ctx, http.MethodPost, path, &body)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", api.MediaJSONL)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	wait := time.Duration(api.RetryAfter(resp.Header.Get(api.HeaderRetryAfter))) * time.Second
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("client: read answer: %w", err)
	}
	var bulk struct {
		api.Bulk
		Error *api.Error `json:"error"`
	}
	if err := json.Unmarshal(raw, &bulk); err != nil {
		return nil, 0, fmt.Errorf("client: answer %d is not JSON: %.200s", resp.StatusCode, raw)
	}
	if bulk.Error != nil {
		return nil, wait, &APIError{Status: resp.StatusCode, Err: *bulk.Error}
	}
	res := bulk.Results
	if bulk.Skipped > 0 && bulk.Stopped != nil && len(res)+bulk.Skipped == len(events) {
		for i := len(res); i < len(events); i++ {
			res = append(res, Result{Index: i, Error: bulk.Stopped})
		}
	}
	if len(res) != len(events) {
		return nil, 0, fmt.Errorf("client: %d results for %d events", len(res), len(events))
	}
	return res, wait, nil
}

// Tx asks where a transaction is (GET /v1/tx/{id}).
func (c *Client) Tx(ctx context.Context, id string) (*api.Receipt, error) {
	var out api.Receipt
	if err := c.getJSON(ctx, api.TxPath(id), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Ready asks whether the gateway is ready (GET /readyz). A gateway that
// answers "not ready" is not an error: look at Status and Problems.
func (c *Client) Ready(ctx context.Context) (*api.Readiness, error) {
	req, err := c.newRequest(ctx, http.MethodGet, api.RouteReady, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	var out api.Readiness
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("client: answer %d is not JSON: %w", resp.StatusCode, err)
	}
	return &out, nil
}

// getJSON GETs path into out; an answer with an error body is an
// *APIError.
func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("client: read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			return &APIError{Status: resp.StatusCode, Err: *eb.Error}
		}
		return fmt.Errorf("client: answer %d: %.200s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("client: answer %d is not JSON: %w", resp.StatusCode, err)
	}
	return nil
}
