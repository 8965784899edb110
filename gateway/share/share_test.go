package share_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/disclose"
	"github.com/baybus/baybus/schemas/keys"
)

// syncBuffer collects the system's logs, to look for personal data in
// them.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

type reader struct {
	sign  *keys.PrivateKey
	hpke  *keys.HPKEPrivateKey
	token string
	c     *share.Client
}

// harness is a whole system of rules version 3 (`up`'s composition: the
// embedded bus, four orderers, the gateway server with its share routes),
// with two readers, hk-bank and mo-bank.
type harness struct {
	t       *testing.T
	dir     string
	sys     *system.System
	base    string
	trust   *keys.Bundle
	logs    *syncBuffer
	readers map[string]*reader
	cities  map[string]*share.Client
	tokens  map[string]string
	served  [][]byte // every proof and answer body the test was served
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	if _, err := consortium.Create(dir, consortium.Spec{Chain: "gba-test", Orderers: 4, Rules: keys.MaxRules}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hk-bank", "mo-bank"} {
		if _, err := consortium.AddReader(dir, consortium.ReaderSpec{Name: name, Grants: []string{"CN.*"}}); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSListen: "-", Orderers: 4, Chain: "gba-test",
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Stop)
	h := &harness{t: t, dir: dir, sys: sys, base: "http://" + sys.HTTPAddr, trust: sys.Consortium.Bundle, logs: logs,
		readers: map[string]*reader{}, cities: map[string]*share.Client{}, tokens: map[string]string{}}
	tokens, err := auth.OpenTokens(auth.TokenPath(dir), auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hk-bank", "mo-bank"} {
		r := &reader{}
		if r.sign, err = keys.ReadFile(keys.ReaderKeyPath(dir, name)); err != nil {
			t.Fatal(err)
		}
		if r.hpke, err = keys.ReadHPKEFile(keys.ReaderHPKEPath(dir, name)); err != nil {
			t.Fatal(err)
		}
		if r.token, _, err = tokens.IssueReader(name, time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
		r.c = share.NewClient(h.base, nil, r.token)
		h.readers[name] = r
	}
	for _, city := range []string{"shenzhen", "guangzhou"} {
		tok, err := sys.Token(city)
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[city] = tok
		h.cities[city] = share.NewClient(h.base, nil, tok)
	}
	return h
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

// publish posts canonical events of city and waits until they are sealed.
func (h *harness) publish(city string, events ...[]byte) {
	h.t.Helper()
	var raws []json.RawMessage
	for _, e := range events {
		raws = append(raws, e)
	}
	res, err := client.New(h.base, nil, client.WithToken(h.tokens[city])).Publish(h.ctx(), city, raws, client.Options{Wait: true})
	if err != nil {
		h.t.Fatal(err)
	}
	for i, r := range res {
		if r.Error != nil || r.Receipt == nil || r.Receipt.Status != api.StatusCommitted {
			h.t.Fatalf("event %d of %s: %+v %+v", i, city, r.Receipt, r.Error)
		}
	}
}

// request signs and sends a request of reader.
func (h *harness) request(name string, rq schemas.ShareRequest, opening string) (*share.Answer, error) {
	h.t.Helper()
	r := h.readers[name]
	b, err := share.Sign(rq, r.sign)
	if err != nil {
		h.t.Fatal(err)
	}
	b.Opening = opening
	a, err := r.c.Request(h.ctx(), b)
	if a != nil {
		raw, _ := json.Marshal(a)
		h.served = append(h.served, raw)
	}
	return a, err
}

func (h *harness) disclose(reader, license string, kind schemas.Kind, fields []string, purpose string) schemas.ShareRequest {
	h.t.Helper()
	rq, err := share.NewRequest(h.trust.Chain, reader, "shenzhen", schemas.OpDisclose, time.Now(), rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	rq.License, rq.Kind, rq.Fields, rq.Purpose = license, kind, fields, purpose
	return rq
}

// secret is a personal value made for the test, unique in every byte
// store it could leak to.
func secret(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + strings.ToUpper(hex.EncodeToString(b))
}

// TestSharingDoneWhen is issue 15's "done when": a Hong Kong bank holding a
// grant from Shenzhen reads the legal representative's name of a Shenzhen
// company and can prove what it read; Shenzhen sees the read in its
// audit; nobody without the grant can read it, on the bus, on the ledger
// or through the API. With it, the refusals of the issue's tests, each
// recorded, the match, and the audit from both sides.
func TestSharingDoneWhen(t *testing.T) {
	h := newHarness(t)
	sz, _ := schemas.LookupCity("shenzhen")

	// A Shenzhen company whose legal representative's name is personal,
	// and a certificate whose holder's name and number are.
	repName := secret("WANG Xiuying ")
	bizRaw, err := bridge.Sample(sz, schemas.KindBusiness, 1, 41)
	if err != nil {
		t.Fatal(err)
	}
	bizTx, err := bridge.ToTx(h.trust.Chain, sz, bizRaw[0])
	if err != nil {
		t.Fatal(err)
	}
	biz := bizTx.Event()
	biz.Record.People = []schemas.Party{{Name: schemas.Text{schemas.LangEN: repName}, Role: schemas.Text{schemas.LangHans: "法定代表人"}}}
	certRaw, err := bridge.Sample(sz, schemas.KindCertificate, 1, 42)
	if err != nil {
		t.Fatal(err)
	}
	certTx, err := bridge.ToTx(h.trust.Chain, sz, certRaw[0])
	if err != nil {
		t.Fatal(err)
	}
	cert := certTx.Event()
	holderName := secret("YANG Yan ")
	cert.Record.Holder.Name = schemas.Text{schemas.LangEN: holderName}
	holderID := cert.Record.Holder.IDNumber
	secrets := []string{repName, holderName, holderID}
	bizJSON, _ := json.Marshal(biz)
	certJSON, _ := json.Marshal(cert)
	h.publish("shenzhen", bizJSON, certJSON)
	license := schemas.LicenseKey(schemas.CN, biz.Record.ID)
	certKey := schemas.LicenseKey(schemas.CN, cert.Record.ID)

	// The license's proof, as anyone with a read credential gets it: the
	// legal representative only as a digest.
	for _, key := range []string{license, certKey} {
		jur, id, _ := schemas.SplitLicenseKey(key)
		req, _ := http.NewRequest(http.MethodGet, h.base+api.ProofPath(string(jur), id), nil)
		req.Header.Set(api.HeaderAuthorization, "Bearer "+h.tokens["shenzhen"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"_sd"`)) {
			t.Fatalf("proof of %s: %d %s", key, resp.StatusCode, body)
		}
		h.served = append(h.served, body)
	}

	// Shenzhen grants the Hong Kong bank the legal representative's name
	// of its business registrations, and matching on certificates, three
	// requests, for KYC.
	today := time.Now().In(schemas.GBATime).Format(schemas.DateLayout)
	nextYear := time.Now().In(schemas.GBATime).AddDate(1, 0, 0).Format(schemas.DateLayout)
	g, err := h.cities["shenzhen"].Grant(h.ctx(), "shenzhen", share.GrantBody{ID: "g-kyc", Reader: "hk-bank",
		Kinds: []string{"business", "certificate"}, Fields: []string{"people.name"}, Match: true, Purpose: "kyc", Limit: 3, From: today, To: nextYear})
	if err != nil {
		t.Fatal(err)
	}
	if g.Receipt == nil || g.Receipt.Status != api.StatusCommitted || g.Key != "grant/shenzhen/g-kyc" {
		t.Fatalf("grant receipt %+v", g)
	}
	// Guangzhou cannot grant Shenzhen's data, nor revoke its grant.
	if _, err := h.cities["guangzhou"].Grant(h.ctx(), "shenzhen", share.GrantBody{Reader: "hk-bank", Kinds: []string{"business"},
		Fields: []string{"people.name"}, Purpose: "kyc", From: today, To: nextYear}); !isCode(err, api.CodeForbidden) {
		t.Fatalf("guangzhou granting shenzhen's data: %v", err)
	}

	// The Hong Kong bank reads the name: sealed to its key.
	a, err := h.request("hk-bank", h.disclose("hk-bank", license, schemas.KindBusiness, []string{"people.name"}, "kyc"), "")
	if err != nil {
		t.Fatal(err)
	}
	if a.Outcome != schemas.OutcomeGranted || a.Sealed == nil {
		t.Fatalf("answer %+v", a)
	}
	opened, reading, err := share.Open(h.trust, h.readers["hk-bank"].hpke, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := reading.Record.Record.People[0].Name[schemas.LangEN]; got != repName {
		t.Fatalf("read %q, want %q", got, repName)
	}
	if reading.Reader != "hk-bank" || reading.License != license || reading.Access.Tx.Access.Grant != "g-kyc" {
		t.Fatalf("reading %+v", reading)
	}
	// Rendered in its own jurisdiction.
	rendering, err := bridge.For(schemas.HK).Render(reading.Record)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(renderText(rendering), repName) {
		t.Fatalf("the HK rendering lacks the name read: %+v", rendering)
	}
	// It can prove what it read to anyone with the trust bundle, without
	// its key; a changed name does not pass.
	if _, err := share.Check(h.trust, opened); err != nil {
		t.Fatalf("the opened answer does not check: %v", err)
	}
	if _, err := share.Check(h.trust, &share.Opened{V: 1, Access: opened.Access, License: opened.License, Items: forgeItems(t, opened.Items)}); !errors.Is(err, share.ErrAnswer) {
		t.Fatalf("a changed name checked: %v", err)
	}
	// Another reader's key does not open it.
	if _, _, err := share.Open(h.trust, h.readers["mo-bank"].hpke, a); !errors.Is(err, share.ErrAnswer) {
		t.Fatalf("opened with another key: %v", err)
	}
	// The same request again is refused as a replay.
	b, _ := share.Sign(reading.Access.Tx.Access.Request, h.readers["hk-bank"].sign)
	if _, err := h.readers["hk-bank"].c.Request(h.ctx(), b); !isCode(err, api.CodeReplayed) {
		t.Fatalf("a replayed request: %v", err)
	}

	// Refusals, each recorded: a reader without a grant, a field outside
	// the grant, another purpose.
	for name, c := range map[string]struct {
		reader string
		rq     schemas.ShareRequest
		want   schemas.Refusal
	}{
		"no grant":      {"mo-bank", h.disclose("mo-bank", license, schemas.KindBusiness, []string{"people.name"}, "kyc"), schemas.RefuseNoGrant},
		"field outside": {"hk-bank", h.disclose("hk-bank", certKey, schemas.KindCertificate, []string{"holder.idNumber"}, "kyc"), schemas.RefuseField},
		"other purpose": {"hk-bank", h.disclose("hk-bank", license, schemas.KindBusiness, []string{"people.name"}, "marketing"), schemas.RefusePurpose},
	} {
		a, err := h.request(c.reader, c.rq, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.Outcome != schemas.OutcomeRefused || a.Reason != c.want || a.Sealed != nil || a.Error == nil || a.Error.Code != api.CodeShareRefused {
			t.Fatalf("%s: answer %+v", name, a)
		}
		checkAccessProof(t, h.trust, a, schemas.OutcomeRefused, c.want)
	}

	// A match: yes for the certificate holder's number, no for another;
	// then the limit of three requests is reached.
	match := func(number string) (*share.Answer, error) {
		rq, _ := share.NewRequest(h.trust.Chain, "hk-bank", "shenzhen", schemas.OpMatch, time.Now(), rand.Reader)
		rq.Kind, rq.Purpose = schemas.KindCertificate, "kyc"
		opening, subject, err := share.MatchSubject(number, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		rq.Subject = subject
		return h.request("hk-bank", rq, opening)
	}
	yes, err := match(holderID)
	if err != nil || yes.Outcome != schemas.OutcomeGranted || yes.Result == nil || !*yes.Result || yes.Sealed != nil || yes.License != nil {
		t.Fatalf("match of the holder: %+v %v", yes, err)
	}
	checkAccessProof(t, h.trust, yes, schemas.OutcomeGranted, "")
	no, err := match("110101199003070038")
	if err != nil || no.Outcome != schemas.OutcomeGranted || no.Result == nil || *no.Result {
		t.Fatalf("match of another number: %+v %v", no, err)
	}
	over, err := match(holderID)
	if err != nil || over.Outcome != schemas.OutcomeRefused || over.Reason != schemas.RefuseOverLimit {
		t.Fatalf("a fourth request under a limit of three: %+v %v", over, err)
	}

	// Revoked: refused as such.
	if _, err := h.cities["shenzhen"].Revoke(h.ctx(), "shenzhen", "g-kyc", "contract ended"); err != nil {
		t.Fatal(err)
	}
	rev, err := h.request("hk-bank", h.disclose("hk-bank", license, schemas.KindBusiness, []string{"people.name"}, "kyc"), "")
	if err != nil || rev.Reason != schemas.RefuseRevoked {
		t.Fatalf("after revocation: %+v %v", rev, err)
	}
	// An expired grant.
	if _, err := h.cities["shenzhen"].Grant(h.ctx(), "shenzhen", share.GrantBody{ID: "g-old", Reader: "hk-bank",
		Kinds: []string{"business"}, Fields: []string{"people.name"}, Purpose: "audit", From: "2020-01-01", To: "2020-12-31"}); err != nil {
		t.Fatal(err)
	}
	exp, err := h.request("hk-bank", h.disclose("hk-bank", license, schemas.KindBusiness, []string{"people.name"}, "audit"), "")
	if err != nil || exp.Reason != schemas.RefuseExpired {
		t.Fatalf("under an expired grant: %+v %v", exp, err)
	}

	// The grant's state, with its proof: revoked, three uses.
	gl, err := h.cities["shenzhen"].Grants(h.ctx(), "shenzhen", "", true)
	if err != nil {
		t.Fatal(err)
	}
	var kyc *share.GrantState
	for i := range gl.Grants {
		if gl.Grants[i].ID == "g-kyc" {
			kyc = &gl.Grants[i]
		}
	}
	if kyc == nil || kyc.State.Status != schemas.StatusRevoked || kyc.State.Uses != 3 || len(kyc.Proof) == 0 {
		t.Fatalf("grants %+v", gl)
	}
	if gb, err := proof.DecodeJSON(kyc.Proof); err != nil {
		t.Fatal(err)
	} else if vd, err := proof.Verify(h.trust, gb); err != nil || vd.Uses != 3 || vd.Status != schemas.StatusRevoked {
		t.Fatalf("the grant's proof: %+v %v", vd, err)
	}
	if rl, err := h.readers["hk-bank"].c.Grants(h.ctx(), "", "hk-bank", false); err != nil || len(rl.Grants) != 2 {
		t.Fatalf("hk-bank's grants: %+v %v", rl, err)
	}
	if _, err := h.readers["mo-bank"].c.Grants(h.ctx(), "", "hk-bank", false); !isCode(err, api.CodeForbidden) {
		t.Fatalf("mo-bank listing hk-bank's grants: %v", err)
	}

	// The audit from both sides: Shenzhen sees every read of its data, each
	// with its proof; a reader sees its own.
	all, err := h.cities["shenzhen"].Accesses(h.ctx(), share.AccessQuery{City: "shenzhen", Proofs: true})
	if err != nil {
		t.Fatal(err)
	}
	// 1 answer, 3 refusals, 2 matches, over limit, revoked, expired.
	if len(all.Accesses) != 9 {
		t.Fatalf("shenzhen's audit holds %d access records, want 9: %+v", len(all.Accesses), all.Accesses)
	}
	for _, e := range all.Accesses {
		b, err := proof.DecodeJSON(e.Proof)
		if err != nil {
			t.Fatal(err)
		}
		vd, err := proof.Verify(h.trust, b)
		if err != nil || vd.Tx.Access == nil || vd.Tx.Access.Request.Reader != e.Reader || vd.Tx.Access.Outcome != e.Outcome {
			t.Fatalf("audit entry %+v: %v", e, err)
		}
	}
	byLicense, err := h.cities["shenzhen"].Accesses(h.ctx(), share.AccessQuery{License: license})
	if err != nil || len(byLicense.Accesses) != 5 || byLicense.Accesses[0].Outcome != schemas.OutcomeGranted || byLicense.Accesses[0].Reader != "hk-bank" {
		t.Fatalf("the reads of %s: %+v %v", license, byLicense, err)
	}
	mine, err := h.readers["mo-bank"].c.Accesses(h.ctx(), share.AccessQuery{City: "shenzhen"})
	if err != nil || len(mine.Accesses) != 1 || mine.Accesses[0].Reader != "mo-bank" || mine.Accesses[0].Reason != schemas.RefuseNoGrant {
		t.Fatalf("mo-bank's audit: %+v %v", mine, err)
	}
	if _, err := h.cities["guangzhou"].Accesses(h.ctx(), share.AccessQuery{City: "shenzhen"}); !isCode(err, api.CodeForbidden) {
		t.Fatalf("guangzhou reading shenzhen's audit: %v", err)
	}
	from := all.Accesses[3].Time
	page, err := h.cities["shenzhen"].Accesses(h.ctx(), share.AccessQuery{City: "shenzhen", From: from, Limit: 2})
	if err != nil || len(page.Accesses) != 2 || page.Next == "" || page.Accesses[0].Time.Before(from) {
		t.Fatalf("a page from %v: %+v %v", from, page, err)
	}

	// A disclosure is the value in base64url: look for those too.
	for _, it := range opened.Items {
		secrets = append(secrets, it.Disclosure)
	}
	// Nobody without the grant reads it: not on the bus (JetStream's
	// store), not on the ledger (block logs, state, indexes), not in the
	// logs, not in any proof or answer served. Only the city's own store
	// of personal data holds it.
	scanned, inStore := 0, 0
	err = filepath.WalkDir(h.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil // a file that went away under the walk
		}
		if strings.Contains(filepath.ToSlash(path), "/share/disclosures/") {
			// The control: the city's store holds them, and the scan sees
			// them where they are.
			if bytes.Contains(raw, []byte(opened.Items[0].Disclosure)) {
				inStore++
			}
			return nil
		}
		scanned++
		for _, s := range secrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("%s holds the personal value %q", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 20 || inStore == 0 {
		t.Fatalf("%d files scanned; the personal value found in %d files of the city's store (want some)", scanned, inStore)
	}
	for _, s := range secrets {
		if bytes.Contains(h.logs.Bytes(), []byte(s)) {
			t.Errorf("the logs hold %q", s)
		}
		for i, body := range h.served {
			if bytes.Contains(body, []byte(s)) {
				t.Errorf("served body %d holds %q", i, s)
			}
		}
	}
}

func renderText(r bridge.Rendering) string {
	var b strings.Builder
	for _, f := range r.Fields {
		b.WriteString(f.Value + "\n")
	}
	return b.String()
}

func isCode(err error, code string) bool {
	var ae *share.APIError
	return errors.As(err, &ae) && ae.Err.Code == code
}

// forgeItems returns the items with the first one's name changed.
func forgeItems(t *testing.T, items []disclose.Item) []disclose.Item {
	t.Helper()
	out := slices.Clone(items)
	d, err := disclose.Decode(out[0].Disclosure)
	if err != nil {
		t.Fatal(err)
	}
	d.Value = json.RawMessage(`{"en":"Someone Else"}`)
	out[0].Disclosure = d.Encode()
	return out
}

// checkAccessProof verifies the access record's proof an answer carries.
func checkAccessProof(t *testing.T, trust *keys.Bundle, a *share.Answer, outcome string, reason schemas.Refusal) {
	t.Helper()
	b, err := proof.DecodeJSON(a.Access)
	if err != nil {
		t.Fatal(err)
	}
	vd, err := proof.Verify(trust, b)
	if err != nil {
		t.Fatal(err)
	}
	if acc := vd.Tx.Access; acc == nil || acc.Outcome != outcome || acc.Reason != reason {
		t.Fatalf("the access record proved: %+v", vd.Tx.Access)
	}
}
