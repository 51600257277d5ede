package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/empirefederation/neuron/internal/auth"
)

// hashSecret runs `neuron auth hash-secret` with args and stdin.
func hashSecret(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"auth"}, args...)...)
	cmd.Env = environ()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("neuron auth %q: %v", args, ctx.Err())
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// The hash printed is a bcrypt hash of the secret's first line at
// auth.SecretCost, which the token endpoint accepts; a secret too short or
// too long for bcrypt, or a secret given as an argument, is refused with
// what to do.
func TestAuthHashSecret(t *testing.T) {
	t.Parallel()
	const secret = "kQ3v9-a-client-secret-of-a-fair-length"
	for _, in := range []string{secret, secret + "\n", secret + "\r\nsecond line ignored\n"} {
		r := hashSecret(t, in, "hash-secret")
		r.want(t, "hash-secret", 0)
		hash := strings.TrimSuffix(r.stdout, "\n")
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)); err != nil {
			t.Errorf("the hash of %q does not match the secret: %v (%q)", in, err, r.stdout)
		}
		if cost, _ := bcrypt.Cost([]byte(hash)); cost != auth.SecretCost {
			t.Errorf("cost %d, want %d", cost, auth.SecretCost)
		}
		if _, err := auth.NewIssuer(auth.IssuerConfig{Key: make([]byte, 64), Clients: []auth.Client{{ID: "reports", SecretHash: hash}}}); err != nil {
			t.Errorf("the token endpoint refuses the hash: %v", err)
		}
	}
	hashSecret(t, "short\n", "hash-secret").want(t, "a short secret", 1, "5 bytes", "openssl rand")
	hashSecret(t, strings.Repeat("x", 73), "hash-secret").want(t, "a secret past bcrypt's 72 bytes", 1, "73 bytes")
	hashSecret(t, "", "hash-secret", secret).want(t, "a secret as an argument", 2, "standard input", "Usage: neuron auth hash-secret")
	hashSecret(t, "").want(t, "no subcommand", 2, "Usage: neuron auth hash-secret")
	hashSecret(t, "", "hash-secret", "--help").want(t, "help", 0, "Usage: neuron auth hash-secret", "secretHash")
}
