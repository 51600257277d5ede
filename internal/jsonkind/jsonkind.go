// Package jsonkind names the kind of a JSON value in messages ("must be
// an object, got an array"), the same way wherever the neuron, the
// federation client or the development federation refuses a value: one
// vocabulary, JSON's own (object, array, string, number, boolean, null).
//
// It is a leaf of the standard library only, so that every layer may use
// it (federation, which links neither wazero nor mux, included); it must
// not grow into a validator.
package jsonkind

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Of names the JSON kind of a decoded value: "object", "array", "string",
// "number", "boolean" or "null". Every Go number type and json.Number is
// "number", as JSON has one kind of number and values reach the checks
// decoded from JSON (float64 or json.Number) as well as from YAML or Go
// (int, int64, uint64). Any other value is named by its Go type.
func Of(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, float32, int, int64, int32, uint64, uint32, json.Number:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// A is Of with its article, for messages: "an object", "a number";
// "null" has none.
func A(v any) string { return Article(Of(v)) }

// Article puts "a" or "an" before a kind as Of or OfJSON name it, such as
// "an object"; "null", "nothing" and "invalid JSON" stay bare.
func Article(kind string) string {
	switch kind {
	case "null", "nothing", "invalid JSON":
		return kind
	}
	if kind != "" && bytes.IndexByte([]byte("aeiou"), kind[0]) >= 0 {
		return "an " + kind
	}
	return "a " + kind
}

// OfJSON names the JSON kind of the value data starts with, as Of would
// name it decoded, without decoding it: "nothing" for empty data (or only
// white space), "invalid JSON" for a byte no JSON value starts with.
func OfJSON(data []byte) string {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "number"
	}
	return "invalid JSON"
}
