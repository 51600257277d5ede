package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/empirefederation/neuron/internal/auth"
)

const authUsage = `Usage: neuron auth hash-secret < SECRET

Reads a client secret from standard input (its first line) and prints its
bcrypt hash: the secretHash of a client of the neuron's token endpoint,
POST /auth/token. The configuration keeps the hash, never the secret. The
secret comes on standard input rather than as an argument, which other
users of the machine could read in the process list.

  CLIENT_SECRET=$(openssl rand -base64 32)
  printf '%s' "$CLIENT_SECRET" | neuron auth hash-secret

then, in the neuron's configuration:

  auth:
    mode: jwt
    clients:
      - id: reports
        secretHash: $2a$12$...   # the printed hash
        scopes: [reports:read]

The client gets a token with its id and secret:

  curl -u reports:"$CLIENT_SECRET" -d grant_type=client_credentials \
    https://NEURON/auth/token
`

// authCmd runs `neuron auth hash-secret`, the one auth command.
func authCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help"):
		_, _ = io.WriteString(stdout, authUsage)
		return exitOK
	case len(args) == 2 && args[0] == "hash-secret" && (args[1] == "-h" || args[1] == "--help" || args[1] == "-help"):
		_, _ = io.WriteString(stdout, authUsage)
		return exitOK
	case len(args) != 1 || args[0] != "hash-secret":
		fmt.Fprintf(stderr, "neuron auth: expected 'hash-secret' and no argument (the secret comes on standard input)\n\n%s", authUsage)
		return exitUsage
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4<<10)).ReadBytes('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintf(stderr, "neuron auth hash-secret: reading the secret: %v\n", err)
		return exitFailure
	}
	hash, err := auth.HashSecret(bytes.TrimRight(line, "\r\n"))
	if err != nil {
		fmt.Fprintf(stderr, "neuron auth hash-secret: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, hash)
	return exitOK
}
