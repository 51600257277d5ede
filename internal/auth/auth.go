// Package auth verifies the bearer tokens of the callers of processor
// endpoints: JSON Web Tokens signed with a shared secret (HS256) or a
// public key (RS256, ES256, EdDSA) configured in files or published at a
// JWKS URL, which is fetched, cached and refreshed when a token names a key
// it does not know. A token is accepted only when its algorithm is one a
// configured key is for, its signature verifies with that key, it has not
// expired and is already valid (with a small leeway for clocks), and its
// issuer and audience are the configured ones. What a verified token yields
// is a Caller: its subject and scopes, never the token.
//
// It verifies and nothing else: it must not decide which endpoints need a
// token (the request path does, from the manifest), nor issue tokens.
package auth

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults of Config's zero fields.
const (
	// DefaultLeeway is how far expiry and not-before may be off, for the
	// clocks of the issuer and the neuron.
	DefaultLeeway = 30 * time.Second
	// DefaultMaxTokenBytes bounds a token before anything of it is
	// decoded: a bearer larger than this is refused at once.
	DefaultMaxTokenBytes = 8 << 10
	// DefaultJWKSRefresh is how often the JWKS is fetched again.
	DefaultJWKSRefresh = time.Hour
	// DefaultJWKSUnknownKeyRefresh is how often, at most, a token naming a
	// key the JWKS does not hold makes it fetched again (a rotation):
	// more often than that, such tokens are refused without a fetch.
	DefaultJWKSUnknownKeyRefresh = time.Minute
	// MinSecretBytes is the shortest HS256 secret accepted (RFC 7518,
	// section 3.2: a key at least as long as the hash).
	MinSecretBytes = 32
)

// unknownKeyWait is the longest a token naming an unknown key waits for
// the JWKS's next fetch to be allowed; past it the token is refused
// without a fetch (rate.Limiter.Wait fails at once when the wait would be
// longer).
const unknownKeyWait = 100 * time.Millisecond

// Config configures a Verifier. At least one of Secret, Keys and JWKSURL
// is set.
type Config struct {
	// Issuer and Audience, when set, must be the token's iss and one of
	// its aud.
	Issuer   string
	Audience string
	// Leeway defaults to DefaultLeeway.
	Leeway time.Duration
	// Secret is the HS256 shared secret, at least MinSecretBytes.
	Secret []byte
	// Keys are public keys (*rsa.PublicKey for RS256, *ecdsa.PublicKey on
	// P-256 for ES256, ed25519.PublicKey for EdDSA); see ParsePublicKeys.
	Keys []crypto.PublicKey
	// JWKSURL is where a JSON Web Key Set is published; its keys are used
	// by "kid". JWKSRefresh and JWKSUnknownKeyRefresh default to
	// DefaultJWKSRefresh and DefaultJWKSUnknownKeyRefresh.
	JWKSURL               string
	JWKSRefresh           time.Duration
	JWKSUnknownKeyRefresh time.Duration
	// Client fetches the JWKS; default a client with a 10 s timeout.
	Client *http.Client
	// MaxTokenBytes defaults to DefaultMaxTokenBytes.
	MaxTokenBytes int
	// Log receives JWKS fetch failures.
	Log *slog.Logger
}

// Caller is who a verified token says calls: its subject, and the scopes
// it grants (the "scope" claim, space-separated, or "scp", a list).
type Caller struct {
	Subject string
	Scopes  []string
}

// HasScopes reports whether c was granted every one of scopes.
func (c Caller) HasScopes(scopes []string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// Error is a token refused, with what was wrong in words fit for the
// caller (the error_description of WWW-Authenticate): never the token.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// Verifier verifies bearer tokens. Its methods are safe for concurrent use.
type Verifier struct {
	cfg     Config
	methods []string                         // the algorithms a configured key is for
	jwks    jwt.Keyfunc                      // nil without JWKSURL
	keys    map[string][]jwt.VerificationKey // static keys by algorithm
	parser  *jwt.Parser
}

// New checks cfg and returns its Verifier. With a JWKSURL, the set is
// fetched in the background until ctx ends; a first fetch that fails is
// logged and retried, and tokens naming its keys are refused meanwhile.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MaxTokenBytes <= 0 {
		cfg.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	v := &Verifier{cfg: cfg, keys: map[string][]jwt.VerificationKey{}}
	if len(cfg.Secret) > 0 {
		if len(cfg.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("the HS256 secret is %d bytes: it must be at least %d (make one with `openssl rand -base64 48`)", len(cfg.Secret), MinSecretBytes)
		}
		v.keys[jwt.SigningMethodHS256.Alg()] = []jwt.VerificationKey{cfg.Secret}
	}
	for i, k := range cfg.Keys {
		alg, err := algorithmOf(k)
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i+1, err)
		}
		v.keys[alg] = append(v.keys[alg], k)
	}
	for alg := range v.keys {
		v.methods = append(v.methods, alg)
	}
	if cfg.JWKSURL != "" {
		kf, err := newJWKS(ctx, cfg)
		if err != nil {
			return nil, err
		}
		v.jwks = kf
		for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
			if !slices.Contains(v.methods, alg) {
				v.methods = append(v.methods, alg)
			}
		}
	}
	if len(v.methods) == 0 {
		return nil, errors.New("no key to verify tokens with: set a secret (HS256), public keys, or a JWKS URL")
	}
	slices.Sort(v.methods)
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.methods), jwt.WithLeeway(cfg.Leeway), jwt.WithExpirationRequired()}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// newJWKS starts the fetching of cfg's JWKS.
func newJWKS(ctx context.Context, cfg Config) (jwt.Keyfunc, error) {
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	refresh := cmp.Or(cfg.JWKSRefresh, DefaultJWKSRefresh)
	unknown := cmp.Or(cfg.JWKSUnknownKeyRefresh, DefaultJWKSUnknownKeyRefresh)
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:          client,
		RefreshInterval: refresh,
		// A token naming an unknown key fetches the set again at most this
		// often; one that would wait longer than unknownKeyWait for its
		// turn is refused at once.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknown), 1),
		RateLimitWaitMax:  unknownKeyWait,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				cfg.Log.Error("JWKS not fetched; tokens signed with keys it has not given yet are refused", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", cfg.JWKSURL, err)
	}
	return kf.Keyfunc, nil
}

// FromRequest verifies the bearer token of r's Authorization header.
func (v *Verifier) FromRequest(r *http.Request) (Caller, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return Caller{}, &Error{Reason: "a bearer token is required"}
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Caller{}, &Error{Reason: "the Authorization header must be: Bearer TOKEN"}
	}
	return v.Verify(r.Context(), strings.TrimSpace(token))
}

// Verify verifies token and returns who it names. A refused token is an
// *Error.
func (v *Verifier) Verify(ctx context.Context, token string) (Caller, error) {
	if len(token) > v.cfg.MaxTokenBytes {
		return Caller{}, &Error{Reason: fmt.Sprintf("the token is larger than %d bytes", v.cfg.MaxTokenBytes)}
	}
	if strings.Count(token, ".") != 2 {
		return Caller{}, &Error{Reason: "the token is not a JWT (three dot-separated parts)"}
	}
	var claims tokenClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return Caller{}, &Error{Reason: reason(err)}
	}
	if claims.Subject == "" {
		return Caller{}, &Error{Reason: "the token has no subject (sub)"}
	}
	return Caller{Subject: claims.Subject, Scopes: claims.scopes()}, nil
}

// key returns the keys that may have signed t: the JWKS key it names by
// kid, else every configured key for its algorithm. The algorithm was
// checked against the configured ones already (WithValidMethods), and each
// key is only for its own: an RSA public key is never an HS256 secret.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if _, named := t.Header["kid"]; named && v.jwks != nil && alg != jwt.SigningMethodHS256.Alg() {
		return v.jwks(t)
	}
	keys := v.keys[alg]
	if len(keys) == 0 && v.jwks != nil && alg != jwt.SigningMethodHS256.Alg() {
		return v.jwks(t)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key is configured for %s", alg)
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// tokenClaims are the claims read from a token.
type tokenClaims struct {
	jwt.RegisteredClaims
	Scope string   `json:"scope,omitempty"`
	Scp   []string `json:"scp,omitempty"`
}

func (c tokenClaims) scopes() []string {
	out := slices.Clone(c.Scp)
	for _, s := range strings.Fields(c.Scope) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// reason says why a token was refused, from the parser's error, in words
// that tell the caller what to fix and nothing of the keys.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's signature does not verify with a key this neuron trusts, for its algorithm"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim (exp)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token's issuer (iss) is not the one this neuron trusts"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token's audience (aud) is not this neuron's"
	}
	return "the token was refused"
}

// algorithmOf is the one algorithm a public key verifies.
func algorithmOf(k crypto.PublicKey) (string, error) {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("an RSA key of %d bits: at least 2048 are needed", k.N.BitLen())
		}
		return jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("an ECDSA key on %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256.Alg(), nil
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA.Alg(), nil
	}
	return "", fmt.Errorf("a %T: want an RSA (RS256), P-256 ECDSA (ES256) or Ed25519 (EdDSA) public key", k)
}
