package devfed

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// keyFile is the HMAC secret signing neuron tokens, inside DataDir.
const keyFile = "token.key"

// loadKey reads DataDir/token.key, creating it (32 random bytes, 0600)
// the first time, so that tokens survive a restart of the federation.
func loadKey(dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devfed: create data directory %s: %w", dir, err)
	}
	file := filepath.Join(dir, keyFile)
	key, err := os.ReadFile(file)
	switch {
	case err == nil && len(key) >= 32:
		return key, nil
	case err == nil:
		return nil, fmt.Errorf("devfed: %s holds %d bytes, want at least 32: delete it to make a new one (every neuron then registers again)", file, len(key))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("devfed: read %s: %w", file, err)
	}
	key = make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devfed: create %s: %w", file, err)
	}
	if _, err := f.Write(key); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("devfed: write %s: %w", file, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("devfed: write %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("devfed: write %s: %w", file, err)
	}
	return key, nil
}
