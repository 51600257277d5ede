package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

// DefaultTokenTTL is how long a token the neuron issues lives.
const DefaultTokenTTL = 5 * time.Minute

// maxTokenRequestBytes bounds a token request's form.
const maxTokenRequestBytes = 4 << 10

// maxWaitingChecks bounds the token requests waiting for a secret check:
// past it a request is refused at once with 429 rather than queued.
const maxWaitingChecks = 64

// Client is a caller that may get tokens from the neuron's token endpoint:
// its id, the bcrypt hash of its secret (never the secret), and the scopes
// its tokens may carry.
type Client struct {
	ID         string
	SecretHash string
	Scopes     []string
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	// Issuer and Audience go into every token (iss, aud); a Verifier of
	// the same neuron checks them.
	Issuer   string
	Audience string
	// TTL defaults to DefaultTokenTTL.
	TTL time.Duration
	// Key signs the tokens (EdDSA); see LoadOrCreateKey.
	Key     ed25519.PrivateKey
	Clients []Client
}

// Issuer is the token endpoint the registration advertises: the OAuth 2.0
// client credentials grant (RFC 6749, section 4.4), so that a caller
// without an identity provider can get a short-lived token for this
// neuron. Clients authenticate with HTTP Basic or the form's client_id and
// client_secret; the answer is RFC 6749's (access_token, token_type,
// expires_in, scope) or its error object.
//
// A secret check is a bcrypt comparison, tens of milliseconds of one core
// by design, so a flood of token requests could take every core from the
// processors. At most half the cores check secrets at once, at most
// maxWaitingChecks requests wait for their turn, and the rest get 429
// with Retry-After.
type Issuer struct {
	cfg     IssuerConfig
	clients map[string]Client
	now     func() time.Time
	checks  chan struct{} // a slot per secret check running
	waiting atomic.Int32  // requests waiting for a slot
}

// dummyHash is compared against when the client id is unknown, so that an
// unknown id costs what a known one does.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no client has this secret"), bcrypt.DefaultCost)

// NewIssuer checks cfg and returns its Issuer.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("token issuer: no signing key")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTokenTTL
	}
	iss := &Issuer{cfg: cfg, clients: map[string]Client{}, now: time.Now,
		checks: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	for _, c := range cfg.Clients {
		switch {
		case c.ID == "":
			return nil, errors.New("token issuer: a client has no id")
		case iss.clients[c.ID].ID != "":
			return nil, fmt.Errorf("token issuer: client %q is given twice", c.ID)
		}
		if _, err := bcrypt.Cost([]byte(c.SecretHash)); err != nil {
			return nil, fmt.Errorf("token issuer: client %q: secretHash is not a bcrypt hash (make one with `neuron auth hash-secret`): %w", c.ID, err)
		}
		iss.clients[c.ID] = c
	}
	return iss, nil
}

// Client secrets: at least MinSecretLen bytes, so that a secret is not
// guessed before the rate limits notice; at most MaxSecretLen, what bcrypt
// reads (it would silently ignore the rest). SecretCost is the bcrypt cost
// HashSecret uses: about a quarter of a second of one core.
const (
	MinSecretLen = 16
	MaxSecretLen = 72
	SecretCost   = 12
)

// HashSecret returns the bcrypt hash of a client secret, the value of
// auth.clients[].secretHash, or says why the secret will not do.
func HashSecret(secret []byte) (string, error) {
	if n := len(secret); n < MinSecretLen || n > MaxSecretLen {
		return "", fmt.Errorf("a client secret of %d bytes: it must have %d to %d (make one with `openssl rand -base64 32`)", n, MinSecretLen, MaxSecretLen)
	}
	h, err := bcrypt.GenerateFromPassword(secret, SecretCost)
	return string(h), err
}

// PublicKey is the key a Verifier trusts for this issuer's tokens.
func (iss *Issuer) PublicKey() ed25519.PublicKey {
	return iss.cfg.Key.Public().(ed25519.PublicKey)
}

// ServeHTTP answers a token request.
func (iss *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST with an application/x-www-form-urlencoded body")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "the body must be a form of at most 4 KiB")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c, ok := iss.clients[id]
	hash := []byte(c.SecretHash)
	if !ok {
		hash = dummyHash
	}
	if !iss.startCheck(r) {
		w.Header().Set("Retry-After", "1")
		tokenError(w, http.StatusTooManyRequests, "temporarily_unavailable", "too many token requests at once; retry after the Retry-After delay")
		return
	}
	wrong := bcrypt.CompareHashAndPassword(hash, []byte(secret)) != nil
	<-iss.checks
	if wrong || !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="neuron token endpoint"`)
		tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	scopes := c.Scopes
	if asked := strings.Fields(r.PostForm.Get("scope")); len(asked) > 0 {
		for _, s := range asked {
			if !slices.Contains(c.Scopes, s) {
				tokenError(w, http.StatusBadRequest, "invalid_scope", fmt.Sprintf("scope %q is not granted to this client", s))
				return
			}
		}
		scopes = asked
	}
	now := iss.now()
	claims := jwt.MapClaims{"iss": iss.cfg.Issuer, "sub": c.ID, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(iss.cfg.TTL).Unix(), "scope": strings.Join(scopes, " ")}
	if iss.cfg.Audience != "" {
		claims["aud"] = iss.cfg.Audience
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(iss.cfg.Key)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "the token could not be signed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer",
		"expires_in": int(iss.cfg.TTL.Seconds()), "scope": strings.Join(scopes, " ")})
}

// startCheck takes a slot for one secret check, waiting for it unless
// maxWaitingChecks requests already wait or r is abandoned; the caller
// gives the slot back with <-iss.checks once it took one.
func (iss *Issuer) startCheck(r *http.Request) bool {
	select {
	case iss.checks <- struct{}{}:
		return true
	default:
	}
	if iss.waiting.Add(1) > maxWaitingChecks {
		iss.waiting.Add(-1)
		return false
	}
	defer iss.waiting.Add(-1)
	select {
	case iss.checks <- struct{}{}:
		return true
	case <-r.Context().Done():
		return false
	}
}

// tokenError writes RFC 6749's error object (section 5.2).
func tokenError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// LoadOrCreateKey returns the Ed25519 key kept at path (a raw 64-byte
// private key, mode 0600), creating it on first use, so that tokens
// issued before a restart still verify after it.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	case err == nil:
		return nil, fmt.Errorf("signing key %s: %d bytes, want %d (delete it to make a new one; tokens issued with it stop verifying)", path, len(b), ed25519.PrivateKeySize)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("signing key: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if err := atomicfile.Write(path, key); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}
