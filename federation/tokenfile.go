package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

// tokenFile is LinkOptions.TokenFile: the last token the federation at
// base issued, kept so that a restarted neuron can prove it is the
// instance holding its id (a federation refuses to register a live id
// again without the holder's current token). It is written 0600 and
// atomically (internal/atomicfile), and it is presented only to the
// federation that issued it: a neuron moved to another FEDERATION_URL
// never sends one federation's token to another.
type tokenFile struct {
	path, base string
}

// tokenRecord is the file's content.
type tokenRecord struct {
	Federation string `json:"federation"`
	Token      string `json:"token"`
}

// load returns the token kept for base, or "" when there is none (no
// file, or one for another federation). A file that cannot be read is an
// error; the neuron then registers without a token.
func (f tokenFile) load() (string, error) {
	if f.path == "" {
		return "", nil
	}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the federation token %s: %w", f.path, err)
	}
	var r tokenRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("federation token %s is not JSON (delete it; the neuron registers without it): %w", f.path, err)
	}
	if r.Federation != f.base {
		return "", nil
	}
	return r.Token, nil
}

// save keeps token as the one base issued last.
func (f tokenFile) save(token string) error {
	if f.path == "" {
		return nil
	}
	b, err := json.Marshal(tokenRecord{Federation: f.base, Token: token})
	if err != nil {
		return fmt.Errorf("encode the federation token: %w", err)
	}
	if err := atomicfile.Write(f.path, b); err != nil {
		return fmt.Errorf("keep the federation token in %s: %w", f.path, err)
	}
	return nil
}
