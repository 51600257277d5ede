package devfed

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

// AdminTokenFile holds, inside DataDir, the admin token the federation
// generated when it was given none: the same token, and so the same
// dashboard address, after a restart.
const AdminTokenFile = "admin.token"

// MinAdminTokenLen is the shortest admin token accepted: the admin API
// commands every neuron, and a short token is guessed.
const MinAdminTokenLen = 16

// checkAdminToken refuses a given admin token shorter than
// MinAdminTokenLen, saying how to make one.
func checkAdminToken(token string) error {
	if token == "" || len(token) >= MinAdminTokenLen {
		return nil
	}
	return fmt.Errorf("devfed: the admin token given is %d characters, fewer than %d: use a random one "+
		"(`openssl rand -base64 32`), or give none to have one generated and kept in DATADIR/%s", len(token), MinAdminTokenLen, AdminTokenFile)
}

// storedAdminToken reads DataDir/admin.token, creating it the first time
// (a GenerateToken, 0600, written atomically so that a crash leaves the
// old file or the new one, never half a token).
func storedAdminToken(dir string) (string, error) {
	file := filepath.Join(dir, AdminTokenFile)
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		token := strings.TrimSpace(string(b))
		if len(token) < MinAdminTokenLen {
			return "", fmt.Errorf("devfed: %s holds %d characters, fewer than %d: delete it to have a new admin token generated, or give one with --admin-token", file, len(token), MinAdminTokenLen)
		}
		return token, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("devfed: read the admin token %s: %w", file, err)
	}
	token := GenerateToken()
	if err := atomicfile.Write(file, []byte(token+"\n")); err != nil {
		return "", fmt.Errorf("devfed: keep the generated admin token in %s: %w", file, err)
	}
	return token, nil
}
