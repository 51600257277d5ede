// Package sdktest runs a processor's handlers on the host, without Wasm, the
// way the neuron does: it matches a method and path against the declared
// routes, forwards only the headers the manifest asks for, encodes the
// request with package abi and decodes the response. A fake host records
// what the processor logs, counts and emits, and serves the configuration
// set with SetConfig. It imports nothing of the host (host, runtime,
// wazero): the fake host is internal/hostcall's, so a processor's tests
// need neither Wasm nor the neuron.
//
// A test of a processor's main package looks like this:
//
//	func TestHello(t *testing.T) {
//		sdktest.Start(t)
//		sdktest.SetConfig(`{"greeting": "hi"}`)
//		resp := sdktest.Call("GET", "/hello/ada", "")
//		if resp.Status != 200 { ... }
//	}
//
// # Notes
//
//   - Like a Wasm instance, the processor is one: the registrations made in
//     init, the processor's package variables and the fake host are shared
//     by the whole test binary. Call serialises calls, but tests that
//     inspect recorded logs, metrics or events must not run in parallel.
//   - Reset clears the fake host, not the processor's own state.
//   - A panic in a handler propagates to the test, where the host would
//     discard the instance.
//   - The package compiles for wasip1, so processors' tests vet there, but
//     it runs only outside wasip1: there, its functions panic.
package sdktest

import (
	"encoding/json"
	"errors"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/empirefederation/neuron/sdk"
	"github.com/empirefederation/neuron/sdk/abi"
	"github.com/empirefederation/neuron/sdk/internal/hostcall"
)

// Log is one line the processor logged.
type Log struct {
	Level sdk.Level
	Msg   string
	Attrs map[string]any // the line's other fields; nil for a plain-text line
}

// Event is one analytics event the processor emitted.
type Event struct {
	Type string
	Data json.RawMessage // a JSON object
}

// callMu serialises calls into the processor, which is single-threaded.
var callMu sync.Mutex

// Start resets the fake host for the test t, routes the processor's log
// lines to t.Log, and resets again when t ends.
func Start(t testing.TB) {
	t.Helper()
	Reset()
	hostcall.OnLog(func(l hostcall.LogLine) { t.Logf("processor log level=%d %s", l.Level, l.Msg) })
	t.Cleanup(func() {
		hostcall.OnLog(nil)
		Reset()
	})
}

// Reset forgets recorded logs, metrics and events and sets the configuration
// to the declared settings' defaults (sdk.Info.Settings), {} when there are
// none.
func Reset() {
	hostcall.Reset()
	hostcall.SetConfig(withDefaults([]byte("{}")))
}

// SetConfig sets the configuration JSON that sdk.Config decodes, laid over
// the declared settings' defaults as the host lays the operator's and the
// federation's settings over them. The host always passes a JSON object;
// anything else is passed as it is, for tests of a processor's handling of
// a configuration it cannot decode.
func SetConfig(json string) { hostcall.SetConfig(withDefaults([]byte(json))) }

// SetCaller makes the next calls come from subject with scopes, as the
// neuron gives a verified caller (Request.Caller); "" for none, the
// default and what Reset restores.
func SetCaller(subject string, scopes ...string) {
	if subject == "" {
		hostcall.SetCaller([]byte("{}"))
		return
	}
	if scopes == nil {
		scopes = []string{}
	}
	b, _ := json.Marshal(map[string]any{"subject": subject, "scopes": scopes}) // strings: cannot fail
	hostcall.SetCaller(b)
}

// withDefaults returns the JSON object b laid over the declared settings'
// defaults, or b itself when there are none or b is not an object.
func withDefaults(b []byte) []byte {
	m, err := Manifest()
	if err != nil || len(m.Settings) == 0 {
		return b
	}
	var over map[string]any
	if json.Unmarshal(b, &over) != nil || over == nil {
		return b
	}
	for k, v := range over {
		m.Settings[k] = v
	}
	merged, err := json.Marshal(m.Settings)
	if err != nil {
		return b
	}
	return merged
}

// Call serves the request method target with body and returns the
// processor's response. target is a path with an optional query, such as
// "/users/42?verbose=1"; the path is unescaped, as net/http does for the
// host, so "/hello/J%C3%BCrgen" reaches the processor as "/hello/Jürgen". header alternates names and values; headers the
// manifest does not ask for are dropped, as the host drops them.
//
// A target no route matches gets a 404 error response and a route declared
// for another method a 405, both made here, as the host makes them.
func Call(method, target, body string, header ...string) sdk.Response {
	if len(header)%2 != 0 {
		panic("sdktest: Call: header needs a value for every name")
	}
	m, err := Manifest()
	if err != nil {
		panic("sdktest: " + err.Error())
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		panic("sdktest: Call: " + err.Error())
	}
	path, rawQuery := u.Path, u.RawQuery // decoded path, as net/http gives the host
	ep, vars, status := match(m.Endpoints, method, path)
	if status != 0 {
		return sdk.Error(status, "no endpoint for "+method+" "+path)
	}
	r := abi.Request{Method: method, Path: path, Route: ep.Path, Vars: vars,
		RawQuery: rawQuery, Header: forward(m.Headers, header), Body: []byte(body)}
	return send(&r)
}

// send encodes r into the processor's request buffer, calls its handler and
// decodes the response, as the host does through the exports.
func send(r *abi.Request) sdk.Response {
	callMu.Lock()
	defer callMu.Unlock()
	enc := abi.AppendRequest(nil, r)
	buf := hostcall.Alloc(uint32(len(enc)))
	copy(buf, enc)
	out, err := abi.DecodeResponse(hostcall.Handle(buf))
	if err != nil {
		panic("sdktest: the processor answered a malformed response: " + err.Error())
	}
	return sdk.Response{Status: out.Status, Header: out.Header, Body: append([]byte(nil), out.Body...)}
}

// forward returns the headers the host would forward: those of
// abi.DefaultHeaders and the manifest's, with canonical names.
func forward(wanted []string, header []string) []abi.Pair {
	var out []abi.Pair
	for i := 0; i < len(header); i += 2 {
		name := textproto.CanonicalMIMEHeaderKey(header[i])
		if wants(wanted, name) {
			out = append(out, abi.Pair{Name: name, Value: header[i+1]})
		}
	}
	return out
}

func wants(wanted []string, name string) bool {
	for _, w := range abi.DefaultHeaders {
		if strings.EqualFold(w, name) {
			return true
		}
	}
	for _, w := range wanted {
		if strings.EqualFold(w, name) {
			return true
		}
	}
	return false
}

// Manifest returns the processor's manifest, decoded from the JSON that its
// neuron_manifest export returns.
func Manifest() (abi.Manifest, error) {
	mustHost()
	callMu.Lock()
	b := hostcall.Manifest()
	callMu.Unlock()
	var m abi.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, errors.New("decode manifest: " + err.Error())
	}
	return m, nil
}

// SelfTest runs the processor's self test, as the host does before a new
// version takes traffic. It returns nil when the test passes or none is set.
// The self test runs inside the processor, so it must not call Call.
func SelfTest() error {
	mustHost()
	callMu.Lock()
	defer callMu.Unlock()
	if msg := hostcall.SelfTest(); msg != nil {
		return errors.New(string(msg))
	}
	return nil
}

// Logs returns the lines logged since the last Reset, oldest first.
func Logs() []Log {
	lines := hostcall.Logs()
	out := make([]Log, len(lines))
	for i, l := range lines {
		out[i] = Log{Level: sdk.Level(l.Level), Msg: string(l.Msg)}
		var fields map[string]any
		if json.Unmarshal(l.Msg, &fields) == nil {
			out[i].Msg, _ = fields["msg"].(string)
			delete(fields, "msg")
			out[i].Attrs = fields
		}
	}
	return out
}

// Metrics returns the custom counters added since the last Reset, by name.
func Metrics() map[string]float64 { return hostcall.Metrics() }

// Events returns the events emitted since the last Reset, oldest first.
func Events() []Event {
	recs := hostcall.Events()
	out := make([]Event, len(recs))
	for i, e := range recs {
		out[i] = Event{Type: e.Type, Data: e.Data}
	}
	return out
}

// match finds the first endpoint whose template matches path, in declaration
// order, as the host's router does. It returns the endpoint and its
// variables, or status 404 (no template matches) or 405 (only templates of
// other methods match).
func match(eps []abi.Endpoint, method, path string) (abi.Endpoint, []abi.Pair, int) {
	status := 404
	for _, ep := range eps {
		re, names, err := compile(ep.Path)
		if err != nil {
			panic("sdktest: route " + ep.Path + ": " + err.Error())
		}
		sub := re.FindStringSubmatch(path)
		if sub == nil {
			continue
		}
		if ep.Method != method {
			status = 405
			continue
		}
		vars := make([]abi.Pair, len(names))
		for i, n := range names {
			vars[i] = abi.Pair{Name: n, Value: sub[re.SubexpIndex("v"+strconv.Itoa(i))]}
		}
		return ep, vars, 0
	}
	return abi.Endpoint{}, nil, status
}

// compile turns a gorilla/mux path template into an anchored regexp and the
// names of its variables: "{name}" matches one non-empty segment and
// "{name:pattern}" matches pattern. Variable i is the group named vi, so
// groups inside a pattern do not shift the others.
func compile(tpl string) (*regexp.Regexp, []string, error) {
	var names []string
	var b strings.Builder
	b.WriteByte('^')
	for {
		open := strings.IndexByte(tpl, '{')
		if open < 0 {
			b.WriteString(regexp.QuoteMeta(tpl))
			break
		}
		b.WriteString(regexp.QuoteMeta(tpl[:open]))
		end := closing(tpl, open)
		if end < 0 {
			return nil, nil, errors.New("unbalanced braces")
		}
		name, pattern, ok := strings.Cut(tpl[open+1:end], ":")
		if !ok {
			pattern = "[^/]+"
		}
		b.WriteString("(?P<v" + strconv.Itoa(len(names)) + ">" + pattern + ")")
		names = append(names, name)
		tpl = tpl[end+1:]
	}
	b.WriteByte('$')
	re, err := regexp.Compile(b.String())
	return re, names, err
}

// closing returns the index of the brace that closes the one at open,
// counting nested braces as a pattern such as [0-9]{4} has; -1 if none.
func closing(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

// mustHost panics on wasip1, where package sdk does not set the hooks.
func mustHost() {
	if hostcall.Handle == nil {
		panic("sdktest: processors can be tested only outside wasip1")
	}
}
