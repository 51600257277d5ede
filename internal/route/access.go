package route

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/empirefederation/neuron/internal/auth"
	"github.com/empirefederation/neuron/internal/guest"
)

// Codes of calls refused by caller authentication.
const (
	CodeUnauthorized = "unauthorized" // 401: no token, or a token refused
	CodeForbidden    = "forbidden"    // 403: a valid token without the endpoint's scopes
)

// realm names the neuron in WWW-Authenticate.
const realm = "neuron"

// who is a call's verified caller: its subject, and what the guest reads
// of it (abi.FuncCaller's JSON). Both are empty for none.
type who struct {
	subject string
	json    []byte
}

// admit decides whether r may call e, when the server authenticates its
// callers (Server.Callers): a public endpoint takes calls without a
// token, any other needs a token the verifier accepts that grants the
// endpoint's scopes. It returns the verified caller. A refused call is
// answered here (401 or 403, with WWW-Authenticate as RFC 6750 says)
// before its body is read or a guest runs, and counted like any failed
// call.
func (e *endpoint) admit(w http.ResponseWriter, r *http.Request) (who, bool) {
	v := e.srv.Callers
	if v == nil || e.route.Public && r.Header.Get("Authorization") == "" {
		return who{}, true
	}
	c, err := v.FromRequest(r)
	var cerr *guest.CallError
	switch {
	case err != nil:
		challenge := `Bearer realm="` + realm + `"`
		if r.Header.Get("Authorization") != "" {
			challenge += `, error="invalid_token", error_description="` + quoteSafe(err.Error()) + `"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		cerr = &guest.CallError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Msg: err.Error() + "; send Authorization: Bearer TOKEN"}
	case !c.HasScopes(e.route.Scopes):
		scope := strings.Join(e.route.Scopes, " ")
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="insufficient_scope", scope="`+quoteSafe(scope)+`"`)
		cerr = &guest.CallError{Status: http.StatusForbidden, Code: CodeForbidden,
			Msg: "the token does not grant the scopes this endpoint requires: " + scope}
	default:
		return who{subject: c.Subject, json: callerJSON(c)}, true
	}
	e.metrics.observe(exchange{status: cerr.Status, out: e.fail(w, r, cerr)}, 0)
	return who{}, false
}

// callerJSON is c as abi.FuncCaller gives it to the guest.
func callerJSON(c auth.Caller) []byte {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	b, _ := json.Marshal(struct {
		Subject string   `json:"subject"`
		Scopes  []string `json:"scopes"`
	}{c.Subject, scopes}) // strings only: cannot fail
	return b
}

// quoteSafe keeps s inside a quoted-string of a header: no quotes,
// backslashes or control characters.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' || r == 0x7f {
			return '\''
		}
		return r
	}, s)
}
