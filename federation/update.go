package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/empirefederation/neuron/internal/jsonkind"
)

// Update is what the federation asks of a neuron: the body of
// POST /api/neuron/update-config and the data of GET /api/neuron/config.
// Any part may be absent. Version, when set, identifies the update so that
// the neuron applies the same version only once.
//
// Numbers inside Config (and Experiment and Variant configs) are json.Number
// when the Update comes from ParseUpdate, so that integers stay exact.
type Update struct {
	Config     map[string]any `json:"config,omitempty"`
	Experiment *Experiment    `json:"experiment,omitempty"`
	Command    *Command       `json:"command,omitempty"`
	Version    string         `json:"version,omitempty"`
}

// Empty reports whether u asks for nothing: no config, experiment, command
// or version. The Link does not hand empty updates to the neuron.
func (u Update) Empty() bool {
	return u.Config == nil && u.Experiment == nil && u.Command == nil && u.Version == ""
}

// Experiment is an A/B experiment. In the reference guide's form this neuron
// runs Variant with Config over its base config. In the traffic-splitting
// form, Variants (weights summing to 100) split the calls of Plugin, keyed by
// StickyKey ("header:NAME", "query:NAME" or "json:FIELD"), and Guardrails
// stop a variant that breaks them. Stop ends the experiment ID; with
// Promote naming a variant of a traffic-splitting experiment, that
// variant's version is pinned as the serving one and its config becomes
// the processor's config.
type Experiment struct {
	ID         string         `json:"id"`
	Variant    string         `json:"variant,omitempty"`
	Config     map[string]any `json:"config,omitempty"`
	Stop       bool           `json:"stop,omitempty"`
	Promote    string         `json:"promote,omitempty"`
	Plugin     string         `json:"plugin,omitempty"`
	Variants   []Variant      `json:"variants,omitempty"`
	StickyKey  string         `json:"stickyKey,omitempty"`
	Guardrails *Guardrails    `json:"guardrails,omitempty"`
}

// Variant is one arm of a traffic-splitting experiment: Weight percent of
// the calls go to processor Version (the serving one when empty), with
// Config over the base config.
type Variant struct {
	Name    string         `json:"name"`
	Weight  int            `json:"weight"`
	Version string         `json:"version,omitempty"`
	Config  map[string]any `json:"config,omitempty"`
}

// Guardrails stop a variant whose error rate (percent) or average response
// time (milliseconds) goes past them. Zero means no limit.
type Guardrails struct {
	ErrorRate    float64 `json:"errorRate,omitempty"`
	ResponseTime float64 `json:"responseTime,omitempty"`
}

// Command asks the neuron to do something once. ID makes it run at most
// once; Data holds the type's arguments as a JSON object.
type Command struct {
	ID   string          `json:"id,omitempty"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	// IssuedAt, when the federation sets it, is when it issued the
	// command, by its own clock. A neuron refuses a command issued no
	// later than the newest one its ledger has forgotten: such a command
	// may have run already, and its id no longer proves otherwise.
	IssuedAt time.Time `json:"issuedAt,omitzero"`
}

// updateKeys are the keys that make an object an Update rather than a bare
// config map.
var updateKeys = []string{"config", "experiment", "command", "version"}

// ParseUpdate decodes data, a JSON object, into an Update. It checks shape
// only (JSON types and known fields); what the values mean is the neuron's
// to validate.
//
// An object with none of the keys config, experiment, command and version
// is a bare config map, as the contract allows: {"batchSize": 10} is
// Update{Config: {"batchSize": 10}}. Otherwise unknown keys are an error.
// Numbers in config maps decode as json.Number (integers stay exact; use
// Int64 or Float64 on them).
//
// # Errors
//
// The error names the part that is wrong, for example
// `update: "config" must be an object, got array` or
// `update: "experiment" is malformed: json: unknown field "colour"`.
func ParseUpdate(data []byte) (Update, error) {
	var top map[string]json.RawMessage
	if k := jsonkind.OfJSON(data); k != "object" {
		return Update{}, fmt.Errorf("update: must be a JSON object, got %s", k)
	}
	if err := decodeStrict(data, &top); err != nil {
		return Update{}, fmt.Errorf("update: %w", err)
	}
	if !hasAny(top, updateKeys) {
		var cfg map[string]any
		if err := decodeStrict(data, &cfg); err != nil {
			return Update{}, fmt.Errorf("update: %w", err)
		}
		if len(cfg) == 0 {
			return Update{}, nil // {}: nothing to apply, not an empty config
		}
		return Update{Config: cfg}, nil
	}
	return parseParts(top)
}

// parseParts decodes the parts of an update object one by one, so that each
// error names its part.
func parseParts(top map[string]json.RawMessage) (Update, error) {
	var unknown []string
	for key := range top {
		if !slices.Contains(updateKeys, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return Update{}, fmt.Errorf("update: unknown field %q (expected config, experiment, command or version)", unknown[0])
	}
	var u Update
	parts := []struct {
		key, want string
		v         any
	}{
		{"config", "object", &u.Config},
		{"experiment", "object", &u.Experiment},
		{"command", "object", &u.Command},
		{"version", "string", &u.Version},
	}
	for _, p := range parts {
		raw, ok := top[p.key]
		if !ok {
			continue
		}
		if err := decodePart(raw, p.want, p.v); err != nil {
			return Update{}, fmt.Errorf("update: %q %w", p.key, err)
		}
	}
	if u.Command != nil {
		if err := checkCommandData(u.Command.Data); err != nil {
			return Update{}, fmt.Errorf("update: \"command\" %w", err)
		}
	}
	return u, nil
}

// decodePart decodes raw into v if it is null or of the wanted JSON kind.
func decodePart(raw json.RawMessage, want string, v any) error {
	switch k := jsonkind.OfJSON(raw); k {
	case "null":
		return nil
	case want:
		if err := decodeStrict(raw, v); err != nil {
			return fmt.Errorf("is malformed: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("must be %s, got %s", jsonkind.Article(want), k)
	}
}

// checkCommandData requires a command's data to be an object when present.
func checkCommandData(data json.RawMessage) error {
	if k := jsonkind.OfJSON(data); len(data) > 0 && k != "object" && k != "null" {
		return fmt.Errorf(`"data" must be an object, got %s`, k)
	}
	return nil
}

// decodeStrict decodes exactly one JSON value from data into v: unknown
// struct fields and trailing data are errors, and numbers in interface
// values are json.Number.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func hasAny(m map[string]json.RawMessage, keys []string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}
