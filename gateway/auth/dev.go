package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/baybus/baybus/schemas/keys"
)

// ClientsDir is the folder of a data or consortium directory that holds
// the token file and the development tokens.
const ClientsDir = "clients"

// TokenFile is the token file's name inside ClientsDir.
const TokenFile = "tokens.json"

// TokenPath returns where a data or consortium directory keeps its token
// file.
func TokenPath(dir string) string { return filepath.Join(dir, ClientsDir, TokenFile) }

// DevTokenPath returns where EnsureDevTokens keeps a city's token.
func DevTokenPath(dir, city string) string { return filepath.Join(dir, ClientsDir, city+".token") }

// DevTokenTTL is the lifetime of a development token.
const DevTokenTTL = 365 * 24 * time.Hour

// EnsureDevTokens gives each city a development token (publish and read)
// in DATA/clients/<city>.token (0600), recorded in DATA/clients/tokens.json,
// for `baybus up` and its README examples. A city whose token file already
// holds a token that still authenticates keeps it; one that is missing,
// expired or revoked gets a new one. It returns the clients directory.
func EnsureDevTokens(dir string, cities []string, cfg TokenConfig) (string, error) {
	store, err := OpenTokens(TokenPath(dir), cfg)
	if err != nil {
		return "", err
	}
	for _, city := range cities {
		path := DevTokenPath(dir, city)
		raw, err := os.ReadFile(path)
		switch {
		case err == nil:
			if p, err := store.Check(strings.TrimSpace(string(raw))); err == nil && p.City == city {
				continue
			}
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("auth: %w", err)
		}
		tok, _, err := store.Issue(city, []Role{RolePublish, RoleRead}, DevTokenTTL, "development token made by baybus up")
		if err != nil {
			return "", err
		}
		if err := keys.WriteFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("auth: %w", err)
		}
	}
	return filepath.Join(dir, ClientsDir), nil
}
