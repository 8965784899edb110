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
	"strings"

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
}

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
// request and returns one result per event, in order.
func (c *Client) Publish(ctx context.Context, city string, events []json.RawMessage, opt Options) ([]Result, error) {
	if len(events) == 0 {
		return nil, errors.New("client: no events")
	}
	var body bytes.Buffer
	for i, e := range events {
		// JSONL: one event per line, so each is compacted.
		if err := json.Compact(&body, e); err != nil {
			return nil, fmt.Errorf("client: event %d is not valid JSON: %w", i, err)
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
		return nil, err
	}
	req.Header.Set("Content-Type", "application/jsonl")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("client: read answer: %w", err)
	}
	var bulk struct {
		Results []Result       `json:"results"`
		Error   *gateway.Error `json:"error"`
	}
	if err := json.Unmarshal(raw, &bulk); err != nil {
		return nil, fmt.Errorf("client: answer %d is not JSON: %.200s", resp.StatusCode, raw)
	}
	if bulk.Error != nil {
		return nil, &APIError{Status: resp.StatusCode, Err: *bulk.Error}
	}
	if len(bulk.Results) != len(events) {
		return nil, fmt.Errorf("client: %d results for %d events", len(bulk.Results), len(events))
	}
	return bulk.Results, nil
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
