package explorer_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/gateway/explorer"
	"github.com/baybus/baybus/gateway/server"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// chain is a running system (four orderers, the query service) with a
// standalone gateway server in front of it, as `up` composes them, and
// credentials of every kind.
type chain struct {
	sys *system.System
	srv *server.Server
	url string
	// tokens: "shenzhen" and "hongkong" (publish+read), "sz-publish"
	// (publish only), "cn-bank" (a named reader granted CN.business and
	// CN.certificate), "cn-court" (the same kinds with their personal
	// fields: CN.business.personal, CN.certificate.personal).
	tokens map[string]string
	// issued are the licenses published at start: two of Shenzhen's (the
	// first then suspended) and one of Hong Kong's.
	sz, hk []*api.Receipt
	key    string // the suspended Shenzhen license's key
	reader *keys.ReaderKeys
}

// startChain is startChainRules on a chain of rules version 2, asked for
// by name: its records name persons in plaintext, which the read API
// withholds (issue 14 §4); version 3 is the default.
func startChain(t *testing.T) *chain { t.Helper(); return startChainRules(t, block.Rules2) }

// startChainRules starts a chain of the given rules version (0: the
// library's default, 3); on version 3 the gateway shares personal
// data under grants, and cn-bank's keys are in c.reader.
func startChainRules(t *testing.T, rules int) *chain {
	t.Helper()
	if testing.Short() {
		t.Skip("starts four orderers")
	}
	dir := filepath.Join(t.TempDir(), "data")
	// The consortium first, with a named reader, so the gateway's trust
	// bundle knows it.
	if _, err := consortium.OpenOrCreate(dir, consortium.Spec{Chain: "gba-explorer", Orderers: 4, Rules: rules}); err != nil {
		t.Fatal(err)
	}
	trustPath := filepath.Join(dir, keys.TrustFile)
	trust, err := keys.LoadBundle(trustPath)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	rk, err := keys.NewReaderKeys("cn-bank", pub, []string{"CN.business", "CN.certificate"}, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if trust, err = trust.WithReader(rk, 0); err != nil {
		t.Fatal(err)
	}
	kp2, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub2, _ := kp2.PublicKey()
	court, err := keys.NewReaderKeys("cn-court", pub2, []string{"CN.business.personal", "CN.certificate.personal"}, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if trust, err = trust.WithReader(court, 0); err != nil {
		t.Fatal(err)
	}
	raw, err := trust.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WriteFileAtomic(trustPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "-", NATSListen: "-", Orderers: 4, Chain: "gba-explorer", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Stop)
	c := &chain{sys: sys, tokens: map[string]string{}, reader: rk}
	clients, err := auth.EnsureDevTokens(dir, []string{"shenzhen", "hongkong"}, auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, city := range []string{"shenzhen", "hongkong"} {
		if c.tokens[city], err = client.Token(filepath.Join(clients, city+".token")); err != nil {
			t.Fatal(err)
		}
	}
	store, err := auth.OpenTokens(auth.TokenPath(dir), auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if c.tokens["cn-bank"], _, err = store.IssueReader("cn-bank", time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if c.tokens["cn-court"], _, err = store.IssueReader("cn-court", time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if c.tokens["sz-publish"], _, err = store.Issue("shenzhen", []auth.Role{auth.RolePublish}, time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	cons := sys.Consortium
	c.srv, err = server.Start(ctx, server.Config{Consortium: dir, Listen: "127.0.0.1:0", Node: "explorer-test", Cities: []string{"shenzhen", "hongkong"},
		Gateway: gateway.Config{Bridges: func(j schemas.Jurisdiction) gateway.Bridge { return bridge.For(j) }, Ledger: sys.Ledger},
		Connect: func(city string) (*nats.Conn, error) { return sys.Bus.Connect(bus.IdentityName(bus.RoleCity, city)) },
		Signer:  func(city string) (keys.Signer, error) { return cons.Cities[city], nil },
		Logger:  quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.srv.Shutdown(ctx)
	})
	c.url = c.srv.URL()
	// Two Shenzhen business licenses, the first then suspended (its
	// history has two versions), and a Hong Kong one.
	var ids []string
	for _, body := range []string{"A8KF3Q2X", "A9LP4R7C"} {
		uscc, err := idsMake(body)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, uscc)
	}
	c.sz = c.publish(t, "shenzhen", []json.RawMessage{issueCN("sz-1", ids[0], "深圳市前海测试科技有限公司"), issueCN("sz-2", ids[1], "深圳市南山示例贸易有限公司")}, false)
	c.hk = c.publishSamples(t, "hongkong", 1, 6)
	c.key = "CN/" + ids[0]
	suspend := fmt.Sprintf(`{"eventId":"sz-suspend-1","kind":"business_registration","action":"suspend","occurredAt":"2026-03-02T08:00:00Z","reason":"年报未公示","record":{"id":%q}}`, ids[0])
	c.publish(t, "shenzhen", []json.RawMessage{json.RawMessage(suspend)}, false)
	return c
}

// issueCNWithRep is issueCN with a legal representative: a natural
// person's name and identity number, personal data.
func issueCNWithRep(eventID, uscc, name, repName, repID string) json.RawMessage {
	return json.RawMessage(strings.Replace(string(issueCN(eventID, uscc, name)), `"capital":`,
		`"people":[{"name":{"en":"`+repName+`"},"idKind":"cn-rid","idNumber":"`+repID+`","role":{"zh-Hans":"法定代表人"}}],"capital":`, 1))
}

// idsMake is a Shenzhen (440304) USCC with the organisation code body8.
func idsMake(body8 string) (string, error) { return ids.MakeUSCC("440304", body8) }

// issueCN is a canonical event issuing a mainland business licence.
func issueCN(eventID, uscc, name string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"eventId":%q,"kind":"business_registration","action":"issue","occurredAt":"2026-03-01T08:00:00Z",
"record":{"id":%q,"name":{"zh-Hans":%q},"authority":{"zh-Hans":"深圳市市场监督管理局"},"issuedOn":"2026-03-01","establishedOn":"2019-03-01",
"address":{"zh-Hans":"深圳市前海深港合作区"},"scope":{"zh-Hans":"软件开发"},"capital":{"amount":"1000000.00","currency":"CNY"}}}`, eventID, uscc, name))
}

func (c *chain) publishSamples(t *testing.T, city string, n int, seed int64) []*api.Receipt {
	t.Helper()
	ct, err := schemas.LookupCity(city)
	if err != nil {
		t.Fatal(err)
	}
	natives, err := bridge.Sample(ct, schemas.KindBusiness, n, seed)
	if err != nil {
		t.Fatal(err)
	}
	events := make([]json.RawMessage, len(natives))
	for i, e := range natives {
		events[i] = e
	}
	return c.publish(t, city, events, true)
}

func (c *chain) publish(t *testing.T, city string, events []json.RawMessage, native bool) []*api.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := client.New(c.url, nil, client.WithToken(c.tokens[city])).Publish(ctx, city, events, client.Options{Native: native, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []*api.Receipt
	for _, r := range res {
		if r.Error != nil || r.Receipt == nil || r.Status != api.StatusCommitted {
			t.Fatalf("publish %s: %+v %+v", city, r.Receipt, r.Error)
		}
		out = append(out, r.Receipt)
	}
	return out
}

// get fetches path as who ("" for no credential) and returns the status
// and body.
func (c *chain) get(t *testing.T, who, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+c.tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// getJSON fetches path, checks the status, validates the body against the
// OpenAPI document's schema for the route and decodes it into out.
func (c *chain) getJSON(t *testing.T, who, path string, want int, out any) {
	t.Helper()
	code, body := c.get(t, who, path)
	if code != want {
		t.Fatalf("GET %s as %q: %d, want %d: %s", path, who, code, want, body)
	}
	validate(t, path, code, body)
	if out != nil {
		v := reflect.ValueOf(out).Elem()
		v.Set(reflect.Zero(v.Type())) // nothing of an earlier answer stays
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
}

func TestReadAPI(t *testing.T) {
	c := startChain(t)

	t.Run("blocks", func(t *testing.T) {
		var list api.BlockList
		c.getJSON(t, "hongkong", api.BlocksPath(0, 0), http.StatusOK, &list)
		if list.Height < 3 || len(list.Blocks) == 0 || list.Blocks[len(list.Blocks)-1].Height != list.Height {
			t.Fatalf("newest blocks: %+v", list)
		}
		for _, b := range list.Blocks {
			if len(b.Signers) < c.sys.Consortium.Bundle.Quorum() || b.Proposer == "" || b.Time.IsZero() {
				t.Errorf("block %d: %+v", b.Height, b)
			}
		}
		var page api.BlockList
		c.getJSON(t, "sz-publish", api.BlocksPath(1, 2), http.StatusOK, &page)
		if len(page.Blocks) != 2 || page.Blocks[0].Height != 1 || page.Blocks[1].Prev != page.Blocks[0].Hash || page.Next != 3 {
			t.Fatalf("blocks from 1: %+v", page)
		}
		var past api.BlockList
		c.getJSON(t, "sz-publish", api.BlocksPath(list.Height+100, 5), http.StatusOK, &past)
		if len(past.Blocks) != 0 {
			t.Fatalf("blocks past the head: %+v", past)
		}
	})

	t.Run("block", func(t *testing.T) {
		h := c.sz[0].Height
		var b api.Block
		c.getJSON(t, "shenzhen", api.BlockPath(h), http.StatusOK, &b)
		tx := findTx(t, b.Transactions, c.sz[0].TxID)
		if tx.Redacted || tx.Kind != string(schemas.KindBusiness) || tx.Action != "issue" || !strings.HasPrefix(tx.License, "CN/") || tx.Name == "" || tx.Result != "ok" {
			t.Fatalf("Shenzhen's own transaction as Shenzhen: %+v", tx)
		}
		if b.Results["ok"] == 0 || b.Total < 1 || b.Hash != c.sz[0].BlockHash {
			t.Fatalf("block %d: %+v", h, b)
		}
		// Another city's credential sees where it went, not what it says.
		var bhk api.Block
		c.getJSON(t, "hongkong", api.BlockPath(h), http.StatusOK, &bhk)
		if tx := findTx(t, bhk.Transactions, c.sz[0].TxID); !tx.Redacted || tx.Kind != "" || tx.License != "" || tx.Name != "" || tx.City != "shenzhen" {
			t.Fatalf("Shenzhen's transaction as Hong Kong: %+v", tx)
		}
		// A reader granted CN.business reads it.
		var bcn api.Block
		c.getJSON(t, "cn-bank", api.BlockPath(h), http.StatusOK, &bcn)
		if tx := findTx(t, bcn.Transactions, c.sz[0].TxID); tx.Redacted || tx.License == "" {
			t.Fatalf("Shenzhen's transaction as cn-bank: %+v", tx)
		}
		// Pages of one transaction.
		var p0 api.Block
		c.getJSON(t, "shenzhen", api.BlockPath(h)+"?limit=1", http.StatusOK, &p0)
		if len(p0.Transactions) != 1 || (b.Total > 1 && p0.NextTx != 1) {
			t.Fatalf("a page of one: %+v", p0)
		}
	})

	t.Run("tx content", func(t *testing.T) {
		var a api.TxAnswer
		c.getJSON(t, "shenzhen", api.TxPath(c.sz[1].TxID)+"?render=hk", http.StatusOK, &a)
		if a.Status != api.StatusCommitted || a.Content == nil || a.Content.Height != c.sz[1].Height || a.Content.City != "shenzhen" {
			t.Fatalf("tx: %+v %+v", a.Receipt, a.Content)
		}
		var tx schemas.Tx
		if err := json.Unmarshal(a.Content.Tx, &tx); err != nil || tx.City != "shenzhen" || tx.Kind != schemas.KindBusiness {
			t.Fatalf("content: %v %s", err, a.Content.Tx)
		}
		var r bridge.Rendering
		if err := json.Unmarshal(a.Content.Rendering, &r); err != nil || r.Jurisdiction != schemas.HK || len(r.Fields) == 0 {
			t.Fatalf("rendering as HK: %v %s", err, a.Content.Rendering)
		}
		// Hong Kong's credential learns where, not what.
		var ahk api.TxAnswer
		c.getJSON(t, "hongkong", api.TxPath(c.sz[1].TxID), http.StatusOK, &ahk)
		if ahk.Content == nil || ahk.Content.Tx != nil || ahk.Content.Withheld == "" || ahk.Content.Height != c.sz[1].Height {
			t.Fatalf("tx as Hong Kong: %+v", ahk.Content)
		}
		if code, body := c.get(t, "shenzhen", api.TxPath(c.sz[1].TxID)+"?render=xx"); code != http.StatusBadRequest || !bytes.Contains(body, []byte(`"field":"render"`)) {
			t.Fatalf("render=xx: %d %s", code, body)
		}
	})

	t.Run("licenses", func(t *testing.T) {
		var l api.LicenseList
		c.getJSON(t, "shenzhen", api.RouteLicenses, http.StatusOK, &l)
		if len(l.Licenses) != 2 {
			t.Fatalf("Shenzhen's licenses: %+v", l)
		}
		for _, e := range l.Licenses {
			if e.City != "shenzhen" || !strings.HasPrefix(e.Key, "CN/") {
				t.Errorf("entry %+v", e)
			}
		}
		c.getJSON(t, "shenzhen", api.RouteLicenses+"?status=suspended", http.StatusOK, &l)
		if len(l.Licenses) != 1 || l.Licenses[0].Key != c.key || l.Licenses[0].Status != "suspended" {
			t.Fatalf("suspended: %+v", l)
		}
		// One per page, with a cursor.
		c.getJSON(t, "shenzhen", api.RouteLicenses+"?limit=1", http.StatusOK, &l)
		if len(l.Licenses) != 1 || l.Next == "" {
			t.Fatalf("page of one: %+v", l)
		}
		var l2 api.LicenseList
		c.getJSON(t, "shenzhen", api.RouteLicenses+"?limit=1&cursor="+l.Next, http.StatusOK, &l2)
		if len(l2.Licenses) != 1 || l2.Licenses[0].Key <= l.Licenses[0].Key {
			t.Fatalf("next page: %+v after %+v", l2, l)
		}
		// A named reader sees what its grants cover, all cities.
		c.getJSON(t, "cn-bank", api.RouteLicenses, http.StatusOK, &l)
		if len(l.Licenses) != 2 {
			t.Fatalf("cn-bank: %+v", l)
		}
		c.getJSON(t, "cn-bank", api.RouteLicenses+"?jurisdiction=HK", http.StatusOK, &l)
		if len(l.Licenses) != 0 {
			t.Fatalf("cn-bank reads HK: %+v", l)
		}
		// By holder: a company holds its business registration.
		_, id, _ := strings.Cut(c.key, "/")
		c.getJSON(t, "shenzhen", api.RouteLicenses+"?holder="+id, http.StatusOK, &l)
		if len(l.Licenses) != 1 || l.Licenses[0].Key != c.key || l.Licenses[0].Holder != id {
			t.Fatalf("holder %s: %+v", id, l)
		}
		c.getJSON(t, "hongkong", api.RouteLicenses+"?city=shenzhen", http.StatusForbidden, nil)
		c.getJSON(t, "sz-publish", api.RouteLicenses, http.StatusForbidden, nil)
		c.getJSON(t, "shenzhen", api.RouteLicenses+"?status=lost", http.StatusBadRequest, nil)
		c.getJSON(t, "shenzhen", api.RouteLicenses+"?limit=1001", http.StatusBadRequest, nil)
	})

	t.Run("history", func(t *testing.T) {
		jur, id, _ := strings.Cut(c.key, "/")
		var h api.LicenseHistory
		c.getJSON(t, "shenzhen", api.HistoryPath(jur, id), http.StatusOK, &h)
		if h.Key != c.key || h.Status != "suspended" || h.City != "shenzhen" || len(h.Versions) != 2 {
			t.Fatalf("history: %+v", h)
		}
		if v := h.Versions; v[0].Action != "suspend" || v[0].Status != "suspended" || v[1].Action != "issue" || v[1].Tx != c.sz[0].TxID ||
			v[0].RecordTx != c.sz[0].TxID || v[0].Height <= v[1].Height {
			t.Fatalf("versions: %+v", v)
		}
		// Pages of one, older with before.
		c.getJSON(t, "shenzhen", api.HistoryPath(jur, id)+"?limit=1", http.StatusOK, &h)
		if len(h.Versions) != 1 || h.Next == 0 {
			t.Fatalf("history page: %+v", h)
		}
		c.getJSON(t, "shenzhen", api.HistoryPath(jur, id)+fmt.Sprintf("?limit=1&before=%d", h.Next), http.StatusOK, &h)
		if len(h.Versions) != 1 || h.Versions[0].Action != "issue" || h.Status != "suspended" {
			t.Fatalf("older page: %+v", h)
		}
		c.getJSON(t, "hongkong", api.HistoryPath(jur, id), http.StatusForbidden, nil)
		c.getJSON(t, "cn-bank", api.HistoryPath(jur, id), http.StatusOK, nil)
		c.getJSON(t, "shenzhen", api.HistoryPath("CN", "91440300NOSUCHONE0"), http.StatusNotFound, nil)
		c.getJSON(t, "shenzhen", api.HistoryPath("XX", id), http.StatusBadRequest, nil)
	})

	// Issue 14 §4 on a chain of rules version 2 (this one): a record
	// holds its persons in plaintext, and only its city and a reader with
	// a personal grant may see them. A reader granted CN.business, as the
	// wrong party, gets the transaction with them as digests that open to
	// nothing, no proof of it, and no search by holder; cn-court, granted
	// CN.business.personal, gets it whole, proof included.
	t.Run("personal fields withheld", func(t *testing.T) {
		uscc, err := idsMake("A7QW2E5R")
		if err != nil {
			t.Fatal(err)
		}
		const repName, repID = "LIN Xiaoqing 林晓晴", "440307199112115050"
		rc := c.publish(t, "shenzhen", []json.RawMessage{issueCNWithRep("sz-people", uscc, "深圳市福田人员测试有限公司", repName, repID)}, false)[0]
		leaks := func(body []byte) bool {
			return bytes.Contains(body, []byte(repID)) || bytes.Contains(body, []byte("LIN Xiaoqing")) || bytes.Contains(body, []byte("林晓晴"))
		}
		var own api.TxAnswer
		c.getJSON(t, "shenzhen", api.TxPath(rc.TxID), http.StatusOK, &own)
		if own.Content == nil || !bytes.Contains(own.Content.Tx, []byte(repID)) || len(own.Content.PersonalWithheld) != 0 {
			t.Fatalf("Shenzhen's own record as Shenzhen: %+v", own.Content)
		}
		code, body := c.get(t, "cn-bank", api.TxPath(rc.TxID)+"?render=hk")
		if code != http.StatusOK || leaks(body) {
			t.Fatalf("the record as cn-bank: %d %s", code, body)
		}
		validate(t, api.TxPath(rc.TxID), code, body)
		var a api.TxAnswer
		if err := json.Unmarshal(body, &a); err != nil || a.Content == nil || a.Content.Tx == nil || a.Content.Rendering == nil ||
			!slices.Equal(a.Content.PersonalWithheld, []string{"record.people.0.name", "record.people.0.idNumber"}) {
			t.Fatalf("the record as cn-bank: %v %s", err, body)
		}
		var tx schemas.Tx
		if err := json.Unmarshal(a.Content.Tx, &tx); err != nil || len(tx.Record.People) != 1 || len(tx.Record.People[0].SD) != 2 || tx.Record.Name == nil {
			t.Fatalf("the record as cn-bank: public fields kept, personal ones as digests: %v %s", err, a.Content.Tx)
		}
		if code, body := c.get(t, "cn-bank", api.BlockPath(rc.Height)); code != http.StatusOK || leaks(body) {
			t.Fatalf("block %d as cn-bank: %d %s", rc.Height, code, body)
		}
		jur, id, _ := strings.Cut(schemas.LicenseKey(schemas.CN, uscc), "/")
		if code, body := c.get(t, "cn-bank", api.ProofPath(jur, id)); code != http.StatusForbidden || leaks(body) ||
			!bytes.Contains(body, []byte("personal fields in plaintext")) {
			t.Fatalf("proof as cn-bank: %d %s", code, body)
		}
		if code, body := c.get(t, "shenzhen", api.ProofPath(jur, id)); code != http.StatusOK || !bytes.Contains(body, []byte("tx")) {
			t.Fatalf("proof as Shenzhen: %d %s", code, body)
		}
		var whole api.TxAnswer
		c.getJSON(t, "cn-court", api.TxPath(rc.TxID), http.StatusOK, &whole)
		if whole.Content == nil || !bytes.Contains(whole.Content.Tx, []byte(repID)) || len(whole.Content.PersonalWithheld) != 0 {
			t.Fatalf("the record as cn-court: %+v", whole.Content)
		}
		if code, body := c.get(t, "cn-court", api.ProofPath(jur, id)); code != http.StatusOK || !leaks(body) {
			t.Fatalf("proof as cn-court: %d %s", code, body)
		}
		// A certificate: its holder's number and name stay out of the
		// license list for cn-bank, not for Shenzhen.
		sz, _ := schemas.LookupCity("shenzhen")
		natives, err := bridge.Sample(sz, schemas.KindCertificate, 1, 9)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := bridge.ToTx("gba-explorer", sz, natives[0])
		if err != nil {
			t.Fatal(err)
		}
		c.publish(t, "shenzhen", []json.RawMessage{natives[0]}, true)
		holder := cert.Record.Holder.IDNumber
		entry := func(who string) (api.License, []byte) {
			t.Helper()
			code, body := c.get(t, who, api.RouteLicenses+"?jurisdiction=CN&limit=200")
			if code != http.StatusOK {
				t.Fatalf("licenses as %s: %d %s", who, code, body)
			}
			validate(t, api.RouteLicenses, code, body)
			var l api.LicenseList
			if err := json.Unmarshal(body, &l); err != nil {
				t.Fatal(err)
			}
			for _, e := range l.Licenses {
				if e.Key == cert.LicenseKey() {
					return e, body
				}
			}
			t.Fatalf("licenses as %s: no %s in %s", who, cert.LicenseKey(), body)
			return api.License{}, nil
		}
		if e, _ := entry("shenzhen"); e.Holder != holder || e.Withheld {
			t.Fatalf("Shenzhen's certificate as Shenzhen: %+v, want holder %s", e, holder)
		}
		if e, body := entry("cn-bank"); e.Holder != "" || e.Name != "" || !e.Withheld || bytes.Contains(body, []byte(holder)) {
			t.Fatalf("Shenzhen's certificate as cn-bank: %+v", e)
		}
		if e, _ := entry("cn-court"); e.Holder != holder || e.Withheld {
			t.Fatalf("Shenzhen's certificate as cn-court: %+v, want holder %s", e, holder)
		}
		c.getJSON(t, "cn-bank", api.RouteLicenses+"?holder="+repID, http.StatusForbidden, nil)
		c.getJSON(t, "hongkong", api.RouteLicenses+"?city=shenzhen&holder="+repID, http.StatusForbidden, nil)
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			who, path string
			code      int
			field     string
		}{
			{"", api.BlocksPath(0, 0), http.StatusUnauthorized, ""},
			{"", api.RouteBlockEvents, http.StatusUnauthorized, ""},
			{"shenzhen", api.BlocksPath(0, 0) + "?limit=0", http.StatusBadRequest, "limit"},
			{"shenzhen", api.BlocksPath(0, 0) + "?limit=257", http.StatusBadRequest, "limit"},
			{"shenzhen", api.BlocksPath(0, 0) + "?from=x", http.StatusBadRequest, "from"},
			{"shenzhen", "/v1/blocks/0", http.StatusBadRequest, "height"},
			{"shenzhen", "/v1/blocks/abc", http.StatusBadRequest, "height"},
			{"shenzhen", api.BlockPath(1 << 40), http.StatusNotFound, ""},
			{"shenzhen", api.RouteLicenses + "?city=atlantis", http.StatusBadRequest, "city"},
			{"shenzhen", api.RouteLicenses + "?kind=spell", http.StatusBadRequest, "kind"},
			{"shenzhen", api.RouteLicenses + "?holder=" + strings.Repeat("x", 600), http.StatusBadRequest, "holder"},
		} {
			code, body := c.get(t, tc.who, tc.path)
			if code != tc.code {
				t.Errorf("GET %s as %q: %d, want %d: %s", tc.path, tc.who, code, tc.code, body)
				continue
			}
			validate(t, tc.path, code, body)
			var eb api.ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error == nil || eb.Error.Field != tc.field {
				t.Errorf("GET %s: %s, want field %q", tc.path, body, tc.field)
			}
		}
	})

	t.Run("events", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+api.RouteBlockEvents+"?from=1", nil)
		req.Header.Set("Authorization", "Bearer "+c.tokens["hongkong"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != api.MediaEventStream {
			t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		events := readEvents(resp.Body)
		// The chain so far, from height 1, in order.
		var list api.BlockList
		c.getJSON(t, "hongkong", api.BlocksPath(0, 1), http.StatusOK, &list)
		for h := uint64(1); h <= list.Height; h++ {
			ev := next(t, ctx, events)
			if ev.id != fmt.Sprint(h) || ev.block.Height != h {
				t.Fatalf("catch-up: event %+v, want height %d", ev, h)
			}
		}
		// A new block arrives live.
		r := c.publishSamples(t, "hongkong", 1, 77)
		for {
			ev := next(t, ctx, events)
			if ev.block.Height == r[0].Height {
				if ev.block.Hash != r[0].BlockHash {
					t.Fatalf("live block %+v, receipt %+v", ev.block, r[0])
				}
				break
			}
			if ev.block.Height > r[0].Height {
				t.Fatalf("skipped height %d: got %d", r[0].Height, ev.block.Height)
			}
		}
		// Resuming with Last-Event-ID sends what follows it.
		req2, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+api.RouteBlockEvents, nil)
		req2.Header.Set("Authorization", "Bearer "+c.tokens["hongkong"])
		req2.Header.Set("Last-Event-ID", fmt.Sprint(r[0].Height-1))
		resp2, err := http.DefaultClient.Do(req2)
		if err != nil {
			t.Fatal(err)
		}
		defer resp2.Body.Close()
		if ev := next(t, ctx, readEvents(resp2.Body)); ev.block.Height != r[0].Height {
			t.Fatalf("resumed at %d: %+v", r[0].Height-1, ev)
		}
	})

	t.Run("accepted and sealed", func(t *testing.T) {
		// Suspending a license never issued is accepted by the bus, then
		// sealed without effect: the gateway's counters tell the two apart.
		res, err := client.New(c.url, nil, client.WithToken(c.tokens["shenzhen"])).Publish(context.Background(), "shenzhen",
			[]json.RawMessage{json.RawMessage(`{"eventId":"sz-ghost","kind":"business_registration","action":"suspend","occurredAt":"2026-03-03T08:00:00Z","reason":"检查","record":{"id":"` + mustUSCC(t, "GH05T123") + `"}}`)},
			client.Options{Wait: true})
		if err != nil || len(res) != 1 || res[0].Error == nil || res[0].Error.Code != api.CodeLedgerRejected {
			t.Fatalf("suspending a license never issued: %+v %v", res, err)
		}
		want := map[string]float64{"ok": 3, "rejected": 1} // two issues and a suspension took effect
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := counters(t, c.srv.Registry(), "baybus_gateway_sealed_total", "city", "shenzhen", "result")
			accepted := counters(t, c.srv.Registry(), "baybus_gateway_events_total", "city", "shenzhen", "outcome")["accepted"]
			if got["ok"] >= want["ok"] && got["rejected"] >= want["rejected"] && accepted >= got["ok"]+got["rejected"] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sealed %v (want at least %v), accepted %v", got, want, accepted)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("grafana dashboard", func(t *testing.T) {
		checkDashboard(t, c)
	})

	t.Run("openapi matches the routes", func(t *testing.T) {
		var doc struct {
			OpenAPI string                               `json:"openapi"`
			Paths   map[string]map[string]map[string]any `json:"paths"`
		}
		code, body := c.get(t, "", api.RouteOpenAPI)
		if code != http.StatusOK || !bytes.Equal(body, explorer.OpenAPI()) {
			t.Fatalf("GET /openapi.json: %d", code)
		}
		if err := json.Unmarshal(body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
			t.Fatalf("openapi %q: %v", doc.OpenAPI, err)
		}
		var documented []string
		for p, ops := range doc.Paths {
			for method, op := range ops {
				documented = append(documented, strings.ToUpper(method)+" "+p)
				// Every path parameter is declared, and only those.
				want := pathParams(p)
				var got []string
				params, _ := op["parameters"].([]any)
				for _, prm := range params {
					m := prm.(map[string]any)
					if m["in"] == "path" {
						got = append(got, m["name"].(string))
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s %s declares path parameters %v, the path has %v", method, p, got, want)
				}
				if _, ok := op["responses"].(map[string]any); !ok {
					t.Errorf("%s %s has no responses", method, p)
				}
			}
		}
		var served []string
		for _, r := range c.srv.Routes() {
			served = append(served, openapiPath(r))
		}
		slices.Sort(documented)
		slices.Sort(served)
		if !slices.Equal(documented, served) {
			t.Fatalf("the OpenAPI document describes\n  %v\nthe gateway serves\n  %v", documented, served)
		}
	})

	t.Run("page", func(t *testing.T) {
		code, body := c.get(t, "", "/")
		if code != http.StatusOK || !bytes.Contains(body, []byte("<title>baybus explorer")) {
			t.Fatalf("GET /: %d %.200s", code, body)
		}
		for _, f := range []string{"app.js", "app.css", "wasm_exec.js"} {
			if code, _ := c.get(t, "", "/explorer/"+f); code != http.StatusOK {
				t.Errorf("GET /explorer/%s: %d", f, code)
			}
		}
		// Nothing but the page's files; no API path falls to the page.
		for _, p := range []string{"/explorer/verify.wasm.gz", "/explorer/index.html", "/v1/nothing", "/index.html"} {
			if code, _ := c.get(t, "shenzhen", p); code != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", p, code)
			}
		}
	})
}

func findTx(t *testing.T, txs []api.BlockTx, id string) api.BlockTx {
	t.Helper()
	for _, tx := range txs {
		if tx.ID == id {
			return tx
		}
	}
	t.Fatalf("transaction %s not in %+v", id, txs)
	return api.BlockTx{}
}

type event struct {
	id    string
	block api.BlockSummary
	err   error
}

// readEvents parses a server-sent event stream of blocks.
func readEvents(r io.Reader) <-chan event {
	ch := make(chan event, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		var ev event
		var data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != "" {
					ev.err = json.Unmarshal([]byte(data), &ev.block)
					ch <- ev
				}
				ev, data = event{}, ""
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

func next(t *testing.T, ctx context.Context, ch <-chan event) event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the event stream ended")
		}
		if ev.err != nil {
			t.Fatal(ev.err)
		}
		return ev
	case <-ctx.Done():
		t.Fatal("no event in time")
	}
	return event{}
}

var paramRe = regexp.MustCompile(`\{([A-Za-z]+)(\.\.\.)?\}`)

// openapiPath turns a net/http pattern into an OpenAPI operation:
// "GET /explorer/{file...}" is "GET /explorer/{file}", "GET /{$}" is "GET /".
func openapiPath(pattern string) string {
	pattern = strings.ReplaceAll(pattern, "{$}", "")
	return paramRe.ReplaceAllString(pattern, "{$1}")
}

func pathParams(p string) []string {
	var out []string
	for _, m := range paramRe.FindAllStringSubmatch(p, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return out
}

// routeSchemas maps a read path to the schema of its 200 answer.
var routeSchemas = []struct {
	re     *regexp.Regexp
	schema string
}{
	{regexp.MustCompile(`^/v1/blocks(\?|$)`), "BlockList"},
	{regexp.MustCompile(`^/v1/blocks/[0-9]+(\?|$)`), "Block"},
	{regexp.MustCompile(`^/v1/tx/`), "TxAnswer"},
	{regexp.MustCompile(`^/v1/licenses(\?|$)`), "LicenseList"},
	{regexp.MustCompile(`^/v1/licenses/[^/]+/[^/]+/history`), "LicenseHistory"},
}

// validate checks an answer against the OpenAPI document: a 200 against
// its route's schema, anything else against ErrorBody.
func validate(t *testing.T, path string, code int, body []byte) {
	t.Helper()
	name := "ErrorBody"
	if code == http.StatusOK {
		name = ""
		for _, rs := range routeSchemas {
			if rs.re.MatchString(path) {
				name = rs.schema
			}
		}
		if name == "" {
			t.Fatalf("no schema for %s", path)
		}
	}
	sch := schema(t, name)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("GET %s: the answer breaks the OpenAPI document's %s: %v\n%s", path, name, err, body)
	}
}

func schema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	const base = "https://baybus.gba/openapi.json"
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(explorer.OpenAPI()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(base, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(base + "#/components/schemas/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}
