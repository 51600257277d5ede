package federation

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"sync"
	"time"
)

// Registration reasons, passed to the Session's registration hook and
// reported in the "federation_registered" event.
const (
	reasonBoot         = "boot"
	reasonChanged      = "changed"
	reasonUnauthorized = "unauthorized"
	reasonRenewal      = "renewal"
)

// Session holds the token the federation issued and the registration it was
// issued for, and renews the token when the federation refuses it; when the
// token expires, it also says when to renew it ahead (the Link does). Each
// registration presents the token held until then (the federation requires
// it to register a live id again: see Client.Register). It is safe for
// concurrent use.
//
// # Notes
//
// Registrations are serialised, and each one bumps a generation counter. A
// caller whose call was refused with 401 re-registers only if the token it
// used is still the current one, so a burst of concurrent 401s causes
// exactly one re-registration. See Do.
type Session struct {
	client *Client
	source func() Registration
	// onRegister, when set, is called after each successful registration
	// with the new token, the generation and the reason.
	onRegister func(token string, gen uint64, reason string)

	regMu sync.Mutex // held for the whole of a registration

	mu    sync.Mutex // guards the fields below
	token string
	// prior is the token of an earlier run (see LinkOptions.TokenFile),
	// presented at the first registration to prove this is the instance
	// holding the id; later registrations present token.
	prior string
	gen   uint64 // 0 until the first registration succeeds
	sent  []byte // the encoded Registration the current token was issued for
	// renewAt is when to renew the token ahead of its exp (see
	// renewalTime); zero when it has no exp.
	renewAt time.Time
}

// NewSession returns a Session that registers with c, sending what source
// returns at the time of each registration.
func NewSession(c *Client, source func() Registration) *Session {
	return &Session{client: c, source: source}
}

// Token returns the current token, or "" before the first registration.
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Registered reports whether a registration has succeeded.
func (s *Session) Registered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen > 0
}

// Changed reports whether the registration source now returns something
// other than what the current token was issued for (compared as encoded
// JSON). Before the first registration it reports true.
func (s *Session) Changed() bool {
	now, err := json.Marshal(s.source())
	s.mu.Lock()
	defer s.mu.Unlock()
	return err != nil || s.gen == 0 || !bytes.Equal(now, s.sent)
}

// Register registers now with the source's current Registration and makes
// the token issued the current one.
func (s *Session) Register(ctx context.Context) error {
	return s.register(ctx, reasonBoot, nil)
}

// Do calls fn with the current token, registering first if the session has
// never registered. When fn fails with 401 (see Unauthorized), Do
// re-registers once, unless a concurrent caller already renewed the token
// fn used, and calls fn again with the new token; a second 401 is returned
// as is. When re-registering fails, Do returns the registration's error (an
// *Error with Op OpRegister).
func (s *Session) Do(ctx context.Context, fn func(ctx context.Context, token string) error) error {
	token, gen := s.current()
	if gen == 0 {
		if err := s.register(ctx, reasonBoot, &gen); err != nil {
			return err
		}
		token, gen = s.current()
	}
	err := fn(ctx, token)
	if !Unauthorized(err) {
		return err
	}
	if err := s.register(ctx, reasonUnauthorized, &gen); err != nil {
		return err
	}
	token, _ = s.current()
	return fn(ctx, token)
}

// renewal returns when to renew the current token ahead of its expiry
// (zero: never) and the generation it was issued at.
func (s *Session) renewal() (time.Time, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewAt, s.gen
}

func (s *Session) current() (string, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, s.gen
}

// register registers with the source's current Registration. When
// failedGen is set, it registers only if the generation is still
// *failedGen: otherwise another caller has already renewed the token.
func (s *Session) register(ctx context.Context, reason string, failedGen *uint64) error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if failedGen != nil {
		if _, gen := s.current(); gen != *failedGen {
			return nil
		}
	}
	reg := s.source()
	sent, err := json.Marshal(reg)
	if err != nil {
		return &Error{Op: OpRegister, Err: err}
	}
	s.mu.Lock()
	proof := cmp.Or(s.token, s.prior)
	s.mu.Unlock()
	token, err := s.client.Register(ctx, proof, reg)
	if err != nil {
		return err
	}
	renewAt := renewalTime(token, time.Now())
	s.mu.Lock()
	s.token, s.sent, s.renewAt = token, sent, renewAt
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	if s.onRegister != nil {
		s.onRegister(token, gen, reason)
	}
	return nil
}
