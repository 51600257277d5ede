package runtime

import "crypto/rand"

// cryptoRand gives guests the host's cryptographic randomness; wazero's
// default source is deterministic.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }
