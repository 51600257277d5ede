package devfed

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/devfed/store"
	"github.com/empirefederation/neuron/internal/ociref"
)

// Registration metadata keys a neuron describes what it runs with (see
// internal/report): "processors" lists NAME@VERSION+sha256:MODULEHEX,
// "sources" lists REF@sha256:ARTIFACTHEX, the OCI artifact each
// registry reference it loaded runs; both comma-separated.
const (
	metadataProcessors = "processors"
	metadataSources    = "sources"
)

// sourceView is one registry reference a neuron runs and the digest of
// the OCI artifact (manifest) it runs, "sha256:HEX"; "" when the neuron
// reported an entry without a well-formed digest.
type sourceView struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
}

// metadataList splits a comma-separated metadata value into its
// non-empty, trimmed entries ([] when there are none).
func metadataList(v string) []string {
	out := []string{}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseSources reads the "sources" metadata: REF@sha256:HEX entries,
// comma-separated. The digest is what follows the last "@" (a ref pinned
// by digest holds an "@" of its own) when it is "sha256:" and 64
// lower-case hex digits; an entry without one is kept whole as the ref,
// with digest "", so the dashboard shows what the neuron said. See
// docs/design.md, "How does the dashboard know which digest each neuron
// runs?".
func parseSources(v string) []sourceView {
	entries := metadataList(v)
	out := make([]sourceView, len(entries))
	for i, e := range entries {
		out[i] = sourceView{Ref: e}
		if at := strings.LastIndexByte(e, '@'); at > 0 && ociref.CheckDigest(e[at+1:]) == nil {
			out[i] = sourceView{Ref: e[:at], Digest: e[at+1:]}
		}
	}
	return out
}

// validateLoadPlugin checks the registry form of a load_plugin command's
// data: ref alone as the source, parsed as the neurons parse it
// (internal/ociref), and sha256, when given, the module's 64 hex digits.
// The path and url forms are the neuron's to check. See docs/design.md,
// "Why does the development federation check a registry reference before
// queuing?".
func validateLoadPlugin(data object) error {
	if !data.has("ref") {
		return nil
	}
	ref, err := data.str("ref", true, ociref.MaxLen)
	if err != nil {
		return err
	}
	for _, other := range []string{"path", "url"} {
		if data.has(other) {
			return badField(data.field(other), "give one source: ref, path or url, not both ref and %s", other)
		}
	}
	if _, err := ociref.Parse(ref); err != nil {
		return badField(data.field("ref"), "must be an OCI reference: %v", err)
	}
	sum, err := data.str("sha256", false, maxNameLen)
	if err == nil && sum != "" && ociref.CheckDigest("sha256:"+strings.ToLower(sum)) != nil {
		err = badField(data.field("sha256"), "must be the module's sha256, 64 hex digits, got %q", sum)
	}
	return err
}

// sourceDigests is one registry reference across the fleet: the digests
// its neurons run, each with the neurons running it. More than one digest
// means a rollout is under way, or stuck.
type sourceDigests struct {
	Ref     string          `json:"ref"`
	Digests []digestNeurons `json:"digests"`
}

// digestNeurons is one artifact digest and the neurons running it.
type digestNeurons struct {
	Digest  string   `json:"digest"`
	Neurons []string `json:"neurons"`
}

// fleetSources groups the sources of the neurons not offline at now by
// reference, sorted by ref; each ref's digests are sorted by how many
// neurons run them (most first), then by digest. Offline neurons are left
// out: what they reported may be long gone.
func (s *Server) fleetSources(ns []store.Neuron, now time.Time) []sourceDigests {
	byRef := map[string]map[string][]string{}
	for _, n := range ns {
		if s.status(n, now) == statusOffline {
			continue
		}
		for _, src := range parseSources(registeredOf(n).meta(metadataSources)) {
			if byRef[src.Ref] == nil {
				byRef[src.Ref] = map[string][]string{}
			}
			byRef[src.Ref][src.Digest] = append(byRef[src.Ref][src.Digest], n.ID)
		}
	}
	out := []sourceDigests{}
	for _, ref := range slices.Sorted(maps.Keys(byRef)) {
		sd := sourceDigests{Ref: ref}
		for d, ids := range byRef[ref] {
			sd.Digests = append(sd.Digests, digestNeurons{Digest: d, Neurons: ids})
		}
		slices.SortFunc(sd.Digests, func(a, b digestNeurons) int {
			return cmp.Or(cmp.Compare(len(b.Neurons), len(a.Neurons)), cmp.Compare(a.Digest, b.Digest))
		})
		out = append(out, sd)
	}
	return out
}
