package modfile

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gorilla/mux"
	"golang.org/x/mod/semver"

	"github.com/empirefederation/neuron/internal/jsonkind"
	"github.com/empirefederation/neuron/sdk/abi"
)

var (
	namePattern   = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)
	exportPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.$-]{0,127}$`)
	// settingPattern has no '.', so that plugins.NAME.KEY splits at its
	// last dot whatever dots NAME holds.
	settingPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
	varPattern     = regexp.MustCompile(`\{[^{}]*\}`)
)

// Methods are the HTTP methods an endpoint may declare, in the order
// the request path indexes its endpoints by.
var Methods = [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// reservedPaths belong to the neuron itself; no processor may serve them.
var reservedPaths = []string{"/health", "/ready", "/metrics", "/auth/token"}

// reservedPrefix is the neuron's own API.
const reservedPrefix = "/api/neuron/"

// ValidName reports whether name may name a processor: 1-64 lower-case
// letters, digits, '.', '_' or '-', starting and ending with a letter or
// digit. `neuron plugin new` checks a new project's name with it.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// validateManifest checks m completely and returns every problem at once,
// each naming the field, so that an author fixes them in one go. It fills in
// default exports.
func validateManifest(m *abi.Manifest) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !namePattern.MatchString(m.Name) {
		bad("name %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", m.Name)
	}
	if !semver.IsValid("v"+m.Version) || strings.HasPrefix(m.Version, "v") {
		bad("version %q: use a semantic version such as 1.2.0", m.Version)
	}
	if len(m.Endpoints) == 0 {
		bad("endpoints: a processor must declare at least one endpoint")
	}
	seen := map[string]bool{}
	for i := range m.Endpoints {
		e := &m.Endpoints[i]
		if e.Export == "" {
			e.Export = abi.DefaultHandlerExport
		}
		at := fmt.Sprintf("endpoints[%d]", i)
		if err := validateEndpoint(e); err != nil {
			bad("%s: %w", at, err)
			continue
		}
		key := RouteKey(e.Method, e.Path)
		if seen[key] {
			bad("%s: %s %s is declared twice", at, e.Method, e.Path)
		}
		seen[key] = true
	}
	for _, p := range m.Permissions {
		if p != abi.PermFilesystem && p != abi.PermEnvironment {
			bad("permissions: unknown permission %q (known: %s, %s)", p, abi.PermFilesystem, abi.PermEnvironment)
		}
	}
	for _, h := range m.Headers {
		if !IsToken(h) {
			bad("headers: %q is not a valid header name", h)
		}
	}
	errs = append(errs, validateSettings(m.Settings)...)
	return errors.Join(errs...)
}

// maxSettingString bounds a declared default string: a setting is a knob,
// not a payload.
const maxSettingString = 4096

// validateSettings checks a manifest's declared settings: at most
// abi.MaxSettings, each a sane key with a JSON scalar default.
func validateSettings(settings map[string]any) []error {
	var errs []error
	if len(settings) > abi.MaxSettings {
		errs = append(errs, fmt.Errorf("settings: %d declared, at most %d", len(settings), abi.MaxSettings))
	}
	for _, key := range slices.Sorted(maps.Keys(settings)) {
		if !settingPattern.MatchString(key) {
			errs = append(errs, fmt.Errorf("settings: key %q: use 1-64 letters, digits, '_' or '-', starting with a letter", key))
			continue
		}
		switch v := settings[key].(type) {
		case bool, float64:
		case string:
			if len(v) > maxSettingString {
				errs = append(errs, fmt.Errorf("settings.%s: the default is %d bytes, at most %d", key, len(v), maxSettingString))
			}
		default:
			errs = append(errs, fmt.Errorf("settings.%s: the default is %s; a setting's default is a string, a number or a boolean", key, jsonkind.A(v)))
		}
	}
	return errs
}

func validateEndpoint(e *abi.Endpoint) error {
	if !slices.Contains(Methods[:], e.Method) {
		return fmt.Errorf("method %q: use one of %s", e.Method, strings.Join(Methods[:], ", "))
	}
	if !strings.HasPrefix(e.Path, "/") {
		return fmt.Errorf("path %q: must start with '/'", e.Path)
	}
	if slices.Contains(reservedPaths, e.Path) || strings.HasPrefix(e.Path, reservedPrefix) {
		return fmt.Errorf("path %q: reserved for the neuron itself", e.Path)
	}
	if err := mux.NewRouter().Path(e.Path).GetError(); err != nil {
		return fmt.Errorf("path %q: %w", e.Path, err)
	}
	if !exportPattern.MatchString(e.Export) {
		return fmt.Errorf("export %q: not a valid export name", e.Export)
	}
	return validateScopes(e)
}

// validateScopes checks an endpoint's scopes: a public endpoint requires
// none, and each is a scope token (RFC 6749, section 3.3) of sane length.
func validateScopes(e *abi.Endpoint) error {
	switch {
	case e.Public && len(e.Scopes) > 0:
		return errors.New("public with scopes: a public endpoint takes calls without a token, so it cannot require scopes; drop one of them")
	case len(e.Scopes) > abi.MaxScopes:
		return fmt.Errorf("scopes: %d, at most %d", len(e.Scopes), abi.MaxScopes)
	}
	for _, s := range e.Scopes {
		if len(s) == 0 || len(s) > 64 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r > '~' }) {
			return fmt.Errorf("scope %q: use 1-64 printable ASCII characters without spaces, quotes or backslashes", s)
		}
	}
	return nil
}

// RouteKey identifies a method and path regardless of variable names, so
// that /users/{id} and /users/{name} are seen as the same route.
func RouteKey(method, path string) string {
	return method + " " + varPattern.ReplaceAllString(path, "{}")
}

// RouteVars returns the variable names of a route in the order they appear.
func RouteVars(path string) []string {
	var names []string
	for _, v := range varPattern.FindAllString(path, -1) {
		name, _, _ := strings.Cut(v[1:len(v)-1], ":")
		names = append(names, name)
	}
	return names
}

// tokenChars are the bytes allowed in a header name (RFC 9110, section 5.6.2).
var tokenChars = func() (t [256]bool) {
	for _, c := range []byte("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
		t[c] = true
	}
	return t
}()

// IsToken reports whether s is a valid header name.
func IsToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return s != ""
}
