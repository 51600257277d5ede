// Package limits holds the bounds of the runtime that configuration sets,
// so that package config and package runtime share them without config
// importing runtime (and, through it, wazero): the Limits of a processor
// with their defaults, maximums, checks and configuration keys, and the
// defaults of the runtime's other bounds (drain timeout, versions kept,
// request body budget and deadline).
//
// It is a leaf: it imports only the standard library and sdk/abi, whose
// manifest limits FromManifest converts. It must not import wazero, mux,
// koanf or any package of this module but sdk/abi; the decoding of
// configuration files is package config's, which maps its keys to fields
// through Map and FromMap, so that Limits carries no koanf tags.
// See docs/design.md, "Who sets a processor's limits?".
package limits
