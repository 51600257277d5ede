package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// module is a module file's bytes and their hex sha256, computed once so
// that the storm does not hash on the cores the calls need.
type module struct {
	b      []byte
	digest string
}

func newModule(b []byte) module { return module{b, sha256Hex(b)} }

// nonce returns mod with a custom section "neuron-bench" holding n
// appended: a valid module that behaves the same with another digest, so
// that no cache (compilation or instrumentation) has seen it.
func nonce(mod []byte, n int64) []byte {
	name := "neuron-bench"
	payload := append([]byte{byte(len(name))}, name...)
	payload = binary.LittleEndian.AppendUint64(payload, uint64(n))
	out := append([]byte(nil), mod...)
	out = append(out, 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(payload)))
	return append(out, payload...)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
