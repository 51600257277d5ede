// Package signature signs processors with Ed25519 and verifies them
// against the keys a neuron trusts.
//
// A signature covers what runs: the module's sha256 and, when the
// processor has one, its sidecar manifest's sha256. It is kept in a
// signature file, a small JSON document that may hold the signatures of
// several keys (so that a processor can be signed with a new key before
// the old one is retired):
//
//	{"signatures": [{"keyId": "9f86d081884c7d65", "sig": "BASE64"}]}
//
// The same document travels beside a dropped module (NAME.wasm.sig) and
// as the layer of an OCI referrer of a pushed processor (see internal/oci).
// Keys are PEM files: a PKCS #8 private key (what `neuron plugin keygen`
// and `openssl genpkey -algorithm ed25519` write) and a PKIX public key
// (`openssl pkey -pubout`).
package signature

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// MaxFileBytes bounds a signature file: a few signatures fit many times over.
const MaxFileBytes = 64 << 10

// maxSignatures bounds the signatures of one file.
const maxSignatures = 16

// Suffix is what a detached signature file adds to its module's name.
const Suffix = ".sig"

// Path is the detached signature file of the module at path: NAME.wasm.sig.
func Path(modulePath string) string { return modulePath + Suffix }

// Subject is what a signature covers: the hex sha256 of the module and of
// its sidecar manifest ("" when there is none).
type Subject struct {
	Module  string
	Sidecar string
}

// message is the bytes signed: a fixed text naming both digests, so that a
// signature of one kind of thing can never be taken for another.
func (s Subject) message() []byte {
	sidecar := cmp.Or(s.Sidecar, "none")
	return []byte("neuron processor signature v1\nmodule sha256:" + s.Module + "\nmanifest sha256:" + sidecar + "\n")
}

// Signature is one key's signature of a Subject.
type Signature struct {
	KeyID string `json:"keyId"`
	Sig   string `json:"sig"` // base64 (standard encoding) of the Ed25519 signature
}

// File is a signature file: one or more signatures of the same Subject.
type File struct {
	Signatures []Signature `json:"signatures"`
}

// keyIDBytes is how much of a key's sha256 its KeyID shows.
const keyIDBytes = 8

// KeyID names a public key: the first 16 hex digits of the sha256 of its
// PKIX encoding. It is what a log or an error shows of a key.
func KeyID(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub) // cannot fail for an Ed25519 key
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:keyIDBytes])
}

// Sign adds key's signature of subj to f, replacing an earlier signature
// of the same key.
func (f *File) Sign(key ed25519.PrivateKey, subj Subject) {
	pub := key.Public().(ed25519.PublicKey)
	s := Signature{KeyID: KeyID(pub), Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(key, subj.message()))}
	f.Signatures = slices.DeleteFunc(f.Signatures, func(o Signature) bool { return o.KeyID == s.KeyID })
	f.Signatures = append(f.Signatures, s)
}

// Marshal encodes f, one signature a line.
func (f *File) Marshal() []byte {
	b, _ := json.MarshalIndent(f, "", "  ")
	return append(b, '\n')
}

// Parse decodes a signature file, refusing anything but the documented
// shape: unknown fields, trailing data, no signature or more than
// maxSignatures, a key id that is not 16 hex digits, a signature that is
// not base64 of 64 bytes.
func Parse(b []byte) (*File, error) {
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("signature file is larger than %d bytes", MaxFileBytes)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var f File
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("signature file: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("signature file: trailing data after the JSON object")
	}
	switch n := len(f.Signatures); {
	case n == 0:
		return nil, errors.New("signature file holds no signature")
	case n > maxSignatures:
		return nil, fmt.Errorf("signature file holds %d signatures, at most %d are read", n, maxSignatures)
	}
	for i, s := range f.Signatures {
		if _, err := hex.DecodeString(s.KeyID); err != nil || len(s.KeyID) != 2*keyIDBytes {
			return nil, fmt.Errorf("signature file: signatures[%d].keyId %q is not %d hex digits", i, s.KeyID, 2*keyIDBytes)
		}
		if raw, err := base64.StdEncoding.DecodeString(s.Sig); err != nil || len(raw) != ed25519.SignatureSize {
			return nil, fmt.Errorf("signature file: signatures[%d].sig is not base64 of a %d-byte Ed25519 signature", i, ed25519.SignatureSize)
		}
	}
	return &f, nil
}

// Verifier holds the public keys a neuron trusts. A nil Verifier trusts
// everything: no key configured, nothing is checked.
type Verifier struct {
	keys map[string]ed25519.PublicKey // by KeyID
}

// NewVerifier trusts keys; with none it returns nil, which checks nothing.
func NewVerifier(keys ...ed25519.PublicKey) *Verifier {
	if len(keys) == 0 {
		return nil
	}
	v := &Verifier{keys: map[string]ed25519.PublicKey{}}
	for _, k := range keys {
		v.keys[KeyID(k)] = k
	}
	return v
}

// LoadVerifier reads the public key files at paths (PEM, PKIX); with no
// path it returns nil.
func LoadVerifier(paths []string) (*Verifier, error) {
	var keys []ed25519.PublicKey
	for _, p := range paths {
		k, err := LoadPublicKey(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return NewVerifier(keys...), nil
}

// KeyIDs are the ids of the trusted keys, sorted.
func (v *Verifier) KeyIDs() []string {
	if v == nil {
		return nil
	}
	ids := make([]string, 0, len(v.keys))
	for id := range v.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// ErrUnsigned is the cause of Verify's error when there is no signature
// file at all.
var ErrUnsigned = errors.New("the processor is not signed")

// Verify checks that sigFile (the signature file's bytes, nil when there
// is none) holds a signature of subj by a trusted key. It succeeds when
// one verifies; the others (keys no longer trusted, being rotated out)
// are ignored. Its error says which keys signed and which are trusted.
func (v *Verifier) Verify(subj Subject, sigFile []byte) error {
	if v == nil {
		return nil
	}
	trusted := strings.Join(v.KeyIDs(), ", ")
	if sigFile == nil {
		return fmt.Errorf("%w, and this neuron accepts only processors signed by a trusted key (%s)", ErrUnsigned, trusted)
	}
	f, err := Parse(sigFile)
	if err != nil {
		return err
	}
	var by, failed []string
	for _, s := range f.Signatures {
		by = append(by, s.KeyID)
		k, ok := v.keys[s.KeyID]
		if !ok {
			continue
		}
		raw, _ := base64.StdEncoding.DecodeString(s.Sig) // checked by Parse
		if ed25519.Verify(k, subj.message(), raw) {
			return nil
		}
		failed = append(failed, s.KeyID)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: the signature by trusted key %s does not match: the module or its manifest is not the one that was signed", ErrBadSignature, strings.Join(failed, ", "))
	}
	return fmt.Errorf("%w: signed by %s, none of them a key this neuron trusts (%s)", ErrUntrusted, strings.Join(by, ", "), trusted)
}

// ErrBadSignature and ErrUntrusted are the causes of Verify's error when
// the signature of a trusted key does not match what was signed, and
// when no signature is by a trusted key.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrUntrusted    = errors.New("no trusted signature")
)

// GenerateKey writes a new Ed25519 key pair: the private key to privPath
// (PEM PKCS #8, mode 0600) and the public key to pubPath (PEM PKIX). It
// refuses to overwrite either file, and leaves neither behind when it
// fails.
func GenerateKey(privPath, pubPath string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		_ = os.Remove(privPath) // a private key without its public key is of no use
		return nil, err
	}
	return pub, nil
}

// writeNew writes b to path, which must not exist, with mode; it removes
// what it wrote when it fails.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: keygen never overwrites a key; choose another prefix or remove it", path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err = errors.Join(err, f.Close()); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// LoadPrivateKey reads an Ed25519 private key from a PEM PKCS #8 file.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key %s is a %T, not an Ed25519 key: make one with `neuron plugin keygen`", path, k)
	}
	return ek, nil
}

// LoadPublicKey reads an Ed25519 public key from a PEM PKIX file.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key %s is a %T, not an Ed25519 key", path, k)
	}
	return ek, nil
}

// maxKeyFileBytes bounds a key file: a PEM Ed25519 key is about 120 bytes,
// a file with a certificate chain a few KiB.
const maxKeyFileBytes = 64 << 10

// readPEM returns the DER bytes of the first PEM block of path, which
// must be of type typ.
func readPEM(path, typ string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a PEM key file", path, maxKeyFileBytes)
	}
	block, _ := pem.Decode(b)
	switch {
	case block == nil:
		return nil, fmt.Errorf("%s holds no PEM block: want a %q PEM file", path, typ)
	case block.Type == "PRIVATE KEY" && typ == "PUBLIC KEY":
		return nil, fmt.Errorf("%s holds a private key: give the public key (the .pub file `neuron plugin keygen` writes), and keep the private key off the neurons", path)
	case block.Type != typ:
		return nil, fmt.Errorf("%s holds a %q PEM block, want %q", path, block.Type, typ)
	}
	return block.Bytes, nil
}
