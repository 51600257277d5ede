// Package process is the logic of the data-processor example, shared by its
// two versions: validating, deduplicating and counting a batch of customer
// records. Process is pure; handlers.go connects it to the neuron. Like any
// processor it imports only the SDK and the standard library: a guest links
// nothing of the host.
package process

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Options select the behaviour of one version of the processor.
type Options struct {
	// Version is the processor's semantic version.
	Version string
	// DedupEmail also treats a record as a duplicate when its normalised
	// email (trimmed, lower-case) was seen earlier in the batch. 1.1.0.
	DedupEmail bool
	// Details lists each invalid and duplicate record in the result. 1.1.0.
	Details bool
}

// Batch is the body of POST /process.
type Batch struct {
	BatchID string            `json:"batchId"`
	Records []json.RawMessage `json:"records"`
}

// Result is what Process found in a batch.
type Result struct {
	BatchID          string `json:"batchId"`
	RecordsReceived  int    `json:"recordsReceived"`
	RecordsProcessed int    `json:"recordsProcessed"` // valid and unique
	DuplicatesFound  int    `json:"duplicatesFound"`
	InvalidRecords   int    `json:"invalidRecords"`
	// Invalid and Duplicates are filled with Options.Details, at most
	// maxDetails entries each.
	Invalid    []Problem   `json:"invalid,omitempty"`
	Duplicates []Duplicate `json:"duplicates,omitempty"`
}

// Problem is an invalid record: its index in the batch and why.
type Problem struct {
	Index  int    `json:"index"`
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
}

// Duplicate is a record that repeats an earlier one.
type Duplicate struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
	Of    int    `json:"of"` // index of the first record with the same key
	By    string `json:"by"` // "id" or "email"
}

// record holds the fields of a customer record that processing reads.
type record struct {
	ID    json.RawMessage `json:"id"`
	Email json.RawMessage `json:"email"`
}

// Process validates and deduplicates the records of b. A record is valid
// when it is an object with an "id" (non-empty string or number) and a
// plausible "email". Duplicates are found within the batch only: an
// instance's memory is lost whenever the host discards it, so dedup across
// batches would need shared storage. maxDetails bounds the detail lists.
func Process(b Batch, opts Options, maxDetails int) Result {
	res := Result{BatchID: b.BatchID, RecordsReceived: len(b.Records)}
	seenID := make(map[string]int, len(b.Records))
	var seenEmail map[string]int
	if opts.DedupEmail {
		seenEmail = make(map[string]int, len(b.Records))
	}
	for i, raw := range b.Records {
		id, email, reason := validate(raw)
		if reason != "" {
			res.InvalidRecords++
			if opts.Details && len(res.Invalid) < maxDetails {
				res.Invalid = append(res.Invalid, Problem{Index: i, ID: id, Reason: reason})
			}
			continue
		}
		first, by := dupOf(seenID, seenEmail, i, id, email)
		if by == "" {
			res.RecordsProcessed++
			continue
		}
		res.DuplicatesFound++
		if opts.Details && len(res.Duplicates) < maxDetails {
			res.Duplicates = append(res.Duplicates, Duplicate{Index: i, ID: id, Of: first, By: by})
		}
	}
	return res
}

// dupOf records record i under its keys and returns the index of an earlier
// record with the same id or, when seenEmail is not nil, the same email, and
// which key matched ("" when none did).
func dupOf(seenID, seenEmail map[string]int, i int, id, email string) (int, string) {
	if first, ok := seenID[id]; ok {
		return first, "id"
	}
	seenID[id] = i
	if seenEmail == nil {
		return 0, ""
	}
	if first, ok := seenEmail[email]; ok {
		return first, "email"
	}
	seenEmail[email] = i
	return 0, ""
}

// validate returns a record's id and normalised email, or the reason it is
// invalid.
func validate(raw json.RawMessage) (id, email, reason string) {
	var r record
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &r) != nil {
		return "", "", "record is not a JSON object"
	}
	id, ok := idString(r.ID)
	if !ok {
		return "", "", `"id" must be a non-empty string or a number`
	}
	e, ok := jsonString(r.Email)
	if !ok {
		return id, "", `"email" must be a string`
	}
	email = strings.ToLower(strings.TrimSpace(e))
	if !validEmail(email) {
		return id, "", `"email" is not a valid address`
	}
	return id, email, ""
}

// idString returns a record id as a string: a string as is, a number as
// written.
func idString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		s, ok := jsonString(raw)
		return s, ok && strings.TrimSpace(s) != ""
	}
	var n json.Number // null leaves it empty
	err := json.Unmarshal(raw, &n)
	return n.String(), err == nil && n != ""
}

// jsonString decodes a JSON string. The common case, no escapes, is a slice
// of the input: encoding/json's reflection is the slowest part of this
// processor, above all when compiled to Wasm.
func jsonString(raw json.RawMessage) (string, bool) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' {
		plain := true
		for _, c := range raw[1 : n-1] {
			if c == '\\' || c == '"' || c < 0x20 {
				plain = false
				break
			}
		}
		if plain {
			return string(raw[1 : n-1]), true
		}
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// validEmail is a deliberately simple check: one @, a non-empty local part,
// a dotted domain, no spaces, at most 254 bytes.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && len(s) <= 254 && local != "" && !strings.ContainsAny(s, " \t\r\n,;<>") &&
		!strings.Contains(domain, "@") && strings.Contains(domain, ".") &&
		!strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
}
