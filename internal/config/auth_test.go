package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/signature"
)

// hash is a bcrypt hash (of "secret"), as auth.clients takes.
const hash = "$2b$12$Zr9QeXmKp0W0y1wT3rV9uO1q2s3t4u5v6w7x8y9z0A1B2C3D4E5F6"

// The auth block: none by default; jwt with its keys and clients from the
// file, its keys from the environment.
func TestLoad_Auth(t *testing.T) {
	cfg, err := Load(nil, env(nil))
	if err != nil || cfg.Auth.Mode != AuthNone || cfg.Auth.Leeway != 30*time.Second || cfg.Auth.TokenTTL != 5*time.Minute {
		t.Fatalf("defaults %+v, %v", cfg.Auth, err)
	}
	file := writeYAML(t, `auth:
  mode: JWT
  issuer: https://idp.example.com
  audience: orders
  publicKeys: [/keys/a.pem, /keys/b.pem]
  jwksUrl: https://idp.example.com/.well-known/jwks.json
  tokenTTL: 2m
  clients:
    - id: billing
      secretHash: "`+hash+`"
      scopes: [orders:read, orders:write]
`)
	cfg, err = Load([]string{"--config", file}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Auth{Mode: AuthJWT, Issuer: "https://idp.example.com", Audience: "orders", Leeway: 30 * time.Second,
		PublicKeys: []string{"/keys/a.pem", "/keys/b.pem"}, JWKSURL: "https://idp.example.com/.well-known/jwks.json", TokenTTL: 2 * time.Minute,
		Clients: []AuthClient{{ID: "billing", SecretHash: hash, Scopes: []string{"orders:read", "orders:write"}}}}
	if !reflect.DeepEqual(cfg.Auth, want) {
		t.Errorf("auth %+v\nwant %+v", cfg.Auth, want)
	}
	cfg, err = Load(nil, env(map[string]string{"NEURON_AUTH_MODE": "jwt", "NEURON_AUTH_SECRET_FILE": "/run/secrets/jwt", "NEURON_AUTH_PUBLIC_KEYS": "/k/1.pem,/k/2.pem"}))
	if err != nil || cfg.Auth.Mode != AuthJWT || cfg.Auth.SecretFile != "/run/secrets/jwt" || len(cfg.Auth.PublicKeys) != 2 {
		t.Errorf("from the environment: %+v, %v", cfg.Auth, err)
	}
}

// An auth block that cannot do what it says is refused, naming the key.
func TestLoad_AuthErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"jwt without a key", "auth: {mode: jwt}\n", nil, "auth.mode in " + "FILE" + ":1: jwt needs a key to verify tokens with"},
		{"a key without jwt", "auth: {secretFile: /s}\n", nil, "auth.secretFile in FILE:1: is set but auth.mode is not jwt"},
		{"an unknown mode", "", map[string]string{"NEURON_AUTH_MODE": "basic"}, `auth.mode in env NEURON_AUTH_MODE: unknown mode "basic"`},
		{"a secret, not its hash", "auth:\n  mode: jwt\n  clients: [{id: a, secretHash: hunter2}]\n", nil, "auth.clients[0].secretHash in FILE:3: must be a bcrypt hash"},
		{"a scope with a space", "auth:\n  mode: jwt\n  clients: [{id: a, secretHash: \"" + hash + "\", scopes: [\"a b\"]}]\n", nil, `scope "a b"`},
		{"a JWKS URL that is not one", "", map[string]string{"NEURON_AUTH_MODE": "jwt", "NEURON_AUTH_JWKS_URL": "idp/jwks"}, "auth.jwksUrl in env NEURON_AUTH_JWKS_URL: invalid url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			file := ""
			if tc.yaml != "" {
				file = writeYAML(t, tc.yaml)
				args = []string{"--config", file}
			}
			_, err := Load(args, env(tc.env))
			want := strings.ReplaceAll(tc.want, "FILE", file)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%v\nwant %q", err, want)
			}
		})
	}
}

// trustedKeys: PEM public key files, from the file or the environment,
// each read at load; a file that is not one is refused, naming it.
func TestLoad_TrustedKeys(t *testing.T) {
	dir := t.TempDir()
	var pubs []string
	for _, name := range []string{"a", "b"} {
		prefix := filepath.Join(dir, name)
		if _, err := signature.GenerateKey(prefix+".key", prefix+".pub"); err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, prefix+".pub")
	}
	cfg, err := Load(nil, env(nil))
	if err != nil || cfg.TrustedKeys != nil {
		t.Fatalf("default %q, %v: want none", cfg.TrustedKeys, err)
	}
	file := writeYAML(t, "trustedKeys: ["+pubs[0]+", "+pubs[1]+"]\n")
	if cfg, err = Load([]string{"--config", file}, env(nil)); err != nil || !reflect.DeepEqual(cfg.TrustedKeys, pubs) || len(cfg.Trust.KeyIDs()) != 2 {
		t.Errorf("from the file: %q, %v", cfg.TrustedKeys, err)
	}
	if cfg, err = Load(nil, env(map[string]string{"NEURON_TRUSTED_KEYS": pubs[1] + ", " + pubs[0]})); err != nil || len(cfg.TrustedKeys) != 2 || cfg.TrustedKeys[0] != pubs[1] {
		t.Errorf("from the environment: %q, %v", cfg.TrustedKeys, err)
	}

	garbage := filepath.Join(dir, "garbage.pub")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"missing file", filepath.Join(dir, "gone.pub"), "config: trustedKeys in env NEURON_TRUSTED_KEYS: open " + filepath.Join(dir, "gone.pub") + ": no such file"},
		{"not PEM", garbage, garbage + " holds no PEM block"},
		{"the private key", filepath.Join(dir, "a.key"), "holds a private key: give the public key"},
		{"one bad among good", pubs[0] + "," + garbage, "give the .pub file that `neuron plugin keygen` wrote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(nil, env(map[string]string{"NEURON_TRUSTED_KEYS": tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v\nwant %q", err, tc.want)
			}
		})
	}
}
