package share

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
	"github.com/baybus/baybus/schemas/keys"
)

// Routes, as net/http patterns.
const (
	// RouteGrants: POST a grant of the city (its publish credential).
	RouteGrants = "/v1/cities/{city}/grants"
	// RouteRevoke: POST the revocation of one of the city's grants.
	RouteRevoke = "/v1/cities/{city}/grants/{id}/revoke"
	// RouteListGrants: GET ?city=C or ?reader=R: grants with their state.
	RouteListGrants = "/v1/grants"
	// RouteRequests: POST a reader's signed request (Body); the answer
	// is an Answer.
	RouteRequests = "/v1/share/requests"
	// RouteAccesses: GET ?license=X | ?reader=R | ?city=C [&from&to
	// (RFC 3339) &limit &cursor &proofs=1]: access records, oldest first.
	RouteAccesses = "/v1/accesses"
	// RouteBackup: GET a backup of the city's part of this gateway's
	// store of personal data (its publish credential), taken while the
	// gateway serves: JSON lines, see BackupFormat.
	RouteBackup = "/v1/cities/{city}/share/backup"
)

// Config configures a Service. Zero fields take the documented defaults.
type Config struct {
	Trust   *keys.Bundle     // required; of rules version 3
	Gateway *gateway.Gateway // publishes grants and access records (required)
	Chain   Chain            // the ledger (required)
	Store   *Store           // the cities' personal data (required)
	Index   *Index           // the chain's grants and access records (required)
	// Auth authenticates every request; nil serves without (tests only:
	// every principal may do everything, and readers are named by the
	// requests).
	Auth   auth.Authenticator
	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now
	Rand   io.Reader        // default crypto/rand
	// MaxSkew is how far a request's time may be from the gateway's;
	// default 5 minutes.
	MaxSkew time.Duration
	// MaxBody bounds a request's body; default 64 KiB.
	MaxBody int64
	// IndexWait bounds the wait for the index to reach the chain's head
	// before a list is answered; default 5 s.
	IndexWait time.Duration
	// ProofWait bounds the wait for the proof of an access record the
	// orderers sealed, from an orderer that has not applied its block
	// yet; default 5 s.
	ProofWait time.Duration
}

// Service serves the share routes of a gateway. Safe for concurrent use.
type Service struct {
	cfg Config
	// verifier checks the proofs the ledger serves, trusting the headers
	// it has checked once: the query client verified them already, and a
	// cold check of every certificate again cost a request three
	// signature verifications per proof.
	verifier *proof.Verifier
}

// New returns a service. The trust bundle must be of rules version 3.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Trust == nil || cfg.Gateway == nil || cfg.Chain == nil || cfg.Store == nil || cfg.Index == nil:
		return nil, errors.New("share: a service needs the trust bundle, the gateway, the ledger, the store and the index")
	case cfg.Trust.Rules < block.Rules3:
		return nil, fmt.Errorf("share: chain %s is of rules version %d; sharing needs version 3 (a new consortium)", cfg.Trust.Chain, max(cfg.Trust.Rules, 1))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = 5 * time.Minute
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.IndexWait == 0 {
		cfg.IndexWait = 5 * time.Second
	}
	if cfg.ProofWait == 0 {
		cfg.ProofWait = 5 * time.Second
	}
	return &Service{cfg: cfg, verifier: proof.NewVerifier(cfg.Trust, 0)}, nil
}

// Register adds the share routes to mux.
func (s *Service) Register(mux gateway.Mux) {
	mux.HandleFunc("POST "+RouteGrants, s.handleGrant)
	mux.HandleFunc("POST "+RouteRevoke, s.handleRevoke)
	mux.HandleFunc("GET "+RouteListGrants, s.handleListGrants)
	mux.HandleFunc("POST "+RouteRequests, s.handleRequest)
	mux.HandleFunc("GET "+RouteAccesses, s.handleAccesses)
	mux.HandleFunc("GET "+RouteBackup, s.handleBackup)
}

// Unavailable registers the share routes answering 501
// share_unavailable: for a gateway of a chain without sharing.
func Unavailable(mux gateway.Mux, why string) {
	h := func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, &api.Error{Status: http.StatusNotImplemented, Code: api.CodeShareUnavailable, Message: why})
	}
	for _, r := range []string{"POST " + RouteGrants, "POST " + RouteRevoke, "GET " + RouteListGrants, "POST " + RouteRequests, "GET " + RouteAccesses, "GET " + RouteBackup} {
		mux.HandleFunc(r, h)
	}
}

// Answers here are never cached: they are of one credential, and of the
// chain as it is now.
func writeError(w http.ResponseWriter, e *api.Error) {
	w.Header().Set("Cache-Control", "no-store")
	api.WriteError(w, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, status, v)
}

func badRequest(field, format string, args ...any) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *api.Error {
	return &api.Error{Status: http.StatusForbidden, Code: api.CodeForbidden, Message: "auth: forbidden: " + fmt.Sprintf(format, args...)}
}

func unavailable(err error) *api.Error {
	return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeLedgerUnavailable, Message: err.Error()}
}

// principal authenticates the request; nil, true without an Authenticator.
func (s *Service) principal(w http.ResponseWriter, r *http.Request) (*auth.Principal, bool) {
	if s.cfg.Auth == nil {
		return nil, true
	}
	p, err := s.cfg.Auth.Authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="baybus"`)
		writeError(w, &api.Error{Status: http.StatusUnauthorized, Code: api.CodeUnauthenticated, Message: err.Error()})
		return nil, false
	}
	return p, true
}

// decode reads a JSON body of at most MaxBody bytes, refusing unknown
// members.
func (s *Service) decode(r *http.Request, v any) *api.Error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBody+1))
	if err != nil {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidBody, Message: err.Error()}
	}
	if int64(len(raw)) > s.cfg.MaxBody {
		return &api.Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge, Message: fmt.Sprintf("body over %d bytes", s.cfg.MaxBody)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: err.Error()}
	}
	if dec.More() {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: "trailing data after the JSON value"}
	}
	return nil
}

// GrantBody is what a city posts to RouteGrants.
type GrantBody struct {
	// ID names the grant among the city's; default a random one.
	ID     string   `json:"id,omitempty"`
	Reader string   `json:"reader"`
	Kinds  []string `json:"kinds"` // kind names or short forms (business)
	Fields []string `json:"fields,omitempty"`
	Match  bool     `json:"match,omitempty"`
	// Purpose, Limit: see schemas.Grant.
	Purpose string `json:"purpose"`
	Limit   int64  `json:"limit,omitempty"`
	// From and To are the first and last days of the window (GBA time).
	From string `json:"from"`
	To   string `json:"to"`
}

// GrantReceipt answers a grant or a revocation once sealed.
type GrantReceipt struct {
	Grant   string       `json:"grant"`
	Key     string       `json:"key"`
	Receipt *api.Receipt `json:"receipt"`
}

func (s *Service) handleGrant(w http.ResponseWriter, r *http.Request) {
	var body GrantBody
	c, ok := s.ownerRequest(w, r, &body)
	if !ok {
		return
	}
	if _, ok := s.cfg.Trust.Reader(body.Reader); !ok {
		writeError(w, &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Field: "reader", Rule: "reader",
			Message: fmt.Sprintf("%q is not a reader of the trust bundle (baybus keys add-reader)", body.Reader)})
		return
	}
	g := schemas.Grant{Reader: body.Reader, Fields: body.Fields, Match: body.Match, Purpose: body.Purpose, Limit: body.Limit}
	for _, k := range body.Kinds {
		kind, err := schemas.ParseKind(k)
		if err != nil {
			writeError(w, badRequest("kinds", "%v", err))
			return
		}
		if !slices.Contains(g.Kinds, kind) {
			g.Kinds = append(g.Kinds, kind)
		}
	}
	id := body.ID
	if id == "" {
		b := make([]byte, 8)
		if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
			writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()})
			return
		}
		id = "g-" + hex.EncodeToString(b)
	}
	tx := schemas.NewGrantTx(s.cfg.Trust.Chain, c, id, g, body.From, body.To, s.now())
	s.submitGrant(w, r.Context(), tx)
}

func (s *Service) now() string { return s.cfg.Now().UTC().Format(time.RFC3339Nano) }

func (s *Service) submitGrant(w http.ResponseWriter, ctx context.Context, tx *schemas.Tx) {
	if err := schemas.CheckTx3(tx); err != nil {
		e := &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Message: err.Error()}
		if fe, ok := schemas.AsFieldError(err); ok {
			e.Field, e.Rule, e.Message = fe.Field, fe.Rule, fe.Msg
		}
		writeError(w, e)
		return
	}
	o := s.cfg.Gateway.SubmitTx(ctx, tx.City, tx, true)
	if o.Err != nil {
		writeError(w, o.Err)
		return
	}
	s.cfg.Index.Kick()
	writeJSON(w, http.StatusOK, GrantReceipt{Grant: tx.Record.ID, Key: tx.LicenseKey(), Receipt: o.Receipt})
}

// RevokeBody is what a city posts to RouteRevoke.
type RevokeBody struct {
	Reason string `json:"reason"`
}

func (s *Service) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var body RevokeBody
	c, ok := s.ownerRequest(w, r, &body)
	if !ok {
		return
	}
	s.submitGrant(w, r.Context(), schemas.NewRevokeTx(s.cfg.Trust.Chain, c, r.PathValue("id"), body.Reason, s.now()))
}

// ownerRequest admits a request of the owner city in the path (a
// credential allowed to publish for it) and decodes its body: the grant
// and revocation routes. On false it has answered.
func (s *Service) ownerRequest(w http.ResponseWriter, r *http.Request, body any) (schemas.City, bool) {
	city := r.PathValue("city")
	p, ok := s.principal(w, r)
	if !ok {
		return schemas.City{}, false
	}
	if p != nil {
		if err := p.Allow(city, auth.RolePublish); err != nil {
			writeError(w, forbidden("%v", err))
			return schemas.City{}, false
		}
	}
	if e := s.decode(r, body); e != nil {
		writeError(w, e)
		return schemas.City{}, false
	}
	c, err := schemas.LookupCity(city)
	if err != nil {
		writeError(w, &api.Error{Status: http.StatusNotFound, Code: api.CodeUnknownCity, Field: "city", Message: err.Error()})
		return schemas.City{}, false
	}
	return c, true
}

// handleBackup serves GET RouteBackup: the city's salt key, disclosures
// and identity numbers, from one snapshot of the store, streamed as they
// are read. An error once the first line is out cuts the stream short,
// which the backup's missing last line shows (ReadBackup refuses it).
func (s *Service) handleBackup(w http.ResponseWriter, r *http.Request) {
	city := r.PathValue("city")
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	if p != nil {
		if err := p.Allow(city, auth.RolePublish); err != nil {
			writeError(w, forbidden("%v", err))
			return
		}
	}
	if _, err := schemas.LookupCity(city); err != nil {
		writeError(w, &api.Error{Status: http.StatusNotFound, Code: api.CodeUnknownCity, Field: "city", Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Cache-Control", "no-store")
	n, err := s.cfg.Store.Export(r.Context(), w, city, s.cfg.Now())
	if err != nil {
		s.cfg.Logger.Error("share: backup cut short", "city", city, "err", err)
		return
	}
	s.cfg.Logger.Info("share: backup taken", "city", city, "records", n)
}

// GrantState is a grant with its state as the ledger proves it now.
type GrantState struct {
	GrantEntry
	// State: the grant's status (valid, expired or revoked, as of the
	// proof's time) and requests answered, from its fresh proof.
	State struct {
		Status schemas.Status `json:"status"`
		Uses   uint64         `json:"uses"`
		Height uint64         `json:"height"`
	} `json:"state"`
	Proof json.RawMessage `json:"proof,omitempty"`
}

// catchUp brings the index to the chain's head, within IndexWait.
func (s *Service) catchUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.IndexWait)
	defer cancel()
	if err := s.cfg.Index.CatchUp(ctx); err != nil {
		s.cfg.Logger.Warn("share: index behind the chain", "height", s.cfg.Index.Height(), "err", err)
	}
}

func (s *Service) handleListGrants(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	city, reader := q.Get("city"), q.Get("reader")
	if (city == "") == (reader == "") {
		writeError(w, badRequest("city", "name a city or a reader (?city=C or ?reader=R)"))
		return
	}
	if p != nil {
		switch {
		case p.Reader != "" && reader != p.Reader:
			writeError(w, forbidden("reader %s lists its own grants", p.Reader))
			return
		case p.Reader == "" && city != "" && city != p.City:
			writeError(w, forbidden("a credential of %s lists its own city's grants", p.City))
			return
		}
	}
	s.catchUp(r.Context())
	var (
		gs  []GrantEntry
		err error
	)
	if city != "" {
		gs, err = s.cfg.Index.GrantsOf(city)
	} else {
		gs, err = s.cfg.Index.GrantsTo(reader)
	}
	if err != nil {
		writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()})
		return
	}
	withProofs := q.Get("proofs") == "1"
	out := []GrantState{}
	for _, g := range gs {
		if p != nil && p.Reader == "" && g.City != p.City {
			continue // a city lists its own grants to a reader
		}
		st := GrantState{GrantEntry: g}
		b, err := s.cfg.Chain.LatestProof(r.Context(), g.Key)
		if err != nil {
			writeError(w, unavailable(err))
			return
		}
		vd, err := s.verifier.Verify(b)
		if err != nil {
			writeError(w, unavailable(err))
			return
		}
		st.State.Status, st.State.Uses, st.State.Height = vd.Status, vd.Uses, vd.Height
		if withProofs {
			if st.Proof, err = proof.EncodeJSON(b); err != nil {
				writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()})
				return
			}
		}
		out = append(out, st)
	}
	writeJSON(w, http.StatusOK, map[string]any{"grants": out, "height": s.cfg.Index.Height()})
}

// AccessList is the answer of RouteAccesses.
type AccessList struct {
	Accesses []AccessItem `json:"accesses"`
	Next     string       `json:"next,omitempty"` // the cursor of the next page
	Height   uint64       `json:"height"`         // the index's
}

// AccessItem is an access record with, on request, its proof.
type AccessItem struct {
	AccessEntry
	Proof json.RawMessage `json:"proof,omitempty"`
}

func (s *Service) handleAccesses(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := AccessFilter{License: q.Get("license"), Reader: q.Get("reader"), City: q.Get("city"), After: q.Get("cursor")}
	if f.License == "" && f.Reader == "" && f.City == "" {
		writeError(w, badRequest("license", "name a license, a reader or a city (?license=JUR/ID, ?reader=R, ?city=C)"))
		return
	}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, badRequest(t.name, "%q is not an RFC 3339 time", v))
				return
			}
			*t.to = tm
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeError(w, badRequest("limit", "limit %q: a positive number", v))
			return
		}
		f.Limit = n
	}
	// A city sees the reads of its own data; a reader its own reads.
	if p != nil {
		switch {
		case p.Reader != "":
			if f.Reader != "" && f.Reader != p.Reader {
				writeError(w, forbidden("reader %s sees its own reads", p.Reader))
				return
			}
			f.Reader = p.Reader
		default:
			if f.City != "" && f.City != p.City {
				writeError(w, forbidden("a credential of %s sees the reads of its own city's data", p.City))
				return
			}
			f.City = p.City
		}
	}
	s.catchUp(r.Context())
	list, next, err := s.cfg.Index.Accesses(f)
	if err != nil {
		writeError(w, badRequest("cursor", "%v", err))
		return
	}
	out := AccessList{Accesses: []AccessItem{}, Next: next, Height: s.cfg.Index.Height()}
	for _, e := range list {
		it := AccessItem{AccessEntry: e}
		if q.Get("proofs") == "1" {
			b, err := s.cfg.Chain.LatestProof(r.Context(), e.Key)
			if err != nil {
				writeError(w, unavailable(err))
				return
			}
			if it.Proof, err = proof.EncodeJSON(b); err != nil {
				writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()})
				return
			}
		}
		out.Accesses = append(out.Accesses, it)
	}
	writeJSON(w, http.StatusOK, out)
}

// decision is what the gateway decides of a request before the ledger
// has its say.
type decision struct {
	refusal schemas.Refusal
	grant   *GrantEntry
	result  *bool
	license *proof.Bundle   // disclose: the license's fresh proof
	lv      *proof.Verdict  // its verdict
	record  *Record         // disclose: the disclosures of its record in force
	items   []disclose.Item // disclose: the items asked for
}

func (s *Service) handleRequest(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	var body Body
	if e := s.decode(r, &body); e != nil {
		writeError(w, e)
		return
	}
	rq := &body.Request
	if p != nil && (p.Reader == "" || p.Reader != rq.Reader) {
		writeError(w, forbidden("a request of reader %s needs that reader's credential (this one is %s's)", rq.Reader, p.Scope()))
		return
	}
	if e := s.checkRequest(&body); e != nil {
		writeError(w, e)
		return
	}
	ctx := r.Context()
	d, e := s.decide(ctx, &body)
	if e != nil {
		writeError(w, e)
		return
	}
	a, tx, e := s.record(ctx, &body, d)
	if e != nil {
		writeError(w, e)
		return
	}
	s.cfg.Index.Kick()
	s.answer(w, ctx, a, tx, d)
}

// checkRequest checks a request as the ledger will (the access record's
// form, the reader's key and signature) and its time.
func (s *Service) checkRequest(b *Body) *api.Error {
	rq := &b.Request
	if rq.Chain != s.cfg.Trust.Chain {
		return badRequest("request.chain", "a request of chain %q to a gateway of chain %q", rq.Chain, s.cfg.Trust.Chain)
	}
	c, err := schemas.LookupCity(rq.City)
	if err != nil {
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeUnknownCity, Field: "request.city", Message: err.Error()}
	}
	probe := schemas.Access{Request: *rq, KeyID: b.KeyID, Signature: b.Signature, Outcome: schemas.OutcomeRefused, Reason: schemas.RefuseOwnerChoice}
	tx, err := schemas.NewAccessTx(rq.Chain, c, probe, s.now())
	if err != nil {
		return badRequest("request", "%v", err)
	}
	if err := schemas.CheckTx3(tx); err != nil {
		e := &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Message: err.Error()}
		if fe, ok := schemas.AsFieldError(err); ok {
			e.Field, e.Rule, e.Message = fe.Field, fe.Rule, fe.Msg
		}
		return e
	}
	if _, ok := s.cfg.Trust.Reader(rq.Reader); !ok {
		return forbidden("%q is not a reader of the trust bundle", rq.Reader)
	}
	pk, tk, ok := s.cfg.Trust.KeyByID(b.KeyID)
	if !ok || tk.Role != keys.RoleReader || tk.Member != rq.Reader {
		return forbidden("key %q is not a key of reader %s", b.KeyID, rq.Reader)
	}
	// The orderers judge the signature by the key valid at the access
	// record's block (§6): a rotated key serves until its last height, a
	// new one from its first. The next block is about the index's height
	// plus one.
	var next uint64
	if s.cfg.Index != nil {
		next = s.cfg.Index.Height() + 1
	}
	if tk.ValidUntil != nil && *tk.ValidUntil < next {
		return forbidden("key %s of reader %s ended at height %d (the chain is at %d): sign with its new key", b.KeyID, rq.Reader, *tk.ValidUntil, next-1)
	}
	if tk.ValidFrom > next {
		return forbidden("key %s of reader %s is valid from height %d (the chain is at %d): sign with the key in force until then", b.KeyID, rq.Reader, tk.ValidFrom, next-1)
	}
	msg, _ := rq.Bytes()
	sig, _ := base64.StdEncoding.DecodeString(b.Signature)
	if err := pk.Verify(keys.Domain{Chain: rq.Chain, Purpose: keys.PurposeShareRequest}, msg, sig); err != nil {
		return forbidden("the request's signature does not verify with %s", b.KeyID)
	}
	at, _ := schemas.ParseTime(rq.At)
	if d := s.cfg.Now().Sub(at); d > s.cfg.MaxSkew || d < -s.cfg.MaxSkew {
		return badRequest("request.at", "the request was made at %s, %v from this gateway's clock (at most %v)", rq.At, d.Round(time.Second), s.cfg.MaxSkew)
	}
	if rq.Op == schemas.OpMatch {
		if b.Opening == "" {
			return badRequest("opening", "a match gives the identity number's opening")
		}
		od, err := disclose.Decode(b.Opening)
		var number string
		if err != nil || od.Name != "idNumber" || json.Unmarshal(od.Value, &number) != nil || number == "" || disclose.Digest(b.Opening) != rq.Subject {
			return badRequest("opening", "the opening is not the disclosure of an identity number whose digest is the request's subject")
		}
	} else if b.Opening != "" {
		return badRequest("opening", "only a match has an opening")
	}
	return nil
}

// decide chooses the grant, checks the license or matches the holder, and
// gathers what an answer would disclose. A refusal is a decision; an
// error is a request the gateway cannot decide now.
func (s *Service) decide(ctx context.Context, b *Body) (*decision, *api.Error) {
	rq := &b.Request
	d := &decision{}
	// The index only finds the grants; their state (revoked, uses) comes
	// from fresh proofs. So it is brought to the chain's head, which
	// takes its lock and a round trip to the orderers, only when it finds
	// no grant that covers the request: one issued a moment ago may not
	// be indexed yet. Catching up on every request serialised them all.
	d.grant, d.refusal = s.chooseGrant(ctx, rq)
	if d.refusal != "" {
		s.catchUp(ctx)
		d.grant, d.refusal = s.chooseGrant(ctx, rq)
	}
	if d.refusal != "" {
		return d, nil
	}
	if rq.Op == schemas.OpMatch {
		yes, e := s.match(ctx, b)
		if e != nil {
			return nil, e
		}
		d.result = &yes
		return d, nil
	}
	lb, err := s.cfg.Chain.LatestProof(ctx, rq.License)
	switch {
	case errors.Is(err, proof.ErrNotFound):
		d.refusal = schemas.RefuseNotFound
		return d, nil
	case err != nil:
		return nil, unavailable(err)
	}
	lv, err := s.verifier.Verify(lb)
	if err != nil {
		return nil, unavailable(err)
	}
	switch {
	case lv.Owner != rq.City:
		d.refusal = schemas.RefuseNotIssuer
		return d, nil
	case lv.Kind != rq.Kind:
		d.refusal = schemas.RefuseWrongKind
		return d, nil
	}
	rec := lb.Tx.ID
	if lb.Record != nil {
		rec = lb.Record.ID
	}
	kept, err := s.cfg.Store.Get(rec)
	if err != nil {
		// A record this gateway did not publish (another gateway's
		// store, or before sharing): it cannot disclose it.
		s.cfg.Logger.Warn("share: no disclosures of the record in force", "license", rq.License, "record", schemas.FormatID(rec), "err", err)
		return nil, &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeStoreUnavailable,
			Message: fmt.Sprintf("this gateway's store holds no disclosures of %s's record in force", rq.License)}
	}
	for _, it := range kept.Items {
		if slices.Contains(rq.Fields, it.Field()) {
			d.items = append(d.items, it)
		}
	}
	d.license, d.lv, d.record = lb, lv, kept
	return d, nil
}

// chooseGrant returns the city's grant in force that covers the request,
// or the refusal that says why none does: the most telling of the grants
// to the reader (one that covers all but the time, the limit or a
// revocation says that; else what the first grant lacks).
func (s *Service) chooseGrant(ctx context.Context, rq *schemas.ShareRequest) (*GrantEntry, schemas.Refusal) {
	gs, err := s.cfg.Index.GrantsTo(rq.Reader)
	if err != nil {
		s.cfg.Logger.Error("share: index", "err", err)
		return nil, schemas.RefuseNoGrant
	}
	why := schemas.RefuseNoGrant
	now := s.cfg.Now()
	for i := range gs {
		g := &gs[i]
		if g.City != rq.City {
			continue
		}
		terms := g.Terms()
		if r := terms.Covers(rq); r != schemas.NoRefusal {
			if why == schemas.RefuseNoGrant {
				why = r
			}
			continue
		}
		// The grant's state as the index has it. It may lag the chain,
		// but only towards allowing (a revocation or a use it has not
		// seen yet), and the orderers judge the access record against
		// the grant at its block: one they refuse is recorded as the
		// refusal they give (record). A fresh proof of the grant here
		// cost every request a proof built and verified on an orderer.
		switch {
		case g.Status == schemas.StatusRevoked:
			why = schemas.RefuseRevoked
		case terms.GrantWindow(g.To, now) != schemas.NoRefusal:
			why = terms.GrantWindow(g.To, now)
		case terms.Limit > 0 && g.Uses >= uint64(terms.Limit):
			why = schemas.RefuseOverLimit
		default:
			return g, schemas.NoRefusal
		}
	}
	return nil, why
}

// match answers whether the holder of the opened identity number holds a
// valid license of the kind asked, held by the city.
func (s *Service) match(ctx context.Context, b *Body) (bool, *api.Error) {
	rq := &b.Request
	od, _ := disclose.Decode(b.Opening)
	var number string
	_ = json.Unmarshal(od.Value, &number)
	cands, err := s.cfg.Store.Holding(number)
	if err != nil {
		return false, &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeStoreUnavailable, Message: err.Error()}
	}
	for _, h := range cands {
		if h.Kind != rq.Kind {
			continue
		}
		lb, err := s.cfg.Chain.LatestProof(ctx, h.License)
		if errors.Is(err, proof.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, unavailable(err)
		}
		lv, err := s.verifier.Verify(lb)
		if err != nil {
			return false, unavailable(err)
		}
		if lv.Owner != rq.City || lv.Kind != rq.Kind || lv.StatusAt(s.cfg.Now()) != schemas.StatusValid {
			continue
		}
		// The record in force must still name the number.
		rec := lb.Tx.ID
		if lb.Record != nil {
			rec = lb.Record.ID
		}
		kept, err := s.cfg.Store.Get(rec)
		if err != nil {
			continue
		}
		for _, it := range kept.Items {
			if f := it.Field(); f != "holder.idNumber" && f != "people.idNumber" {
				continue
			}
			if d, err := disclose.Decode(it.Disclosure); err == nil && bytes.Equal(d.Value, od.Value) {
				return true, nil
			}
		}
	}
	return false, nil
}

// record seals the access record of the decision, and returns it. An
// answer the ledger refuses (the grant moved under it) is recorded again
// as the refusal the ledger gave.
func (s *Service) record(ctx context.Context, b *Body, d *decision) (*schemas.Access, *schemas.Tx, *api.Error) {
	c, _ := schemas.LookupCity(b.Request.City)
	for try := 0; try < 2; try++ {
		a := schemas.Access{Request: b.Request, KeyID: b.KeyID, Signature: b.Signature}
		if d.refusal == "" {
			a.Outcome, a.Grant, a.Result = schemas.OutcomeGranted, d.grant.ID, d.result
		} else {
			a.Outcome, a.Reason = schemas.OutcomeRefused, d.refusal
			if d.grant != nil {
				a.Grant = d.grant.ID
			}
		}
		tx, err := schemas.NewAccessTx(s.cfg.Trust.Chain, c, a, s.now())
		if err != nil {
			return nil, nil, badRequest("request", "%v", err)
		}
		o := s.cfg.Gateway.SubmitTx(ctx, c.Token, tx, true)
		if o.Err == nil {
			return &a, tx, nil
		}
		switch {
		case o.Err.Code == api.CodeLedgerRejected && o.Err.Rule == "exists":
			return nil, nil, &api.Error{Status: http.StatusConflict, Code: api.CodeReplayed,
				Message: fmt.Sprintf("this request was answered before: its access record %s is on the ledger", tx.LicenseKey())}
		case o.Err.Code == api.CodeLedgerRejected && d.refusal == "":
			// The ledger found the grant does not allow it now.
			d.refusal, d.items, d.result = schemas.Refusal(o.Err.Rule), nil, nil
			if d.refusal == "" {
				d.refusal = schemas.RefuseNoGrant
			}
			continue
		}
		return nil, nil, o.Err
	}
	return nil, nil, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: "share: the ledger refused the refusal"}
}

// answer writes the answer to a recorded request: its access record's
// proof, and what it grants.
func (s *Service) answer(w http.ResponseWriter, ctx context.Context, a *schemas.Access, tx *schemas.Tx, d *decision) {
	ab, err := s.accessProof(ctx, tx)
	if err != nil {
		writeError(w, unavailable(fmt.Errorf("share: the access record %s is sealed but its proof cannot be read now: %w", tx.LicenseKey(), err)))
		return
	}
	out := Answer{V: AnswerVersion, Outcome: a.Outcome, Reason: a.Reason, Result: a.Result}
	if out.Access, err = proof.EncodeJSON(ab); err != nil {
		writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()})
		return
	}
	if a.Outcome == schemas.OutcomeRefused {
		out.Error = &api.Error{Status: http.StatusForbidden, Code: api.CodeShareRefused,
			Message: fmt.Sprintf("%s refused the request (%s); the refusal is recorded as %s", a.Request.City, a.Reason, tx.LicenseKey())}
		writeJSON(w, http.StatusForbidden, out)
		return
	}
	if a.Request.Op == schemas.OpDisclose {
		if out.License, err = proof.EncodeJSON(d.license); err != nil {
			writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()})
			return
		}
		dis := &Disclosed{V: AnswerVersion, License: a.Request.License, Record: d.record.TxID, Access: schemas.FormatID(ab.Tx.ID), Items: d.items}
		if out.Sealed, err = seal(s.cfg.Trust, a.Request.Reader, dis, ab.Tx.ID, s.cfg.Rand); err != nil {
			writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// accessProof returns the proof of the sealed access record tx. The
// commit the gateway waited for is a quorum's; the orderer the query
// client asks may apply the block a moment later, so a proof not found
// yet (or of an older state) is asked for again, within ProofWait.
func (s *Service) accessProof(ctx context.Context, tx *schemas.Tx) (*proof.Bundle, error) {
	id := schemas.TxID(schemas.ComputeTxID(mustEncode(tx)))
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProofWait)
	defer cancel()
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		ab, err := s.cfg.Chain.LatestProof(ctx, tx.LicenseKey())
		switch {
		case err == nil && ab.Tx.ID == id:
			return ab, nil
		case err == nil:
			// An access record's key is its request's: one transaction.
			return nil, fmt.Errorf("share: the access record's proof is of transaction %s, not %s", schemas.FormatID(ab.Tx.ID), schemas.FormatID(id))
		case !errors.Is(err, proof.ErrNotFound) && !errors.Is(err, query.ErrUnavailable) && !errors.Is(err, query.ErrNoOrderer):
			// Not behind, nor busy: asking again would not help.
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(pause):
		}
	}
}

func mustEncode(tx *schemas.Tx) []byte {
	raw, _ := schemas.EncodeTx(tx)
	return raw
}
