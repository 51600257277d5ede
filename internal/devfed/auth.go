package devfed

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/empirefederation/neuron/internal/devfed/store"
)

// tokenLeeway is how long past its exp a token is still accepted: exp and
// iat are whole seconds (jwt.TimePrecision), so a token issued at 10.7 s
// with a 2 s lifetime says exp 12; one second of leeway gives every token
// at least its full lifetime, and the neuron, which renews within the
// lifetime exp-iat states, never sees its token lapse early.
const tokenLeeway = time.Second

// sign issues a neuron token: a JWT (HS256, key DataDir/token.key) whose
// subject is the neuron id and whose jti is the registration's id, expiring
// TokenTTL after at (no exp when TokenTTL is NoExpiry). A newer
// registration of the id revokes it before that.
func (s *Server) sign(neuronID, registrationID string, at time.Time) (string, error) {
	claims := jwt.RegisteredClaims{Subject: neuronID, ID: registrationID, IssuedAt: jwt.NewNumericDate(at)}
	if s.opts.TokenTTL > 0 {
		claims.ExpiresAt = jwt.NewNumericDate(claims.IssuedAt.Add(s.opts.TokenTTL))
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.secret)
	if err != nil {
		return "", fmt.Errorf("sign token for %s: %w", neuronID, err)
	}
	return signed, nil
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	return tok, found && tok != ""
}

// authNeuron checks the request's bearer: a token this federation signed,
// for a registered neuron, from its current registration. It returns the
// neuron, or a 401 saying what to do.
func (s *Server) authNeuron(r *http.Request) (store.Neuron, error) {
	raw, found := bearer(r)
	if !found {
		return store.Neuron{}, unauthorized("send Authorization: Bearer TOKEN with the token POST /api/neuron/register returned in data.token")
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithTimeFunc(s.now), jwt.WithLeeway(tokenLeeway))
	if errors.Is(err, jwt.ErrTokenExpired) && claims.ExpiresAt != nil {
		return store.Neuron{}, unauthorized(fmt.Sprintf("the token expired at %s: register again with POST /api/neuron/register, "+
			"presenting it as Authorization: Bearer TOKEN to keep the id (renew before exp to never see this)", claims.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	if err != nil || claims.Subject == "" || claims.ID == "" {
		return store.Neuron{}, unauthorized("the token is not one this federation issued (or its data directory changed): register again with POST /api/neuron/register")
	}
	var n store.Neuron
	err = s.db.View(r.Context(), func(tx *store.Tx) error {
		var err error
		n, found, err = tx.Neuron(claims.Subject)
		return err
	})
	switch {
	case err != nil:
		return store.Neuron{}, err
	case !found:
		return store.Neuron{}, unauthorized(fmt.Sprintf("neuron %q is not registered here: register again with POST /api/neuron/register", claims.Subject))
	case n.RegistrationID != claims.ID:
		return store.Neuron{}, unauthorized(fmt.Sprintf("the token was revoked: neuron %q registered again since (at %s, from %s); "+
			"register again to get a current token, or if another process took this id, give this one another NEURON_ID",
			n.ID, n.RegisteredAt.Format(time.RFC3339), n.Instance))
	}
	return n, nil
}

// authAdmin checks the admin bearer in constant time.
func (s *Server) authAdmin(r *http.Request) error {
	tok, found := bearer(r)
	if !found || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.AdminToken)) != 1 {
		return unauthorized("send Authorization: Bearer ADMIN_TOKEN with the admin token `neuron federation serve` printed (or was given with --admin-token / FEDERATION_ADMIN_TOKEN)")
	}
	return nil
}

// newID returns prefix followed by n random bytes in hex.
func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + hex.EncodeToString(b)
}
