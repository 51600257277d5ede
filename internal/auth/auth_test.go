package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

const (
	issuer   = "https://issuer.test"
	audience = "neuron"
)

// keys are the signing keys of the tests, made once.
var keys = sync.OnceValue(func() (k struct {
	secret []byte
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	ec2    *ecdsa.PrivateKey // the JWKS's key after a rotation
	other  *ecdsa.PrivateKey // trusted by nobody
	ed     ed25519.PrivateKey
}) {
	k.secret = []byte("a shared secret of at least thirty-two bytes")
	k.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	k.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.ec2, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.other, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
	return k
})

// jwksServer publishes a JWK Set whose keys set replaces.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// set publishes the ES256 keys by kid.
func (s *jwksServer) set(t *testing.T, byKID map[string]*ecdsa.PrivateKey) {
	t.Helper()
	store := jwkset.NewMemoryStorage()
	for kid, k := range byKID {
		jwk, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgES256, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.KeyWrite(context.Background(), jwk); err != nil {
			t.Fatal(err)
		}
	}
	b, err := store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

// claims are a valid token's claims, changed by with.
func claims(with func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "client-7", "scope": "read write",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	if with != nil {
		with(c)
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forge builds a token with any header, signed with HMAC-SHA256 under
// secret, or unsigned when secret is nil: what an attacker can write.
func forge(header map[string]any, c jwt.MapClaims, secret []byte) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	signing := enc(header) + "." + enc(c)
	if secret == nil {
		return signing + "."
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func pemPublic(t testing.TB, k crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Tokens signed with each configured kind of key are accepted, and yield
// their subject and scopes.
func TestVerify_Accepts(t *testing.T) {
	k := keys()
	jwks := newJWKSServer(t)
	jwks.set(t, map[string]*ecdsa.PrivateKey{"k1": k.ec})
	v := newVerifier(t, Config{Issuer: issuer, Audience: audience, Secret: k.secret,
		Keys: []crypto.PublicKey{&k.rsa.PublicKey, k.ed.Public()}, JWKSURL: jwks.URL})
	for name, tok := range map[string]string{
		"HS256":        sign(t, jwt.SigningMethodHS256, k.secret, "", claims(nil)),
		"RS256":        sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(nil)),
		"EdDSA":        sign(t, jwt.SigningMethodEdDSA, k.ed, "", claims(nil)),
		"ES256 (JWKS)": sign(t, jwt.SigningMethodES256, k.ec, "k1", claims(nil)),
		"scp as a list": sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c jwt.MapClaims) {
			delete(c, "scope")
			c["scp"] = []string{"read", "write"}
		})),
		"within the leeway": sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-10 * time.Second).Unix()
		})),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != "client-7" || !c.HasScopes([]string{"read", "write"}) || c.HasScopes([]string{"admin"}) {
				t.Errorf("caller %+v", c)
			}
		})
	}
}

// The attack corpus: every token is refused with an *Error that says why,
// whatever key configuration it meets.
func TestVerify_AttackCorpus(t *testing.T) {
	k := keys()
	jwks := newJWKSServer(t)
	jwks.set(t, map[string]*ecdsa.PrivateKey{"k1": k.ec})
	rsaPEM := pemPublic(t, &k.rsa.PublicKey)
	withHS := newVerifier(t, Config{Issuer: issuer, Audience: audience, Secret: k.secret, Keys: []crypto.PublicKey{&k.rsa.PublicKey}, JWKSURL: jwks.URL})
	rsaOnly := newVerifier(t, Config{Issuer: issuer, Audience: audience, Keys: []crypto.PublicKey{&k.rsa.PublicKey}})
	valid := claims(nil)
	tests := []struct {
		name, token, want string
	}{
		{"alg none", forge(map[string]any{"alg": "none", "typ": "JWT"}, valid, nil), "signature"},
		{"alg None", forge(map[string]any{"alg": "None", "typ": "JWT"}, valid, nil), "signature"},
		{"HS256 signed with the RSA public key", forge(map[string]any{"alg": "HS256", "typ": "JWT"}, valid, rsaPEM), "signature"},
		{"HS256 signed with the RSA key's DER", forge(map[string]any{"alg": "HS256", "typ": "JWT"}, valid, must(x509.MarshalPKIXPublicKey(&k.rsa.PublicKey))), "signature"},
		{"RS256 header, HMAC signature", forge(map[string]any{"alg": "RS256", "typ": "JWT"}, valid, rsaPEM), "signature"},
		{"a key nobody trusts", sign(t, jwt.SigningMethodES256, k.other, "", valid), "signature"},
		{"an unknown kid", sign(t, jwt.SigningMethodES256, k.other, "nope", valid), "signature"},
		{"a known kid, another key", sign(t, jwt.SigningMethodES256, k.other, "k1", valid), "signature"},
		{"expired", sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), "expired"},
		{"not valid yet", sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), "not valid yet"},
		{"no expiry", sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(func(c jwt.MapClaims) { delete(c, "exp") })), "exp"},
		{"wrong issuer", sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })), "issuer"},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(func(c jwt.MapClaims) { c["aud"] = "another-service" })), "audience"},
		{"no subject", sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(func(c jwt.MapClaims) { delete(c, "sub") })), "subject"},
		{"extra dots", sign(t, jwt.SigningMethodRS256, k.rsa, "", valid) + ".x", "not a JWT"},
		{"two dots only", "..", "malformed"},
		{"garbage", "not.a.token", "malformed"},
		{"oversized", sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 9<<10) })), "larger than"},
	}
	for _, v := range []struct {
		name string
		v    *Verifier
	}{{"with an HS256 secret", withHS}, {"RSA key only", rsaOnly}} {
		for _, tc := range tests {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				c, err := v.v.Verify(context.Background(), tc.token)
				var ae *Error
				if !errors.As(err, &ae) {
					t.Fatalf("accepted as %+v (err %v)", c, err)
				}
				if !strings.Contains(ae.Reason, tc.want) && !(v.v == rsaOnly && strings.Contains(ae.Reason, "signature")) {
					t.Errorf("reason %q, want it to mention %q", ae.Reason, tc.want)
				}
			})
		}
	}
}

// A JWKS rotation: once the set publishes a new key, a token naming it is
// accepted (the unknown kid fetches the set again), and one naming the key
// it dropped is refused.
func TestVerify_JWKSRotation(t *testing.T) {
	k := keys()
	jwks := newJWKSServer(t)
	jwks.set(t, map[string]*ecdsa.PrivateKey{"k1": k.ec})
	v := newVerifier(t, Config{Issuer: issuer, Audience: audience, JWKSURL: jwks.URL, JWKSUnknownKeyRefresh: time.Millisecond})
	if _, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodES256, k.ec, "k1", claims(nil))); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	jwks.set(t, map[string]*ecdsa.PrivateKey{"k2": k.ec2})
	if _, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodES256, k.ec2, "k2", claims(nil))); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if c, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodES256, k.ec, "k1", claims(nil))); err == nil {
		t.Fatalf("the dropped key still verifies: %+v", c)
	}
}

// The Authorization header: a bearer token, or a refusal that says what
// the header must be.
func TestFromRequest(t *testing.T) {
	k := keys()
	v := newVerifier(t, Config{Secret: k.secret})
	good := sign(t, jwt.SigningMethodHS256, k.secret, "", claims(nil))
	for _, tc := range []struct{ header, want string }{
		{"", "a bearer token is required"},
		{"Basic dXNlcjpwYXNz", "Bearer TOKEN"},
		{"Bearer", "Bearer TOKEN"},
		{"bearer " + good, ""},
		{"Bearer " + good, ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		_, err := v.FromRequest(r)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%.20q: %v, want %q", tc.header, err, tc.want)
		}
	}
}

// Configurations that cannot verify safely are refused with what to do.
func TestNew_Refuses(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{}, "no key to verify tokens with"},
		{"a short secret", Config{Secret: []byte("short")}, "at least 32"},
		{"a small RSA key", Config{Keys: []crypto.PublicKey{&small.PublicKey}}, "at least 2048"},
		{"a P-384 key", Config{Keys: []crypto.PublicKey{&p384.PublicKey}}, "ES256 needs P-256"},
	} {
		if _, err := New(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// ParsePublicKeys reads public keys and certificates, and refuses a
// private key.
func TestParsePublicKeys(t *testing.T) {
	k := keys()
	dir := t.TempDir()
	pub := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pub, append(pemPublic(t, &k.rsa.PublicKey), pemPublic(t, k.ed.Public())...), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ParsePublicKeys(pub)
	if err != nil || len(got) != 2 {
		t.Fatalf("%d keys, %v", len(got), err)
	}
	priv := filepath.Join(dir, "priv.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePublicKeys(priv); err == nil || !strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("a private key: %v", err)
	}
}

// BenchmarkVerify: what a token costs, accepted or refused. The refusals
// must stay far below a guest call (microseconds): they are what an
// attacker can send as fast as the network allows.
func BenchmarkVerify(b *testing.B) {
	k := keys()
	v := newVerifier(b, Config{Issuer: issuer, Audience: audience, Secret: k.secret, Keys: []crypto.PublicKey{&k.ec.PublicKey, k.ed.Public()}})
	for name, tok := range map[string]string{
		"HS256":                 sign(b, jwt.SigningMethodHS256, k.secret, "", claims(nil)),
		"ES256":                 sign(b, jwt.SigningMethodES256, k.ec, "", claims(nil)),
		"EdDSA":                 sign(b, jwt.SigningMethodEdDSA, k.ed, "", claims(nil)),
		"refused/alg none":      forge(map[string]any{"alg": "none"}, claims(nil), nil),
		"refused/expired":       sign(b, jwt.SigningMethodHS256, k.secret, "", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"refused/bad signature": sign(b, jwt.SigningMethodES256, k.other, "", claims(nil)),
		"refused/oversized":     strings.Repeat("a", 64<<10),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = v.Verify(context.Background(), tok)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzVerify: whatever a caller sends as a token, Verify answers without
// panicking, and accepts only what the configured secret signed: a token
// it accepts verifies again with the same subject.
func FuzzVerify(f *testing.F) {
	k := keys()
	v := newVerifier(f, Config{Issuer: issuer, Audience: audience, Secret: k.secret})
	f.Add(sign(f, jwt.SigningMethodHS256, k.secret, "", claims(nil)))
	f.Add(forge(map[string]any{"alg": "none"}, claims(nil), nil))
	f.Add(forge(map[string]any{"alg": "HS256"}, claims(nil), []byte("guess")))
	f.Add("..")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("a refusal that is not an *Error: %v", err)
			}
			return
		}
		parts := strings.Split(token, ".")
		mac := hmac.New(sha256.New, k.secret)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		if !hmac.Equal(sig, mac.Sum(nil)) || c.Subject == "" {
			t.Fatalf("accepted %q as %+v without the secret's signature", token, c)
		}
	})
}
