package sdk

import (
	"encoding/json"
	"strings"

	"github.com/empirefederation/neuron/sdk/abi"
)

// Info describes a processor for its manifest: everything except the
// endpoints, which Handle adds. See abi.Manifest for the meaning of each
// field.
type Info struct {
	Name         string     // required; the processor's name, such as "hello"
	Version      string     // required; a semantic version, such as "1.0.0"
	Description  string     // optional; one line for people
	Capabilities []string   // optional; labels advertised to the federation
	Permissions  []string   // optional; abi.PermFilesystem, abi.PermEnvironment
	Headers      []string   // optional; request headers to forward beyond abi.DefaultHeaders
	Limits       abi.Limits // optional; overrides of the host's default limits
	// Settings declares the keys the processor reads with Config, each with
	// its default: a string, a number or a boolean, such as
	// {"greeting": "Hello", "maxItems": 10}. Config sees the defaults
	// under what the operator and the federation set, and the federation
	// may set a declared key (plugins.NAME.KEY) to a value of the default's
	// type, with no restart. The host checks the declaration when it loads
	// the module (see abi.Manifest.Settings).
	Settings map[string]any
}

// HandlerFunc serves one endpoint. The Request, including its Body, is valid
// only until the handler returns.
type HandlerFunc func(*Request) Response

type route struct {
	method, path string
	Route
	h HandlerFunc
}

// Route is what HandleRoute declares of an endpoint beyond its pattern.
type Route struct {
	Description string
	// Public endpoints take calls without a token when the neuron
	// authenticates its callers.
	Public bool
	// Scopes are what a caller's token must grant, every one, when the
	// neuron authenticates its callers (see Request.Caller).
	Scopes []string
}

// registry is what Register, Handle and SelfTest declare. The package has one
// (reg); tests make their own.
type registry struct {
	info     Info
	set      bool
	routes   []route
	selfTest func() error
	manifest []byte // cached encoding, cleared by every change
}

var reg registry

// Register declares the processor's name, version and other manifest fields.
// Call it exactly once, from init.
//
// # Errors
//
// Register panics when called twice, when Name or Version is empty, or when
// Settings does not encode as JSON (a NaN, a channel): the processor's
// initialisation fails and the host refuses the module.
func Register(info Info) { reg.register(info) }

// Handle declares an endpoint and the function that serves it. The pattern is
// a method and a path template separated by one space, such as
// "GET /users/{id}"; the template uses gorilla/mux syntax, so "{id:[0-9]+}"
// restricts a variable. Call Handle from init, once per endpoint; the host
// tries endpoints in the order they are declared.
//
// # Errors
//
// Handle panics on a malformed pattern, a nil handler or a pattern declared
// twice.
func Handle(pattern, description string, h HandlerFunc) {
	reg.handle(pattern, Route{Description: description}, h)
}

// HandleRoute is Handle with the endpoint's access: public, or the scopes
// a caller needs. The neuron refuses a call without them before the
// processor runs; Request.Caller says who called.
func HandleRoute(pattern string, r Route, h HandlerFunc) { reg.handle(pattern, r, h) }

// SelfTest sets a check the host runs on a new instance before the processor
// takes traffic, such as processing a known input. A non-nil error keeps this
// version from serving; the host reports the message. Without SelfTest the
// check passes.
func SelfTest(f func() error) { reg.selfTest = f }

func (g *registry) register(info Info) {
	switch {
	case g.set:
		panic("sdk: Register called twice")
	case info.Name == "" || info.Version == "":
		panic("sdk: Register needs a Name and a Version")
	}
	if _, err := json.Marshal(info.Settings); err != nil {
		panic("sdk: Register: Settings must encode as JSON: " + err.Error())
	}
	g.info, g.set, g.manifest = info, true, nil
}

func (g *registry) handle(pattern string, r Route, h HandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	switch {
	case !ok || !isMethod(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t"):
		panic("sdk: Handle: pattern " + pattern + ` is not "METHOD /path"`)
	case h == nil:
		panic("sdk: Handle: nil handler for " + pattern)
	case g.lookup(method, path) != nil:
		panic("sdk: Handle: " + pattern + " declared twice")
	}
	g.routes = append(g.routes, route{method: method, path: path, Route: r, h: h})
	g.manifest = nil
}

// isMethod reports whether m is an upper-case HTTP method token.
func isMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return m != ""
}

// lookup finds the handler of a declared method and route template. A linear
// scan beats a map for the few endpoints a processor has, and needs no key.
func (g *registry) lookup(method, path string) HandlerFunc {
	for i := range g.routes {
		if g.routes[i].path == path && g.routes[i].method == method {
			return g.routes[i].h
		}
	}
	return nil
}

// manifestJSON returns the manifest as JSON, encoding it once.
func (g *registry) manifestJSON() []byte {
	if g.manifest != nil {
		return g.manifest
	}
	m := abi.Manifest{
		Name:         g.info.Name,
		Version:      g.info.Version,
		Description:  g.info.Description,
		Capabilities: g.info.Capabilities,
		Permissions:  g.info.Permissions,
		Headers:      g.info.Headers,
		Limits:       g.info.Limits,
		Settings:     g.info.Settings,
		Endpoints:    make([]abi.Endpoint, len(g.routes)),
	}
	for i, r := range g.routes {
		m.Endpoints[i] = abi.Endpoint{Method: r.method, Path: r.path, Export: abi.DefaultHandlerExport, Description: r.Description,
			Public: r.Public, Scopes: r.Scopes}
	}
	b, err := json.Marshal(m)
	if err != nil { // Limits cannot fail, and register checked Settings
		panic("sdk: encode manifest: " + err.Error())
	}
	g.manifest = b
	return b
}

// runSelfTest runs the self test and returns nil on success, else a non-empty
// message.
func (g *registry) runSelfTest() []byte {
	if g.selfTest == nil {
		return nil
	}
	err := g.selfTest()
	if err == nil {
		return nil
	}
	if msg := err.Error(); msg != "" {
		return []byte(msg)
	}
	return []byte("self test failed")
}
