package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// TokenPrefix starts every token.
const TokenPrefix = "bbt_"

// DefaultTTL is how long a token is valid unless told otherwise.
const DefaultTTL = 90 * 24 * time.Hour

// TokenRecord is what the token file keeps of one token.
type TokenRecord struct {
	ID string `json:"id"`
	// City or Reader: whom the token speaks for (exactly one is set).
	City    string     `json:"city,omitempty"`
	Reader  string     `json:"reader,omitempty"`
	Roles   []Role     `json:"roles"`
	Hash    string     `json:"sha256"` // hex SHA-256 of the whole token
	Note    string     `json:"note,omitempty"`
	Created time.Time  `json:"created"`
	Expires time.Time  `json:"expires"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// tokenFile is the file's layout.
type tokenFile struct {
	Version int           `json:"version"`
	Tokens  []TokenRecord `json:"tokens"`
}

const tokenFileVersion = 1

// ErrTokenFile is wrapped by errors about a token file that cannot be
// used (not JSON, another version, a malformed record).
var ErrTokenFile = errors.New("auth: bad token file")

// TokenConfig tunes a TokenStore. Zero fields take the defaults.
type TokenConfig struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// ReloadEvery bounds how often Authenticate looks whether the file
	// changed; default 1s, so a revocation takes effect within it.
	// Negative: at every call.
	ReloadEvery time.Duration
}

// TokenStore is a token file and what it holds.
type TokenStore struct {
	path string
	cfg  TokenConfig

	mu      sync.Mutex
	byID    map[string]TokenRecord
	stamp   fileStamp // of the file when last read
	checked time.Time // when the stamp was last compared
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// OpenTokens opens the token file at path; a missing file is an empty
// store (Issue creates it).
func OpenTokens(path string, cfg TokenConfig) (*TokenStore, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReloadEvery == 0 {
		cfg.ReloadEvery = time.Second
	}
	s := &TokenStore{path: path, cfg: cfg}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the token file's path.
func (s *TokenStore) Path() string { return s.path }

// load reads the file into the store; s.mu is held.
func (s *TokenStore) load() error {
	recs, stamp, err := readTokenFile(s.path)
	if err != nil {
		return err
	}
	s.byID = make(map[string]TokenRecord, len(recs))
	for _, r := range recs {
		s.byID[r.ID] = r
	}
	s.stamp, s.checked = stamp, s.cfg.Now()
	return nil
}

func readTokenFile(path string) ([]TokenRecord, fileStamp, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fileStamp{}, nil
	}
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("auth: %w", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("auth: %w", err)
	}
	recs, err := ParseTokenFile(raw)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("%w (%s)", err, path)
	}
	return recs, fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// ParseTokenFile decodes a token file's contents and checks every record.
func ParseTokenFile(raw []byte) ([]TokenRecord, error) {
	var f tokenFile
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	if f.Version != tokenFileVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrTokenFile, f.Version, tokenFileVersion)
	}
	seen := map[string]bool{}
	for i, r := range f.Tokens {
		switch {
		case !validID(r.ID):
			return nil, fmt.Errorf("%w: token %d: id %q is not 16 hex digits", ErrTokenFile, i, r.ID)
		case seen[r.ID]:
			return nil, fmt.Errorf("%w: token id %s appears twice", ErrTokenFile, r.ID)
		case !validHash(r.Hash):
			return nil, fmt.Errorf("%w: token %s: sha256 is not 64 hex digits", ErrTokenFile, r.ID)
		case r.Expires.IsZero():
			return nil, fmt.Errorf("%w: token %s has no expiry", ErrTokenFile, r.ID)
		}
		switch {
		case r.City != "" && r.Reader != "":
			return nil, fmt.Errorf("%w: token %s names both a city and a reader", ErrTokenFile, r.ID)
		case r.Reader != "":
			if !ValidReaderName(r.Reader) {
				return nil, fmt.Errorf("%w: token %s: reader name %q", ErrTokenFile, r.ID, r.Reader)
			}
			if !slices.Equal(r.Roles, []Role{RoleRead}) {
				return nil, fmt.Errorf("%w: token %s of reader %s: a reader only reads", ErrTokenFile, r.ID, r.Reader)
			}
		default:
			if _, err := schemas.LookupCity(r.City); err != nil {
				return nil, fmt.Errorf("%w: token %s: %w", ErrTokenFile, r.ID, err)
			}
		}
		if len(r.Roles) == 0 {
			return nil, fmt.Errorf("%w: token %s has no role", ErrTokenFile, r.ID)
		}
		for _, role := range r.Roles {
			if role != RolePublish && role != RoleRead {
				return nil, fmt.Errorf("%w: token %s: role %q", ErrTokenFile, r.ID, role)
			}
		}
		seen[r.ID] = true
	}
	return f.Tokens, nil
}

func validID(s string) bool {
	if len(s) != 16 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

func validHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// refresh re-reads the file if it changed, looking at most once per
// ReloadEvery unless forced; s.mu is held. A file that became unreadable
// keeps the last good state and returns the error.
func (s *TokenStore) refresh(force bool) error {
	now := s.cfg.Now()
	if !force && now.Sub(s.checked) < s.cfg.ReloadEvery && !now.Before(s.checked) {
		return nil
	}
	s.checked = now
	fi, err := os.Stat(s.path)
	var stamp fileStamp
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("auth: %w", err)
	default:
		stamp = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	if stamp == s.stamp {
		return nil
	}
	return s.load()
}

// Authenticate implements Authenticator: the request's bearer token.
func (s *TokenStore) Authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, ErrNoCredential
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, fmt.Errorf("%w: the Authorization header is not \"Bearer <token>\"", ErrUnauthenticated)
	}
	return s.Check(strings.TrimSpace(tok))
}

// Check returns the principal a token names.
func (s *TokenStore) Check(token string) (*Principal, error) {
	id, ok := tokenID(token)
	if !ok {
		return nil, ErrBadToken
	}
	s.mu.Lock()
	err := s.refresh(false)
	rec, found := s.byID[id]
	if !found && err == nil {
		// A token issued a moment ago works at once: an unknown id costs
		// a stat of the file, and a read only if it changed.
		err = s.refresh(true)
		rec, found = s.byID[id]
	}
	now := s.cfg.Now()
	s.mu.Unlock()
	if !found {
		if err != nil {
			return nil, fmt.Errorf("%w (and the token file could not be read: %w)", ErrBadToken, err)
		}
		return nil, ErrBadToken
	}
	sum := sha256.Sum256([]byte(token))
	want, _ := hex.DecodeString(rec.Hash)
	if subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return nil, ErrBadToken
	}
	switch {
	case rec.Revoked != nil:
		return nil, fmt.Errorf("%w: %s since %s", ErrRevoked, id, rec.Revoked.UTC().Format(time.RFC3339))
	case !now.Before(rec.Expires):
		return nil, fmt.Errorf("%w: %s at %s", ErrExpired, id, rec.Expires.UTC().Format(time.RFC3339))
	}
	return &Principal{ID: id, Method: "token", City: rec.City, Reader: rec.Reader, Roles: slices.Clone(rec.Roles)}, nil
}

// tokenID returns the id part of a well-formed token.
func tokenID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || !validID(id) || len(secret) != base64.RawURLEncoding.EncodedLen(32) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(secret); err != nil {
		return "", false
	}
	return id, true
}

// Issue makes a token for city with roles, valid for ttl (DefaultTTL if
// 0), records its hash in the file and returns the token, which is not
// kept anywhere else: hand it to the city system now.
func (s *TokenStore) Issue(city string, roles []Role, ttl time.Duration, note string) (string, TokenRecord, error) {
	if _, err := schemas.LookupCity(city); err != nil {
		return "", TokenRecord{}, fmt.Errorf("auth: %w", err)
	}
	if len(roles) == 0 {
		return "", TokenRecord{}, errors.New("auth: a token needs at least one role")
	}
	return s.issue(TokenRecord{City: city, Roles: roles}, ttl, note)
}

// IssueReader makes a read token for a named reader of the trust bundle
// (the gateway checks its grants on every read), like Issue.
func (s *TokenStore) IssueReader(reader string, ttl time.Duration, note string) (string, TokenRecord, error) {
	if !ValidReaderName(reader) {
		return "", TokenRecord{}, fmt.Errorf("auth: reader name %q: want lower-case letters, digits and '-', at most 32", reader)
	}
	return s.issue(TokenRecord{Reader: reader, Roles: []Role{RoleRead}}, ttl, note)
}

func (s *TokenStore) issue(rec TokenRecord, ttl time.Duration, note string) (string, TokenRecord, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 0 {
		return "", TokenRecord{}, fmt.Errorf("auth: token lifetime %v", ttl)
	}
	var idb [8]byte
	var secret [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", TokenRecord{}, fmt.Errorf("auth: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", TokenRecord{}, fmt.Errorf("auth: %w", err)
	}
	id := hex.EncodeToString(idb[:])
	token := TokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(token))
	now := s.cfg.Now().UTC().Truncate(time.Second)
	roles := slices.Clone(rec.Roles)
	slices.Sort(roles)
	rec.ID, rec.Roles, rec.Hash, rec.Note = id, slices.Compact(roles), hex.EncodeToString(sum[:]), note
	rec.Created, rec.Expires = now, now.Add(ttl)
	err := s.update(func(recs []TokenRecord) ([]TokenRecord, error) { return append(recs, rec), nil })
	if err != nil {
		return "", TokenRecord{}, err
	}
	return token, rec, nil
}

// ErrNoToken is returned by Revoke for an id the file does not hold.
var ErrNoToken = errors.New("auth: no such token")

// Revoke marks the token with id revoked; it stops authenticating within
// ReloadEvery in every gateway that reads the file.
func (s *TokenStore) Revoke(id string) error {
	return s.update(func(recs []TokenRecord) ([]TokenRecord, error) {
		i := slices.IndexFunc(recs, func(r TokenRecord) bool { return r.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("%w: %s", ErrNoToken, id)
		}
		if recs[i].Revoked == nil {
			now := s.cfg.Now().UTC().Truncate(time.Second)
			recs[i].Revoked = &now
		}
		return recs, nil
	})
}

// List returns the records, in the file's order.
func (s *TokenStore) List() ([]TokenRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(true); err != nil {
		return nil, err
	}
	recs, _, err := readTokenFile(s.path)
	return recs, err
}

// update rewrites the file under an exclusive lock with what change makes
// of its current records, and reloads the store.
func (s *TokenStore) update(change func([]TokenRecord) ([]TokenRecord, error)) error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	lock, err := os.OpenFile(s.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("auth: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	recs, _, err := readTokenFile(s.path)
	if err != nil {
		return err
	}
	if recs, err = change(recs); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(tokenFile{Version: tokenFileVersion, Tokens: recs}, "", "  ")
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := keys.WriteFileAtomic(s.path, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load()
}
