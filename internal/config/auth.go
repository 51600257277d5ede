package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Modes of Auth.Mode.
const (
	// AuthNone takes calls of processor endpoints from anyone: the quick
	// start. The registration says so.
	AuthNone = "none"
	// AuthJWT takes calls only with a verified bearer token (see
	// internal/auth), except on endpoints a manifest marks public.
	AuthJWT = "jwt"
)

// Auth is how the callers of processor endpoints authenticate (the
// "auth" block). See docs/security.md.
type Auth struct {
	// Mode is AuthNone (the default) or AuthJWT.
	Mode string `koanf:"mode"`
	// Issuer and Audience are what a token's iss and aud must be; the
	// tokens the neuron issues carry them. Audience defaults to the
	// neuron's id, Issuer to its base URL.
	Issuer   string `koanf:"issuer"`
	Audience string `koanf:"audience"`
	// Leeway is how far exp and nbf may be off (default 30s).
	Leeway time.Duration `koanf:"leeway"`
	// SecretFile holds the HS256 shared secret, at least 32 bytes.
	SecretFile string `koanf:"secretFile"`
	// PublicKeys are PEM files of public keys or certificates (RS256,
	// ES256, EdDSA).
	PublicKeys []string `koanf:"publicKeys"`
	// JWKSURL is where the issuer publishes its keys.
	JWKSURL string `koanf:"jwksUrl"`
	// TokenTTL is how long a token of the neuron's own token endpoint
	// lives (default 5m).
	TokenTTL time.Duration `koanf:"tokenTTL"`
	// Clients may get tokens from the neuron's token endpoint,
	// POST /auth/token, which exists only when some are configured.
	Clients []AuthClient `koanf:"clients"`
}

// AuthClient is a client of the token endpoint: its id, the bcrypt hash
// of its secret, the scopes its tokens may carry.
type AuthClient struct {
	ID         string   `koanf:"id"`
	SecretHash string   `koanf:"secretHash"`
	Scopes     []string `koanf:"scopes"`
}

// authSchema describes the auth block.
var authSchema = &node{fields: map[string]*node{
	"mode":       {leaf: str(false, checkAuthMode)},
	"issuer":     {leaf: str(true, nil)},
	"audience":   {leaf: str(true, nil)},
	"leeway":     {leaf: duration(false)},
	"secretFile": {leaf: str(true, nil)},
	"publicKeys": {leaf: list(func(s string) (string, error) { return strings.TrimSpace(s), nil })},
	"jwksUrl":    {leaf: str(true, checkHTTPURL)},
	"tokenTTL":   {leaf: duration(true)},
	"clients": {items: &node{fields: map[string]*node{
		"id":         {leaf: str(false, checkName("id"))},
		"secretHash": {leaf: str(false, checkSecretHash)},
		"scopes":     {leaf: list(checkScope)},
	}}},
}, check: checkAuth}

func checkAuthMode(s string) (string, error) {
	switch m := strings.ToLower(s); m {
	case AuthNone, AuthJWT:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q, want %q or %q", s, AuthNone, AuthJWT)
}

// checkSecretHash accepts a bcrypt hash, never a secret: the neuron keeps
// nothing a stolen config file could call with.
func checkSecretHash(s string) (string, error) {
	if !strings.HasPrefix(s, "$2a$") && !strings.HasPrefix(s, "$2b$") && !strings.HasPrefix(s, "$2y$") || len(s) != 60 {
		return "", errors.New("must be a bcrypt hash ($2b$..., 60 characters), not the secret: make one with `neuron auth hash-secret`")
	}
	return s, nil
}

func checkScope(s string) (string, error) {
	if s == "" || len(s) > 64 || strings.ContainsAny(s, " \"\\") {
		return "", fmt.Errorf("scope %q: use 1-64 characters without spaces, quotes or backslashes", s)
	}
	return s, nil
}

// checkAuth checks the block as a whole: jwt needs something to verify
// with, and none takes no settings that would suggest otherwise.
func checkAuth(v any, report func(string, error)) any {
	m := v.(map[string]any)
	mode, _ := m["mode"].(string)
	keyed := false
	for _, k := range []string{"secretFile", "publicKeys", "jwksUrl", "clients"} {
		if x, ok := m[k]; ok && !empty(x) {
			keyed = true
			if mode != AuthJWT {
				report("."+k, errors.New("is set but auth.mode is not jwt: set auth.mode: jwt (NEURON_AUTH_MODE=jwt) or remove it"))
			}
		}
	}
	if mode == AuthJWT && !keyed {
		report(".mode", errors.New("jwt needs a key to verify tokens with: set auth.secretFile, auth.publicKeys or auth.jwksUrl, or auth.clients for the neuron's own token endpoint"))
	}
	return m
}

func empty(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case []string:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return v == nil
}
