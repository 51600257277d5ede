package auth

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// ParsePublicKeys reads the public keys of a PEM file: PUBLIC KEY blocks
// (PKIX, as `openssl pkey -pubout` writes them) and CERTIFICATE blocks,
// whose key is taken. Other blocks, a private key above all, are refused:
// the neuron needs only what verifies.
func ParsePublicKeys(path string) ([]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []crypto.PublicKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: block %d: %w", path, n, err)
			}
			keys = append(keys, k)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: block %d: %w", path, n, err)
			}
			keys = append(keys, c.PublicKey)
		default:
			return nil, fmt.Errorf("%s: block %d is a %s: give public keys (PUBLIC KEY) or certificates only", path, n, block.Type)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no PEM public key or certificate", path)
	}
	return keys, nil
}
