package testutil

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"github.com/empirefederation/neuron/internal/signature"
)

// SigningKey is an Ed25519 key pair made as `neuron plugin keygen` makes
// one, with its files: Prefix.key and Prefix.pub.
type SigningKey struct {
	Prefix string
	Priv   ed25519.PrivateKey
	Pub    ed25519.PublicKey
}

// NewSigningKey makes a key pair in a temporary directory of tb.
func NewSigningKey(tb testing.TB) SigningKey {
	tb.Helper()
	prefix := filepath.Join(tb.TempDir(), "k")
	pub, err := signature.GenerateKey(prefix+".key", prefix+".pub")
	if err != nil {
		tb.Fatal(err)
	}
	priv, err := signature.LoadPrivateKey(prefix + ".key")
	if err != nil {
		tb.Fatal(err)
	}
	return SigningKey{prefix, priv, pub}
}
