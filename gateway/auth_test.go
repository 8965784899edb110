package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
)

// TestEveryRequestIsAuthenticated: issue 14 §3. No token, a bad one, an
// expired one and a revoked one are 401; another city's token and one
// without the route's role are 403; nothing is stored for any of them.
// The probes stay open.
func TestEveryRequestIsAuthenticated(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	store, err := auth.OpenTokens(filepath.Join(t.TempDir(), "tokens.json"), auth.TokenConfig{Now: clk.Now, ReloadEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(city string, ttl time.Duration, roles ...auth.Role) string {
		tok, _, err := store.Issue(city, roles, ttl, "")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	szPublish := issue("shenzhen", time.Hour, auth.RolePublish)
	szRead := issue("shenzhen", time.Hour, auth.RoleRead)
	gzPublish := issue("guangzhou", time.Hour, auth.RolePublish)
	expired := issue("shenzhen", time.Minute, auth.RolePublish)
	revoked := issue("shenzhen", time.Hour, auth.RolePublish)
	p, err := store.Check(revoked)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Revoke(p.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)

	e := newEnv(t, gateway.Config{Auth: auth.Chain{Tokens: store}})
	do := func(method, path, token string, body []byte) (int, http.Header, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, e.http.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", api.MediaJSON)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, resp.Header, out
	}
	events := "/v1/cities/shenzhen/events"
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		code, mention             string
	}{
		{"no token", "POST", events, "", 401, api.CodeUnauthenticated, "no credential"},
		{"garbage token", "POST", events, "bbt_nope", 401, api.CodeUnauthenticated, "unknown token"},
		{"expired", "POST", events, expired, 401, api.CodeUnauthenticated, "expired"},
		{"revoked", "POST", events, revoked, 401, api.CodeUnauthenticated, "revoked"},
		{"another city's", "POST", events, gzPublish, 403, api.CodeForbidden, "city guangzhou's, not city shenzhen's"},
		{"wrong role", "POST", events, szRead, 403, api.CodeForbidden, "lacks the publish role"},
		{"proof without read role", "GET", "/v1/licenses/CN/91440304MAWTK5709N/proof", szPublish, 403, api.CodeForbidden, "lacks the read role"},
		{"proof without token", "GET", "/v1/licenses/CN/91440304MAWTK5709N/proof", "", 401, api.CodeUnauthenticated, ""},
		{"tx without token", "GET", "/v1/tx/" + strings.Repeat("0", 64), "", 401, api.CodeUnauthenticated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := do(tc.method, tc.path, tc.token, mustJSON(event("AUTH1")))
			er, _ := body["error"].(map[string]any)
			if code != tc.status || er == nil || er["code"] != tc.code || !strings.Contains(er["message"].(string), tc.mention) {
				t.Fatalf("%d %v, want %d %s mentioning %q", code, body, tc.status, tc.code, tc.mention)
			}
			if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without WWW-Authenticate: %v", hdr)
			}
		})
	}
	if n := storedTxs(t, e); n != 0 {
		t.Fatalf("%d transactions stored from refused requests", n)
	}
	if code, _, body := do("POST", events, szPublish, mustJSON(event("AUTH2"))); code != http.StatusAccepted {
		t.Fatalf("the city's publish token: %d %v", code, body)
	}
	if code, _, _ := do("GET", "/v1/tx/"+strings.Repeat("0", 64), szRead, nil); code != http.StatusNotFound {
		t.Fatalf("tx lookup with a read token: %d, want 404 (authenticated, not found)", code)
	}
	if code, _, body := do("GET", "/v1/licenses/CN/91440304MAWTK5709N/proof", szRead, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("proof with a read token and no ledger: %d %v, want 503", code, body)
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		if code, _, _ := do("GET", probe, "", nil); code != http.StatusOK {
			t.Fatalf("%s without a token: %d", probe, code)
		}
	}
}
