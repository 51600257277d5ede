package sdk

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/empirefederation/neuron/sdk/abi"
	"github.com/empirefederation/neuron/sdk/internal/hostcall"
)

// Request is an HTTP request as the host passes it to a handler.
//
// # Notes
//
//   - A Request, its Vars, Headers and Body are valid only until the handler
//     returns: the SDK reuses that memory for the next request, much as
//     net/http does with a request body. Copy what you keep. Strings are
//     immutable copies and safe to keep.
//   - Only the headers in abi.DefaultHeaders and in Info.Headers reach the
//     processor, with canonical names.
type Request struct {
	Method   string     // GET, POST, ...
	Path     string     // the request path, such as /users/42
	Route    string     // the endpoint's declared template, such as /users/{id}
	Vars     []abi.Pair // path variables, in the order the route declares them
	RawQuery string     // the query string without '?', still URL-encoded
	Headers  []abi.Pair // the forwarded headers
	Body     []byte     // the request body; aliases SDK memory
}

// ErrEmptyBody is returned by DecodeJSON for a request without a body.
var ErrEmptyBody = errors.New("request body is empty")

// Var returns the value of the path variable name, or "" when the route has
// none of that name.
func (r *Request) Var(name string) string {
	for _, p := range r.Vars {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// Header returns the value of the first header whose name matches name
// case-insensitively, or "".
func (r *Request) Header(name string) string {
	for _, p := range r.Headers {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return ""
}

// Query returns the first value of the query parameter name, decoded, or ""
// when it is absent. It scans RawQuery on each call instead of building a
// map; a handler that reads many parameters can use url.ParseQuery(RawQuery).
// Pairs with malformed escapes are skipped.
func (r *Request) Query(name string) string {
	for q := r.RawQuery; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != name {
				continue
			}
		}
		if !strings.ContainsAny(v, "%+") {
			return v
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			return uv
		}
	}
	return ""
}

// DecodeJSON decodes the JSON request body into v, as json.Unmarshal does.
//
// # Errors
//
// DecodeJSON returns ErrEmptyBody for an empty body and otherwise the error
// of json.Unmarshal prefixed with "request body: ", fit to put in an Error
// response.
func (r *Request) DecodeJSON(v any) error {
	if len(r.Body) == 0 {
		return ErrEmptyBody
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return &bodyError{err}
	}
	return nil
}

// bodyError prefixes a JSON error without fmt.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// Caller is who calls, as the neuron verified the caller's bearer token:
// the token's subject and the scopes it grants. The token itself never
// reaches a processor.
type Caller struct {
	Subject string   `json:"subject"`
	Scopes  []string `json:"scopes"`
}

// HasScope reports whether the caller was granted scope.
func (c Caller) HasScope(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Caller returns who makes this request, and false when the neuron
// verified no one: it does not authenticate callers (auth.mode none), or
// the endpoint is public and no token came. Endpoints that are not public
// are only called with a verified caller when the neuron authenticates.
func (r *Request) Caller() (Caller, bool) {
	var buf [256]byte
	b := buf[:0]
	for range 3 {
		n := hostcall.Caller(b[:cap(b)])
		switch {
		case n < 0:
			return Caller{}, false
		case int(n) > cap(b):
			b = make([]byte, 0, n)
			continue
		}
		var c Caller
		if json.Unmarshal(b[:n], &c) != nil || c.Subject == "" {
			return Caller{}, false
		}
		return c, true
	}
	return Caller{}, false
}
