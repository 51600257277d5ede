package federation

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Renewal of an expiring token. A token with an exp is renewed by
// registering again (presenting it, as every registration does) once
// renewShare of its lifetime has passed, ±renewJitter: the lifetime left
// (a third) gives the retries of a failing renewal time before the token
// lapses, and the jitter keeps a fleet registered together from renewing
// together. Calls keep the current token until the new one replaces it, so
// renewing leaves no gap; a renewal that fails until the token lapses ends
// in the 401 path (Session.Do).
const (
	renewShare  = 2.0 / 3
	renewJitter = 0.1
	// minRenewal bounds how often an expiring token is renewed: a
	// federation issuing tokens of a second or less is not renewed ahead
	// more than once a second.
	minRenewal = time.Second
)

// tokenTimes returns the "iat" (zero when absent) and "exp" claims of
// token if it is a JWT with an exp, read without verifying it: only the
// federation holds its key.
func tokenTimes(token string) (iat, exp time.Time, ok bool) {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil || claims.ExpiresAt == nil {
		return time.Time{}, time.Time{}, false
	}
	if claims.IssuedAt != nil {
		iat = claims.IssuedAt.UTC()
	}
	return iat, claims.ExpiresAt.UTC(), true
}

// renewalTime returns when to renew token, received at now (this neuron's
// clock), or the zero time when it is not renewed ahead: it has no exp, or
// it had expired when issued. The lifetime is exp-iat, both on the
// federation's clock, so that a skew between the two clocks does not move
// the renewal; without iat it is exp-now.
func renewalTime(token string, now time.Time) time.Time {
	iat, exp, ok := tokenTimes(token)
	if !ok {
		return time.Time{}
	}
	if iat.IsZero() {
		iat = now
	}
	lifetime := exp.Sub(iat)
	if lifetime <= 0 {
		return time.Time{}
	}
	return now.Add(max(Jitter(time.Duration(float64(lifetime)*renewShare), renewJitter), minRenewal))
}
