// Package ociref parses the references by which processors are named in
// OCI registries: host[:port]/repo:tag, or host[:port]/repo@sha256:HEX
// for one pinned by its artifact's digest. Configuration (pluginSources),
// the load_plugin command and the store of pulled processors
// (internal/sources) all parse with it, so that a reference refused by
// one is refused by all, with the same words.
package ociref

import (
	"errors"
	"fmt"
	"strings"

	"oras.land/oras-go/v2/registry"
)

// Forms is what a reference looks like, for error messages.
const Forms = "host[:port]/repo:tag or host[:port]/repo@sha256:HEX"

// MaxLen bounds a reference: far above any real one, low enough that a
// reference can name a file (internal/sources) and a log line.
const MaxLen = 512

// Ref is a parsed reference: a tag or a digest, never both.
type Ref struct {
	// Registry is host[:port]; Repository the path within it.
	Registry, Repository string
	// Tag is the tag, "" when the reference is pinned by Digest.
	Tag string
	// Digest is "sha256:HEX" (64 lowercase hex digits), "" for a tag.
	Digest string
}

// Parse parses s, which must name a registry host, a repository and a tag
// or a sha256 digest.
func Parse(s string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("reference %q: %s; want %s", s, why, Forms)
	}
	switch {
	case s == "":
		return bad("empty")
	case len(s) > MaxLen:
		return Ref{}, fmt.Errorf("reference of %d bytes: at most %d; want %s", len(s), MaxLen, Forms)
	case strings.Contains(s, "://"):
		return bad("no scheme: the registry is reached over HTTPS, or plain HTTP when it is on loopback or listed in insecureRegistries")
	}
	if i := strings.LastIndex(s, "@"); i >= 0 && strings.Contains(s[strings.LastIndex(s[:i], "/")+1:i], ":") {
		return bad("a tag and a digest both: give one")
	}
	r, err := registry.ParseReference(s)
	if err != nil {
		return bad(strings.TrimPrefix(err.Error(), "invalid reference: "))
	}
	switch {
	case r.Reference == "":
		return bad("no tag or digest")
	case !strings.Contains(s, "@"):
		return Ref{Registry: r.Registry, Repository: r.Repository, Tag: r.Reference}, nil
	}
	if err := CheckDigest(r.Reference); err != nil {
		return bad(err.Error())
	}
	return Ref{Registry: r.Registry, Repository: r.Repository, Digest: r.Reference}, nil
}

// CheckDigest accepts an artifact digest as the neuron writes them:
// "sha256:" and 64 lowercase hex digits.
func CheckDigest(d string) error {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return errors.New("the digest must be sha256: and 64 lowercase hex digits")
	}
	return nil
}

// String is the reference as Parse reads it.
func (r Ref) String() string {
	if r.Digest != "" {
		return r.Repo() + "@" + r.Digest
	}
	return r.Repo() + ":" + r.Tag
}

// Repo is host[:port]/repo, the reference without its tag or digest.
func (r Ref) Repo() string { return r.Registry + "/" + r.Repository }

// Pinned reports whether the reference names a digest, which never moves.
func (r Ref) Pinned() bool { return r.Digest != "" }
