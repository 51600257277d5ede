package federation

import (
	"os"
	"path/filepath"
	"testing"
)

// The kept token is presented only to the federation that issued it.
func TestTokenFileForItsFederationOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	a := tokenFile{path: path, base: "http://a:5000"}
	if tok, err := a.load(); tok != "" || err != nil {
		t.Fatalf("no file: %q %v", tok, err)
	}
	if err := a.save("tok-a"); err != nil {
		t.Fatal(err)
	}
	if tok, err := a.load(); tok != "tok-a" || err != nil {
		t.Errorf("same federation: %q %v", tok, err)
	}
	if tok, err := (tokenFile{path: path, base: "http://b:5000"}).load(); tok != "" || err != nil {
		t.Errorf("another federation: %q %v, want none", tok, err)
	}
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := a.load(); tok != "" || err == nil {
		t.Errorf("corrupt file: %q %v, want an error", tok, err)
	}
}
