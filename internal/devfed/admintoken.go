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

// storedAdminToken reads DataDir/admin.token, creating it the first time
// (a GenerateToken, 0600, written atomically so that a crash leaves the
// old file or the new one, never half a token).
func storedAdminToken(dir string) (string, error) {
	file := filepath.Join(dir, AdminTokenFile)
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		token := strings.TrimSpace(string(b))
		if token == "" {
			return "", fmt.Errorf("devfed: %s is empty: delete it to have a new admin token generated, or give one with --admin-token", file)
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
