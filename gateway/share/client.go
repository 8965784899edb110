package share

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
)

// Client speaks the share routes of a gateway: what `baybus share` and
// `baybus audit accesses` use.
type Client struct {
	base  string
	hc    *http.Client
	token string
}

// NewClient returns a client of the gateway at base with a bearer token
// ("" for none); a nil hc is http.DefaultClient.
func NewClient(base string, hc *http.Client, token string) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: base, hc: hc, token: token}
}

// APIError is an error answer of the gateway.
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

func (c *Client) do(ctx context.Context, method, path string, in, out any, accept ...int) (int, error) {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, fmt.Errorf("share: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", api.MediaJSON)
	}
	if c.token != "" {
		req.Header.Set(api.HeaderAuthorization, "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("share: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("share: read answer: %w", err)
	}
	ok := resp.StatusCode == http.StatusOK
	for _, a := range accept {
		ok = ok || resp.StatusCode == a
	}
	if !ok {
		var eb api.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			return resp.StatusCode, &APIError{Status: resp.StatusCode, Err: *eb.Error}
		}
		return resp.StatusCode, &APIError{Status: resp.StatusCode, Err: api.Error{Code: "http", Message: string(bytes.TrimSpace(raw))}}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.StatusCode, fmt.Errorf("share: answer: %w", err)
	}
	return resp.StatusCode, nil
}

// Grant issues a grant of city, and returns once it is sealed.
func (c *Client) Grant(ctx context.Context, city string, g GrantBody) (*GrantReceipt, error) {
	var out GrantReceipt
	_, err := c.do(ctx, http.MethodPost, "/v1/cities/"+url.PathEscape(city)+"/grants", g, &out)
	return &out, err
}

// Revoke revokes city's grant id, and returns once it is sealed.
func (c *Client) Revoke(ctx context.Context, city, id, reason string) (*GrantReceipt, error) {
	var out GrantReceipt
	_, err := c.do(ctx, http.MethodPost, "/v1/cities/"+url.PathEscape(city)+"/grants/"+url.PathEscape(id)+"/revoke", RevokeBody{Reason: reason}, &out)
	return &out, err
}

// GrantList is the answer of RouteListGrants.
type GrantList struct {
	Grants []GrantState `json:"grants"`
	Height uint64       `json:"height"`
}

// Grants lists a city's grants (city) or a reader's (reader), with their
// state now, and with proofs their fresh proofs.
func (c *Client) Grants(ctx context.Context, city, reader string, proofs bool) (*GrantList, error) {
	q := url.Values{}
	if city != "" {
		q.Set("city", city)
	}
	if reader != "" {
		q.Set("reader", reader)
	}
	if proofs {
		q.Set("proofs", "1")
	}
	var out GrantList
	_, err := c.do(ctx, http.MethodGet, RouteListGrants+"?"+q.Encode(), nil, &out)
	return &out, err
}

// Request sends a reader's signed request and returns the answer: granted
// (200) or refused (403 share_refused, with the refusal's proof) alike;
// any other answer is an error.
func (c *Client) Request(ctx context.Context, b *Body) (*Answer, error) {
	var out Answer
	_, err := c.do(ctx, http.MethodPost, RouteRequests, b, &out, http.StatusForbidden)
	if err != nil {
		return nil, err
	}
	if out.V == 0 && out.Error != nil {
		return nil, &APIError{Status: http.StatusForbidden, Err: *out.Error}
	}
	return &out, nil
}

// AccessQuery selects access records (see RouteAccesses).
type AccessQuery struct {
	License, Reader, City string
	From, To              time.Time
	Cursor                string
	Limit                 int
	Proofs                bool
}

// Accesses lists access records.
func (c *Client) Accesses(ctx context.Context, f AccessQuery) (*AccessList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"license": f.License, "reader": f.Reader, "city": f.City, "cursor": f.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.From.IsZero() {
		q.Set("from", f.From.Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	if f.Proofs {
		q.Set("proofs", "1")
	}
	var out AccessList
	_, err := c.do(ctx, http.MethodGet, RouteAccesses+"?"+q.Encode(), nil, &out)
	return &out, err
}

// NewRequest returns a request of reader to city, made now, with a fresh
// nonce from rand.
func NewRequest(chain, reader, city, op string, now time.Time, rand io.Reader) (schemas.ShareRequest, error) {
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return schemas.ShareRequest{}, fmt.Errorf("share: nonce: %w", err)
	}
	return schemas.ShareRequest{Chain: chain, Reader: reader, City: city, Op: op, At: now.UTC().Format(time.RFC3339Nano),
		Nonce: base64.RawURLEncoding.EncodeToString(nonce)}, nil
}

// MatchSubject returns, for a match about identity number number, the
// opening the gateway is given and the subject the request carries (its
// digest), salted from rand.
func MatchSubject(number string, rand io.Reader) (opening, subject string, err error) {
	salt := make([]byte, disclose.SaltBytes)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", "", fmt.Errorf("share: salt: %w", err)
	}
	d, err := disclose.New(salt, "idNumber", number)
	if err != nil {
		return "", "", err
	}
	enc := d.Encode()
	return enc, disclose.Digest(enc), nil
}

// Backup fetches a backup of city's part of the gateway's store (the
// city's publish credential) and writes it to w as it arrives; it returns
// the backup checked (ReadBackup), so a copy cut short is an error.
func (c *Client) Backup(ctx context.Context, city string, w io.Writer) (*Backup, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+strings.Replace(RouteBackup, "{city}", url.PathEscape(city), 1), nil)
	if err != nil {
		return nil, fmt.Errorf("share: %w", err)
	}
	if c.token != "" {
		req.Header.Set(api.HeaderAuthorization, "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("share: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb api.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			return nil, &APIError{Status: resp.StatusCode, Err: *eb.Error}
		}
		return nil, &APIError{Status: resp.StatusCode, Err: api.Error{Code: "http", Message: string(bytes.TrimSpace(raw))}}
	}
	b, err := ReadBackup(io.TeeReader(resp.Body, w))
	if err != nil {
		return nil, err
	}
	return b, nil
}
