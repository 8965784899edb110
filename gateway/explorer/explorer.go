package explorer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// Chain is what the explorer reads the chain through; ledger/query.Client
// implements it, verifying what it relays against the trust bundle.
type Chain interface {
	Headers(ctx context.Context, from uint64, limit int) ([]query.SealedHeader, error)
	Block(ctx context.Context, height uint64, from, limit int) (*query.BlockPage, error)
	Tx(ctx context.Context, id schemas.TxID) (*query.TxContent, error)
	History(ctx context.Context, key string, before uint64, limit int) ([]query.LicenseVersion, error)
	Licenses(ctx context.Context, f query.LicenseFilter) ([]query.LicenseEntry, string, error)
	// Statuses asks every orderer for its height; nil for one that did
	// not answer.
	Statuses(ctx context.Context, timeout time.Duration) []*query.Status
}

var _ Chain = (*query.Client)(nil)

// Config configures an Explorer. Zero fields take the defaults given.
type Config struct {
	Chain Chain // required
	// Auth authenticates every read (the gateway's authenticator); nil
	// serves without authentication, as the gateway does with --no-auth
	// (loopback only).
	Auth auth.Authenticator
	// Readers looks up a named reader of the trust bundle (its grants);
	// nil: reader credentials read nothing.
	Readers func(name string) (*keys.Reader, bool)
	// PollEvery is how often the block feed asks the orderers for new
	// blocks while someone follows it; default 500 ms.
	PollEvery time.Duration
	// FollowerBuffer is how many blocks a follower of the feed may lag
	// before it is cut off (it resumes with Last-Event-ID); default 256.
	FollowerBuffer int
	// Timeout bounds one read of the chain; default 10 s.
	Timeout time.Duration
	Logger  *slog.Logger // default slog.Default()
}

// Defaults of Config.
const (
	DefaultPollEvery      = 500 * time.Millisecond
	DefaultFollowerBuffer = 256
	DefaultTimeout        = 10 * time.Second
)

// Page sizes of the read API.
const (
	DefaultBlocks   = 20
	MaxBlocks       = query.MaxHeaders
	DefaultBlockTxs = 100
	MaxBlockTxs     = query.MaxPageTxs
	DefaultLicenses = 50
	MaxLicenses     = query.MaxLicenses
	DefaultHistory  = 20
	// MaxHistory bounds a history page: each version's transaction is
	// read (and verified) to say what it did.
	MaxHistory = 100
)

// Explorer serves the read API, the OpenAPI document and the explorer.
type Explorer struct {
	cfg  Config
	log  *slog.Logger
	feed *feed
}

// New returns an explorer; Close it when done.
func New(cfg Config) (*Explorer, error) {
	if cfg.Chain == nil {
		return nil, errors.New("explorer: a Chain is required")
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = DefaultPollEvery
	}
	if cfg.FollowerBuffer <= 0 {
		cfg.FollowerBuffer = DefaultFollowerBuffer
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	x := &Explorer{cfg: cfg, log: cfg.Logger.With("component", "explorer")}
	x.feed = newFeed(x)
	return x, nil
}

// Close stops the block feed; followers' streams end.
func (x *Explorer) Close() { x.feed.close() }

// Mux is where routes are registered (*http.ServeMux is one).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Register adds the read API, /openapi.json and the explorer to mux:
//
//	GET /v1/blocks, /v1/blocks/{height}, /v1/blocks/events
//	GET /v1/licenses, /v1/licenses/{jurisdiction}/{id}/history
//	GET /openapi.json, GET / and /explorer/{file...}
//
// GET /v1/tx/{id} is the gateway's: it adds a transaction's content
// through TxContent (gateway.Config.TxContent).
func (x *Explorer) Register(mux Mux) {
	mux.Handle("GET "+api.RouteBlocks, http.HandlerFunc(x.handleBlocks))
	mux.Handle("GET "+api.RouteBlock, http.HandlerFunc(x.handleBlock))
	mux.Handle("GET "+api.RouteBlockEvents, http.HandlerFunc(x.handleEvents))
	mux.Handle("GET "+api.RouteLicenses, http.HandlerFunc(x.handleLicenses))
	mux.Handle("GET "+api.RouteHistory, http.HandlerFunc(x.handleHistory))
	RegisterStatic(mux)
}

// authenticate answers 401 unless the request carries a credential that
// identifies someone; without Config.Auth everyone is let in (p nil).
func (x *Explorer) authenticate(w http.ResponseWriter, r *http.Request) (*auth.Principal, bool) {
	if x.cfg.Auth == nil {
		return nil, true
	}
	p, err := x.cfg.Auth.Authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="baybus"`)
		writeError(w, &api.Error{Status: http.StatusUnauthorized, Code: api.CodeUnauthenticated, Message: err.Error()})
		return nil, false
	}
	return p, true
}

// mayRead reports whether p may read what a transaction or license of
// city, jurisdiction jur and kind says, and if not, why. Without
// authentication everyone may.
func (x *Explorer) mayRead(p *auth.Principal, city string, jur schemas.Jurisdiction, kind schemas.Kind) (bool, string) {
	if x.cfg.Auth == nil {
		return true, ""
	}
	if p == nil {
		return false, "no credential"
	}
	if p.Reader != "" {
		rd, ok := x.reader(p.Reader)
		if !ok {
			return false, fmt.Sprintf("reader %s is not in this gateway's trust bundle", p.Reader)
		}
		if rd.Allows(string(jur), kind.Short()) {
			return true, ""
		}
		return false, fmt.Sprintf("reader %s's grants %v do not cover %s.%s", p.Reader, rd.Grants, jur, kind.Short())
	}
	if !p.Has(auth.RoleRead) {
		return false, fmt.Sprintf("credential %s lacks the read role", p.ID)
	}
	if city != p.City {
		return false, fmt.Sprintf("a credential of %s reads its own city's transactions and licenses (this is %s's; others need a named reader with a grant)", p.City, city)
	}
	return true, ""
}

// owner reports whether p is a credential of city, the city whose
// transaction or license it is. Without authentication (--no-auth, on
// loopback only) every caller is the operator's, as mayRead has it.
func (x *Explorer) owner(p *auth.Principal, city string) bool {
	return x.cfg.Auth == nil || (p != nil && p.Reader == "" && p.City == city)
}

// shown is what p may see of a transaction of city it may read: all of
// it for the city's own credential and for a named reader with a personal
// grant of its jurisdiction and kind (keys.Reader.AllowsPersonal); for
// anyone else, on a chain of rules version 1 or 2 whose records hold
// personal fields in plaintext, the transaction with them withheld
// (gateway.WithholdPersonal), and their places. On a chain of version 3
// they are digests already, opened only through the share routes.
func (x *Explorer) shown(p *auth.Principal, city string, tx *schemas.Tx) (*schemas.Tx, []string, error) {
	if x.seesPersonal(p, city, tx.Jurisdiction, tx.Kind) {
		return tx, nil, nil
	}
	return gateway.WithholdPersonal(tx, rand.Reader)
}

// seesPersonal reports whether p may see in plaintext the personal fields
// a record of city, jurisdiction jur and kind holds so (a chain of rules
// version 1 or 2): the city's own credential, or a named reader with a
// personal grant of them ("CN.certificate.personal"), the grant that
// reads such records' proofs on the bus.
func (x *Explorer) seesPersonal(p *auth.Principal, city string, jur schemas.Jurisdiction, kind schemas.Kind) bool {
	if x.owner(p, city) {
		return true
	}
	if p == nil || p.Reader == "" {
		return false
	}
	rd, ok := x.reader(p.Reader)
	return ok && rd.AllowsPersonal(string(jur), kind.Short())
}

// personalHolder reports whether a catalogue entry's holder and name may
// be a natural person's: a certificate's or an approval's holder is its
// holder's identity number (unless the record holds it as a digest, when
// the catalogue names the license's own id). Such entries are shown to
// anyone but their city without holder and name.
func personalHolder(l query.LicenseEntry) bool {
	if l.Kind != schemas.KindCertificate && l.Kind != schemas.KindApproval {
		return false
	}
	_, id, err := schemas.SplitLicenseKey(l.Key)
	return err != nil || l.Holder != id
}

func (x *Explorer) reader(name string) (*keys.Reader, bool) {
	if x.cfg.Readers == nil {
		return nil, false
	}
	return x.cfg.Readers(name)
}

// chainError is the answer for a failed read of the chain.
func chainError(err error, what string) *api.Error {
	switch {
	case errors.Is(err, query.ErrNotFound):
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: fmt.Sprintf("the ledger holds no %s", what)}
	case errors.Is(err, query.ErrBadRequest):
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeCanceled, Message: err.Error()}
	}
	return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeLedgerUnavailable, Message: err.Error()}
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
