package devfed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/empirefederation/neuron/internal/jsonkind"
	"io"
	"net/http"
)

// MaxBodyBytes bounds every request body: 1 MiB (413 past it).
const MaxBodyBytes = 1 << 20

// Error codes of the federation's error answers.
const (
	codeBadRequest       = "bad_request"
	codeUnauthorized     = "unauthorized"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeConflict         = "conflict"
	codeBodyTooLarge     = "body_too_large"
	codeInternal         = "internal"
)

// apiError is an error answer: status, code, what is wrong and what to do,
// and for a 400 the JSON path of the field at fault.
type apiError struct {
	Status int
	Code   string
	Msg    string
	Field  string
}

func (e *apiError) Error() string { return e.Msg }

// badField is a 400 naming field.
func badField(field, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return &apiError{Status: http.StatusBadRequest, Code: codeBadRequest, Msg: msg, Field: field}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Msg: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusConflict, Code: codeConflict, Msg: fmt.Sprintf(format, args...)}
}

func unauthorized(msg string) *apiError {
	return &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Msg: msg}
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ok writes {"success": true, "data": data} with status.
func ok(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, struct {
		Success bool `json:"success"`
		Data    any  `json:"data"`
	}{true, data})
}

// fail writes err as {"success": false, "error", "code", "field"?}; an
// error that is not an *apiError is a 500 whose text is logged, not sent.
// A request whose client went away (its context is done: the store
// stopped on it) is no failure of the federation: it is logged at DEBUG
// and nothing is written (counted as 499).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		s.log.Debug("federation request abandoned: the client went away", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	var e *apiError
	if !errors.As(err, &e) {
		s.log.Error("federation request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &apiError{Status: http.StatusInternalServerError, Code: codeInternal,
			Msg: "the federation failed to handle this request (its log says why); try again"}
	} else if e.Status != http.StatusNotFound && e.Status != http.StatusMethodNotAllowed {
		s.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "status", e.Status, "field", e.Field, "reason", e.Msg)
	}
	writeJSON(w, e.Status, struct {
		Success bool   `json:"success"`
		Error   string `json:"error"`
		Code    string `json:"code"`
		Field   string `json:"field,omitempty"`
	}{false, e.Msg, e.Code, e.Field})
}

// readBody reads the request body, at most MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: codeBodyTooLarge,
			Msg: fmt.Sprintf("the body is larger than %d bytes (1 MiB): send less per request", MaxBodyBytes)}
	case err != nil:
		return nil, badField("", "read the body: %v", err)
	}
	return body, nil
}

// decodeObject decodes body, which must be one JSON object, keeping
// numbers as json.Number.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badField("", "the body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badField("", "the body has data after its JSON value: send one JSON object")
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		return nil, badField("", "the body must be a JSON object, got %s", jsonkind.A(v))
	}
	return m, nil
}

// readObject reads the request body, one JSON object of at most
// MaxBodyBytes, and decodes it.
func readObject(w http.ResponseWriter, r *http.Request) ([]byte, map[string]any, error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, nil, err
	}
	m, err := decodeObject(body)
	return body, m, err
}
