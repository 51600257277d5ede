package agent

import (
	"cmp"
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/auth"
	"github.com/empirefederation/neuron/internal/config"
)

// tokenPath is where the neuron's token endpoint answers, as the
// registration advertises it.
const tokenPath = "/auth/token"

// callers builds, for auth.mode jwt, the verifier of the processor
// endpoints' callers and, when clients are configured, the neuron's own
// token endpoint, whose key the verifier trusts. For none, both are nil.
// Tokens carry auth.issuer (default the base URL) and auth.audience
// (default the neuron id), and the verifier requires them.
func callers(ctx context.Context, cfg *config.Config) (*auth.Verifier, *auth.Issuer, error) {
	a := cfg.Auth
	if a.Mode != config.AuthJWT {
		return nil, nil, nil
	}
	vc := auth.Config{Issuer: cmp.Or(a.Issuer, cfg.BaseURL), Audience: cmp.Or(a.Audience, cfg.ID),
		Leeway: a.Leeway, JWKSURL: a.JWKSURL}
	if a.SecretFile != "" {
		secret, err := os.ReadFile(a.SecretFile)
		if err != nil {
			return nil, nil, fmt.Errorf("auth.secretFile: %w", err)
		}
		vc.Secret = secret
	}
	for _, path := range a.PublicKeys {
		keys, err := auth.ParsePublicKeys(path)
		if err != nil {
			return nil, nil, fmt.Errorf("auth.publicKeys: %w", err)
		}
		vc.Keys = append(vc.Keys, keys...)
	}
	var iss *auth.Issuer
	if len(a.Clients) > 0 {
		key, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "auth", "signing.key"))
		if err != nil {
			return nil, nil, err
		}
		clients := make([]auth.Client, len(a.Clients))
		for i, c := range a.Clients {
			clients[i] = auth.Client{ID: c.ID, SecretHash: c.SecretHash, Scopes: c.Scopes}
		}
		if iss, err = auth.NewIssuer(auth.IssuerConfig{Issuer: vc.Issuer, Audience: vc.Audience, TTL: a.TokenTTL, Key: key, Clients: clients}); err != nil {
			return nil, nil, err
		}
		vc.Keys = append(vc.Keys, crypto.PublicKey(iss.PublicKey()))
	}
	v, err := auth.New(ctx, vc)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: %w", err)
	}
	return v, iss, nil
}

// authentication is what the registration says of the callers: none, or
// jwt with the token endpoint when the neuron has one.
func authentication(cfg *config.Config) federation.Authentication {
	if cfg.Auth.Mode != config.AuthJWT {
		return federation.Authentication{Type: config.AuthNone}
	}
	a := federation.Authentication{Type: config.AuthJWT}
	if len(cfg.Auth.Clients) > 0 {
		a.TokenEndpoint = tokenPath
	}
	return a
}
