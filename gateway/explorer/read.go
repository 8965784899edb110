package explorer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
)

// statusWait bounds the question every orderer is asked for its height.
const statusWait = 2 * time.Second

// maxParam bounds a free-text query parameter (holder, cursor).
const maxParam = 512

// verified says what the gateway checked of a transaction it relays.
const verified = "its bytes hash to its id; its city's signature over its batch verifies; " +
	"its block's quorum certificate verifies against the trust bundle; its place is under the block's transaction root " +
	"(or its result under the block's results hash)"

func badParam(field, format string, args ...any) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// uintParam reads an optional whole number within [lo, hi] (def if absent).
func uintParam(q url.Values, name string, def, lo, hi uint64) (uint64, *api.Error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, badParam(name, "%s %q: want a whole number from %d to %d", name, s, lo, hi)
	}
	return v, nil
}

func textParam(q url.Values, name string) (string, *api.Error) {
	s := q.Get(name)
	if len(s) > maxParam || !utf8.ValidString(s) {
		return "", badParam(name, "%s: at most %d bytes of UTF-8", name, maxParam)
	}
	return s, nil
}

func (x *Explorer) context(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), x.cfg.Timeout)
}

// height is the chain's height: the highest verified head any orderer
// reports (0 if none answers or nothing is sealed).
func (x *Explorer) height(ctx context.Context) uint64 {
	var top uint64
	for _, s := range x.cfg.Chain.Statuses(ctx, statusWait) {
		if s != nil && s.Head != nil {
			top = max(top, s.Head.Height)
		}
	}
	return top
}

// summary is a sealed header as the API shows it.
func summary(h *block.Header, qc *block.QC) api.BlockSummary {
	s := api.BlockSummary{Height: h.Height, Hash: schemas.FormatID(h.Hash()), Prev: schemas.FormatID(h.Prev),
		Time: time.Unix(0, h.Timestamp).UTC(), Proposer: h.Proposer, TxCount: h.TxCount, Rules: h.RulesVersion(),
		TxRoot: schemas.FormatID(h.TxRoot), StateRoot: schemas.FormatID(h.StateRoot), ResultsHash: schemas.FormatID(h.ResultsHash),
		Signers: []string{}}
	if qc != nil {
		for _, v := range qc.Votes {
			s.Signers = append(s.Signers, v.Signer)
		}
	}
	return s
}

func reasonOf(r block.Result) string {
	if why := r.Reason(); why != block.NoReason {
		return why.String()
	}
	return ""
}

// handleBlocks serves GET RouteBlocks: ?from=H&limit=N, or the newest N.
func (x *Explorer) handleBlocks(w http.ResponseWriter, r *http.Request) {
	if _, ok := x.authenticate(w, r); !ok {
		return
	}
	q := r.URL.Query()
	from, e := uintParam(q, api.ParamFrom, 0, 1, 1<<62)
	if e != nil {
		writeError(w, e)
		return
	}
	limit, e := uintParam(q, api.ParamLimit, DefaultBlocks, 1, MaxBlocks)
	if e != nil {
		writeError(w, e)
		return
	}
	ctx, cancel := x.context(r)
	defer cancel()
	top := x.height(ctx)
	out := api.BlockList{Height: top, Blocks: []api.BlockSummary{}}
	if from == 0 {
		if top == 0 {
			writeJSON(w, http.StatusOK, out)
			return
		}
		from = max(1, top-min(top, limit)+1)
	}
	hs, err := x.cfg.Chain.Headers(ctx, from, int(limit))
	if err != nil && !isNotFound(err) { // past the head: an empty page
		writeError(w, chainError(err, "such blocks"))
		return
	}
	for _, sh := range hs {
		out.Blocks = append(out.Blocks, summary(sh.Header, sh.QC))
	}
	if n := len(out.Blocks); n > 0 {
		last := out.Blocks[n-1].Height
		out.Height = max(out.Height, last)
		if last < out.Height {
			out.Next = last + 1
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleBlock serves GET RouteBlock: the block, every result, and a page
// of its transactions (?from=P&limit=N).
func (x *Explorer) handleBlock(w http.ResponseWriter, r *http.Request) {
	p, ok := x.authenticate(w, r)
	if !ok {
		return
	}
	height, err := strconv.ParseUint(r.PathValue("height"), 10, 64)
	if err != nil || height == 0 {
		writeError(w, badParam("height", "height %q: want a whole number from 1", r.PathValue("height")))
		return
	}
	q := r.URL.Query()
	from, e := uintParam(q, api.ParamFrom, 0, 0, 1<<31)
	if e != nil {
		writeError(w, e)
		return
	}
	limit, e := uintParam(q, api.ParamLimit, DefaultBlockTxs, 1, MaxBlockTxs)
	if e != nil {
		writeError(w, e)
		return
	}
	ctx, cancel := x.context(r)
	defer cancel()
	pg, err := x.cfg.Chain.Block(ctx, height, int(from), int(limit))
	if err != nil {
		writeError(w, chainError(err, fmt.Sprintf("block %d", height)))
		return
	}
	out := api.Block{BlockSummary: summary(pg.Header, pg.QC), Total: len(pg.Results), Results: map[string]int{},
		Transactions: []api.BlockTx{}}
	for _, res := range pg.Results {
		out.Results[res.String()]++
	}
	for _, bt := range pg.Txs {
		t := api.BlockTx{Position: bt.Position, ID: schemas.FormatID(bt.ID), City: bt.City, Result: bt.Result.String(), Reason: reasonOf(bt.Result)}
		if tx, err := schemas.DecodeTx(bt.Bytes); err == nil {
			if may, _ := x.mayRead(p, bt.City, tx.Jurisdiction, tx.Kind); may {
				t.Kind, t.Action, t.License = string(tx.Kind), string(tx.Action), tx.LicenseKey()
				if shown, _, err := x.shown(p, bt.City, tx); err == nil {
					t.Name = recordName(&shown.Record)
				}
			} else {
				t.Redacted = true
			}
		}
		out.Transactions = append(out.Transactions, t)
	}
	if pg.Next < len(pg.Results) {
		out.NextTx = pg.Next
	}
	writeJSON(w, http.StatusOK, out)
}

// recordName is the name a record is known by, in one language.
func recordName(rec *schemas.Record) string {
	if n := oneLanguage(rec.Name); n != "" {
		return n
	}
	if rec.Holder != nil {
		return oneLanguage(rec.Holder.Name)
	}
	return ""
}

func oneLanguage(t schemas.Text) string {
	for _, lang := range []string{schemas.LangEN, schemas.LangHant, schemas.LangHans, schemas.LangPT} {
		if s := t[lang]; s != "" {
			return s
		}
	}
	return ""
}

// handleLicenses serves GET RouteLicenses.
func (x *Explorer) handleLicenses(w http.ResponseWriter, r *http.Request) {
	p, ok := x.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var f query.LicenseFilter
	var e *api.Error
	if f.City = q.Get(api.ParamCity); f.City != "" {
		if _, err := schemas.LookupCity(f.City); err != nil {
			writeError(w, badParam(api.ParamCity, "%v", err))
			return
		}
	}
	if f.Holder, e = textParam(q, api.ParamHolder); e != nil {
		writeError(w, e)
		return
	}
	if f.Holder != "" && x.cfg.Auth != nil && (p.Reader != "" || (f.City != "" && f.City != p.City)) {
		// A holder is a person's identity number: asking which licenses
		// one holds is the owner city's to answer (share match).
		writeError(w, forbidden(fmt.Sprintf("%s may not search licenses by holder: identity numbers are personal (ask the owner city: baybus share match)", p.Scope())))
		return
	}
	if f.Cursor, e = textParam(q, api.ParamCursor); e != nil {
		writeError(w, e)
		return
	}
	if s := q.Get(api.ParamStatus); s != "" {
		switch st := schemas.Status(s); st {
		case schemas.StatusValid, schemas.StatusSuspended, schemas.StatusRevoked, schemas.StatusExpired:
			f.Status = st
		default:
			writeError(w, badParam(api.ParamStatus, "status %q: want valid, suspended, revoked or expired", s))
			return
		}
	}
	if s := q.Get(api.ParamKind); s != "" {
		k, err := schemas.ParseKind(s)
		if err != nil {
			writeError(w, badParam(api.ParamKind, "%v", err))
			return
		}
		f.Kind = k
	}
	if s := q.Get(api.ParamJurisdiction); s != "" {
		j, err := schemas.ParseJurisdiction(s)
		if err != nil {
			writeError(w, badParam(api.ParamJurisdiction, "%v", err))
			return
		}
		f.Jurisdiction = string(j)
	}
	limit, e := uintParam(q, api.ParamLimit, DefaultLicenses, 1, MaxLicenses)
	if e != nil {
		writeError(w, e)
		return
	}
	f.Limit = int(limit)
	if x.cfg.Auth != nil {
		switch {
		case p.Reader != "":
			if _, ok := x.reader(p.Reader); !ok {
				writeError(w, forbidden(fmt.Sprintf("reader %s is not in this gateway's trust bundle", p.Reader)))
				return
			}
		case !p.Has(auth.RoleRead):
			writeError(w, forbidden(fmt.Sprintf("credential %s lacks the read role", p.ID)))
			return
		case f.City == "":
			f.City = p.City // a city reads its own licenses
		case f.City != p.City:
			writeError(w, forbidden(fmt.Sprintf("a credential of %s lists its own city's licenses, not %s's (others need a named reader with a grant)", p.City, f.City)))
			return
		}
	}
	ctx, cancel := x.context(r)
	defer cancel()
	ls, next, err := x.cfg.Chain.Licenses(ctx, f)
	if err != nil {
		writeError(w, chainError(err, "such licenses"))
		return
	}
	out := api.LicenseList{Licenses: []api.License{}, Next: next}
	for _, l := range ls {
		jur, _, err := schemas.SplitLicenseKey(l.Key)
		if err != nil {
			continue
		}
		if may, _ := x.mayRead(p, l.City, jur, l.Kind); !may {
			continue
		}
		lic := api.License{Key: l.Key, City: l.City, Kind: string(l.Kind), Holder: l.Holder, Name: l.Name,
			Status: string(l.Status), Height: l.Height, LastTx: schemas.FormatID(l.LastTx)}
		if !x.seesPersonal(p, l.City, jur, l.Kind) && personalHolder(l) {
			lic.Holder, lic.Name, lic.Withheld = "", "", true
		}
		out.Licenses = append(out.Licenses, lic)
	}
	writeJSON(w, http.StatusOK, out)
}

func forbidden(msg string) *api.Error {
	return &api.Error{Status: http.StatusForbidden, Code: api.CodeForbidden, Message: "auth: forbidden: " + msg}
}

// handleHistory serves GET RouteHistory: ?before=H&limit=N.
func (x *Explorer) handleHistory(w http.ResponseWriter, r *http.Request) {
	p, ok := x.authenticate(w, r)
	if !ok {
		return
	}
	jur, err := schemas.ParseJurisdiction(r.PathValue("jurisdiction"))
	if err != nil {
		writeError(w, badParam("jurisdiction", "%v", err))
		return
	}
	id := r.PathValue("id")
	if id == "" || len(id) > maxParam || !utf8.ValidString(id) {
		writeError(w, badParam("id", "license id: 1 to %d bytes of UTF-8", maxParam))
		return
	}
	key := schemas.LicenseKey(jur, id)
	q := r.URL.Query()
	before, e := uintParam(q, api.ParamBefore, 0, 0, 1<<62)
	if e != nil {
		writeError(w, e)
		return
	}
	limit, e := uintParam(q, api.ParamLimit, DefaultHistory, 1, MaxHistory)
	if e != nil {
		writeError(w, e)
		return
	}
	ctx, cancel := x.context(r)
	defer cancel()
	// The license's last change says whose it is, as for its proof.
	latest, err := x.cfg.Chain.History(ctx, key, 0, 1)
	if err == nil && len(latest) == 0 {
		err = query.ErrNotFound
	}
	if err != nil {
		writeError(w, chainError(err, "license "+key))
		return
	}
	last, err := x.cfg.Chain.Tx(ctx, latest[0].TxID)
	if err != nil {
		writeError(w, chainError(err, "transaction of license "+key))
		return
	}
	if last.Tx == nil {
		writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal,
			Message: fmt.Sprintf("the last change of %s is not a transaction", key)})
		return
	}
	if may, why := x.mayRead(p, last.City, jur, last.Tx.Kind); !may {
		writeError(w, forbidden(why))
		return
	}
	vs := latest
	if before != 0 || limit > 1 {
		if vs, err = x.cfg.Chain.History(ctx, key, before, int(limit)); err != nil && !isNotFound(err) {
			writeError(w, chainError(err, "license "+key))
			return
		}
	}
	out := api.LicenseHistory{Key: key, Status: string(latest[0].Status), City: last.City, Versions: []api.LicenseVersion{}}
	for _, v := range vs {
		lv := api.LicenseVersion{Height: v.Height, Status: string(v.Status), Tx: schemas.FormatID(v.TxID), RecordTx: schemas.FormatID(v.RecordHash)}
		tc := last
		if v.TxID != latest[0].TxID {
			if tc, err = x.cfg.Chain.Tx(ctx, v.TxID); err != nil {
				writeError(w, chainError(err, "transaction "+lv.Tx))
				return
			}
		}
		lv.City = tc.City
		if tc.Tx != nil {
			lv.Action, lv.OccurredAt = string(tc.Tx.Action), tc.Tx.OccurredAt
		}
		out.Versions = append(out.Versions, lv)
	}
	if n := len(vs); n == int(limit) && vs[n-1].Height > 1 {
		out.Next = vs[n-1].Height
	}
	writeJSON(w, http.StatusOK, out)
}

// TxContent is gateway.Config.TxContent: a sealed transaction's content
// for GET /v1/tx/{id}, verified, with what p may not read withheld and the
// record rendered through a jurisdiction's bridge on ?render=. It returns
// nil when the ledger has not sealed the transaction.
func (x *Explorer) TxContent(r *http.Request, p *auth.Principal, id schemas.TxID) (*api.TxContent, *api.Error) {
	var render schemas.Jurisdiction
	if s := r.URL.Query().Get(api.ParamRender); s != "" {
		j, err := schemas.ParseJurisdiction(s)
		if err != nil {
			return nil, badParam(api.ParamRender, "render %q: want cn, hk or mo", s)
		}
		render = j
	}
	ctx, cancel := x.context(r)
	defer cancel()
	tc, err := x.cfg.Chain.Tx(ctx, id)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, chainError(err, "transaction")
	}
	out := &api.TxContent{Height: tc.Height, Position: tc.Position, Result: tc.Result.String(), Reason: reasonOf(tc.Result),
		BlockHash: schemas.FormatID(tc.BlockHash), BlockTime: time.Unix(0, tc.Header.Timestamp).UTC(), City: tc.City,
		BatchSeq: tc.BatchSeq, BatchTime: time.Unix(0, tc.BatchTime).UTC(), Verified: verified}
	if tc.Tx == nil {
		return out, nil
	}
	if may, why := x.mayRead(p, tc.City, tc.Tx.Jurisdiction, tc.Tx.Kind); !may {
		out.Withheld = why
		return out, nil
	}
	tx, withheld, err := x.shown(p, tc.City, tc.Tx)
	if err != nil {
		return nil, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()}
	}
	out.PersonalWithheld = withheld
	raw, err := json.Marshal(tx)
	if err != nil {
		return nil, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()}
	}
	out.Tx = raw
	if render != "" {
		if rd, err := renderTx(render, tx); err != nil {
			out.RenderError = err.Error()
		} else {
			out.Rendering = rd
		}
	}
	return out, nil
}

func renderTx(j schemas.Jurisdiction, tx *schemas.Tx) (json.RawMessage, error) {
	br := bridge.For(j)
	if br == nil {
		return nil, fmt.Errorf("explorer: no bridge for %s", j)
	}
	rd, err := br.Render(tx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(rd)
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, query.ErrNotFound) }
