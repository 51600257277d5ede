package signature

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// key is a generated key pair, written to files as keygen writes them.
type key struct {
	priv     ed25519.PrivateKey
	pub      ed25519.PublicKey
	privPath string
	pubPath  string
}

func newKey(t *testing.T, name string) key {
	t.Helper()
	dir := t.TempDir()
	k := key{privPath: filepath.Join(dir, name+".key"), pubPath: filepath.Join(dir, name+".pub")}
	var err error
	if k.pub, err = GenerateKey(k.privPath, k.pubPath); err != nil {
		t.Fatal(err)
	}
	if k.priv, err = LoadPrivateKey(k.privPath); err != nil {
		t.Fatal(err)
	}
	return k
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// sign is the signature file of subj by keys, in order.
func sign(subj Subject, keys ...key) []byte {
	var f File
	for _, k := range keys {
		f.Sign(k.priv, subj)
	}
	return f.Marshal()
}

// Every way a processor can be signed or not, against the keys a neuron
// trusts: the error's cause and words say which.
func TestVerify(t *testing.T) {
	oldKey, newKey, stranger := newKey(t, "old"), newKey(t, "new"), newKey(t, "stranger")
	subj := Subject{Module: sum("module"), Sidecar: sum("manifest")}
	bare := Subject{Module: sum("module")}
	tests := []struct {
		name    string
		trusted []key
		subj    Subject // what is verified
		sig     []byte
		wantErr error  // nil: verifies
		words   string // in the error
	}{
		{name: "signed", trusted: []key{oldKey}, subj: subj, sig: sign(subj, oldKey)},
		{name: "signed, no sidecar", trusted: []key{oldKey}, subj: bare, sig: sign(bare, oldKey)},
		{name: "no trusted key checks nothing", subj: subj},
		{name: "no trusted key checks nothing, not even garbage", subj: subj, sig: []byte("garbage")},
		{name: "tampered module", trusted: []key{oldKey}, subj: Subject{Module: sum("other"), Sidecar: subj.Sidecar},
			sig: sign(subj, oldKey), wantErr: ErrBadSignature, words: "trusted key " + KeyID(oldKey.pub) + " does not match"},
		{name: "tampered sidecar", trusted: []key{oldKey}, subj: Subject{Module: subj.Module, Sidecar: sum("other")},
			sig: sign(subj, oldKey), wantErr: ErrBadSignature, words: "the module or its manifest is not the one that was signed"},
		{name: "sidecar removed after signing", trusted: []key{oldKey}, subj: bare, sig: sign(subj, oldKey), wantErr: ErrBadSignature},
		{name: "sidecar added after signing", trusted: []key{oldKey}, subj: subj, sig: sign(bare, oldKey), wantErr: ErrBadSignature},
		{name: "missing signature file", trusted: []key{oldKey}, subj: subj, wantErr: ErrUnsigned,
			words: "signed by a trusted key (" + KeyID(oldKey.pub) + ")"},
		{name: "unknown key", trusted: []key{oldKey}, subj: subj, sig: sign(subj, stranger), wantErr: ErrUntrusted,
			words: "signed by " + KeyID(stranger.pub) + ", none of them a key this neuron trusts"},
		{name: "rotation: two keys trusted, signed by the new", trusted: []key{oldKey, newKey}, subj: subj, sig: sign(subj, newKey)},
		{name: "rotation: two keys trusted, signed by the old", trusted: []key{oldKey, newKey}, subj: subj, sig: sign(subj, oldKey)},
		{name: "rotation: signed by both, only the new trusted", trusted: []key{newKey}, subj: subj, sig: sign(subj, oldKey, newKey)},
		{name: "rotation: signed by the old only, after it was retired", trusted: []key{newKey}, subj: subj, sig: sign(subj, oldKey),
			wantErr: ErrUntrusted, words: KeyID(newKey.pub)},
		{name: "a stranger's signature before a good one", trusted: []key{newKey}, subj: subj, sig: sign(subj, stranger, newKey)},
		{name: "not a signature file", trusted: []key{oldKey}, subj: subj, sig: []byte("{}"), words: "holds no signature"},
		{name: "empty signature file", trusted: []key{oldKey}, subj: subj, sig: []byte{}, words: "signature file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pubs []ed25519.PublicKey
			for _, k := range tc.trusted {
				pubs = append(pubs, k.pub)
			}
			err := NewVerifier(pubs...).Verify(tc.subj, tc.sig)
			if tc.wantErr == nil && tc.words == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify accepted it")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want cause %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.words) {
				t.Errorf("error %q, want it to say %q", err, tc.words)
			}
		})
	}
}

// Signing again with the same key replaces its signature; another key's
// is kept beside it (rotation), and the file round-trips through Parse.
func TestFileSign(t *testing.T) {
	a, b := newKey(t, "a"), newKey(t, "b")
	subj := Subject{Module: sum("m")}
	var f File
	f.Sign(a.priv, Subject{Module: sum("old build")})
	f.Sign(b.priv, subj)
	f.Sign(a.priv, subj)
	if len(f.Signatures) != 2 || f.Signatures[0].KeyID != KeyID(b.pub) || f.Signatures[1].KeyID != KeyID(a.pub) {
		t.Fatalf("signatures %+v", f.Signatures)
	}
	g, err := Parse(f.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []key{a, b} {
		if err := NewVerifier(k.pub).Verify(subj, g.Marshal()); err != nil {
			t.Errorf("key %s: %v", KeyID(k.pub), err)
		}
	}
}

func TestParse_Errors(t *testing.T) {
	good := sign(Subject{Module: sum("m")}, newKey(t, "k"))
	sig := strings.Repeat("A", 86) + "=="
	tests := []struct{ name, in, want string }{
		{"empty", "", "EOF"},
		{"not JSON", "sig", "invalid character"},
		{"an array", "[]", "cannot unmarshal array"},
		{"no signature", `{"signatures": []}`, "holds no signature"},
		{"unknown field", `{"signatures": [], "x": 1}`, `unknown field "x"`},
		{"trailing data", string(good) + "{}", "trailing data"},
		{"trailing bracket", string(good) + "]", "trailing data"},
		{"short key id", `{"signatures": [{"keyId": "ab", "sig": "` + sig + `"}]}`, "keyId \"ab\" is not 16 hex digits"},
		{"key id not hex", `{"signatures": [{"keyId": "zzzzzzzzzzzzzzzz", "sig": "` + sig + `"}]}`, "is not 16 hex digits"},
		{"sig not base64", `{"signatures": [{"keyId": "0123456789abcdef", "sig": "!!"}]}`, "signatures[0].sig is not base64"},
		{"sig too short", `{"signatures": [{"keyId": "0123456789abcdef", "sig": "AAAA"}]}`, "64-byte Ed25519 signature"},
		{"too many", `{"signatures": [` + strings.Repeat(`{"keyId": "0123456789abcdef", "sig": "`+sig+`"},`, maxSignatures) +
			`{"keyId": "0123456789abcdef", "sig": "` + sig + `"}]}`, "at most 16 are read"},
		{"too large", strings.Repeat(" ", MaxFileBytes+1), "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want %q", err, tc.want)
			}
		})
	}
}

// Whatever Parse accepts marshals back to a file it accepts, and Verify
// never panics on it.
func FuzzParse(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	var good File
	good.Sign(priv, Subject{Module: sum("m")})
	f.Add(good.Marshal())
	f.Add([]byte(`{"signatures": []}`))
	f.Add([]byte(`{"signatures": [{"keyId": "0123456789abcdef", "sig": "AAAA"}]} x`))
	f.Add([]byte(`null`))
	v := NewVerifier(priv.Public().(ed25519.PublicKey))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		_ = v.Verify(Subject{Module: sum("m")}, b)
		if err != nil {
			return
		}
		if _, err := Parse(p.Marshal()); err != nil {
			t.Fatalf("Parse accepted %q but not its own marshalling: %v", b, err)
		}
	})
}

func TestKeyFiles(t *testing.T) {
	k := newKey(t, "k")
	if st, err := os.Stat(k.privPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, %v; want 0600", st.Mode(), err)
	}
	pub, err := LoadPublicKey(k.pubPath)
	if err != nil || !pub.Equal(k.pub) {
		t.Fatalf("LoadPublicKey: %v", err)
	}
	v, err := LoadVerifier([]string{k.pubPath, newKey(t, "other").pubPath})
	if err != nil || len(v.KeyIDs()) != 2 {
		t.Fatalf("LoadVerifier: %v, %v", v.KeyIDs(), err)
	}
	if v, err := LoadVerifier(nil); v != nil || err != nil {
		t.Errorf("LoadVerifier(nil) = %v, %v; want nil, nil (trust everything)", v, err)
	}
}

func TestKeyFiles_Errors(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, "k")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(ec.Public())
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})
	tests := []struct {
		name string
		load func() error
		want string
	}{
		{"public key missing", func() error { _, err := LoadPublicKey(filepath.Join(dir, "none.pub")); return err }, "no such file"},
		{"public key not PEM", func() error { _, err := LoadPublicKey(write("x.pub", []byte("hello"))); return err }, "holds no PEM block"},
		{"private key given as public", func() error { _, err := LoadPublicKey(k.privPath); return err }, "holds a private key: give the public key"},
		{"public key given as private", func() error { _, err := LoadPrivateKey(k.pubPath); return err }, `holds a "PUBLIC KEY" PEM block, want "PRIVATE KEY"`},
		{"public key of another kind", func() error { _, err := LoadPublicKey(write("ec.pub", ecPEM)); return err }, "not an Ed25519 key"},
		{"public key garbage in PEM", func() error {
			_, err := LoadPublicKey(write("g.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")})))
			return err
		}, "public key " + filepath.Join(dir, "g.pub")},
		{"key file too large", func() error { _, err := LoadPublicKey(write("big.pub", make([]byte, maxKeyFileBytes+1))); return err }, "larger than"},
		{"verifier names the bad file", func() error {
			_, err := LoadVerifier([]string{k.pubPath, filepath.Join(dir, "gone.pub")})
			return err
		}, "gone.pub"},
		{"keygen never overwrites", func() error { _, err := GenerateKey(filepath.Join(dir, "new.key"), k.pubPath); return err }, "exists: keygen never overwrites"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.load(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "new.key")); !os.IsNotExist(err) {
		t.Errorf("keygen that failed left its private key behind: %v", err)
	}
}
