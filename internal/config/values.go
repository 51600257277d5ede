package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/ociref"
	"github.com/empirefederation/neuron/internal/signature"
)

// Leaf parsers: each takes a value as YAML, the environment or a flag gives
// it, and returns it checked and normalized, or an error without the key
// (the caller adds key and source).

// str is a string leaf. Scalars (numbers, booleans) are taken as their text,
// since YAML reads `name: 42` as a number. Surrounding space is trimmed.
func str(emptyOK bool, check func(string) (string, error)) func(any) (any, error) {
	return func(v any) (any, error) {
		var s string
		switch x := v.(type) {
		case string:
			s = strings.TrimSpace(x)
		case int, int64, uint64, float64, bool:
			s = fmt.Sprint(x)
		default:
			return nil, fmt.Errorf("must be a string, not %s", typeName(v))
		}
		if s == "" {
			if emptyOK {
				return "", nil
			}
			return nil, errors.New("must not be empty")
		}
		if check == nil {
			return s, nil
		}
		return check(s)
	}
}

// duration is a Go duration leaf ("1m30s"); positive requires more than 0.
func duration(positive bool) func(any) (any, error) {
	return func(v any) (any, error) {
		var d time.Duration
		switch x := v.(type) {
		case time.Duration:
			d = x
		case int:
			if x != 0 {
				return nil, fmt.Errorf("invalid duration %d: needs a unit, like \"%ds\"", x, x)
			}
		case string:
			var err error
			if d, err = time.ParseDuration(strings.TrimSpace(x)); err != nil {
				return nil, fmt.Errorf("invalid duration %q, want e.g. \"30s\" or \"1m\"", x)
			}
		default:
			return nil, fmt.Errorf("must be a duration like \"30s\", not %s", typeName(v))
		}
		switch {
		case d < 0:
			return nil, fmt.Errorf("must not be negative, got %s", d)
		case positive && d == 0:
			return nil, errors.New("must be positive")
		}
		return d, nil
	}
}

// durationAtMost is a Go duration leaf ("1m30s") of at most maxVal.
func durationAtMost(maxVal time.Duration) func(any) (any, error) {
	parse := duration(false)
	return func(v any) (any, error) {
		d, err := parse(v)
		if err == nil && d.(time.Duration) > maxVal {
			return nil, fmt.Errorf("must be at most %s, got %s", maxVal, d)
		}
		return d, err
	}
}

// integer is a whole-number leaf in [0, maxVal].
func integer(maxVal int64) func(any) (any, error) { return intRange(0, maxVal) }

// intRange is a whole-number leaf in [minVal, maxVal], minVal >= 0.
func intRange(minVal, maxVal int64) func(any) (any, error) {
	return func(v any) (any, error) {
		if s, ok := v.(string); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("must be a whole number, got %q", s)
			}
			v = n
		}
		n, err := wholeNumber(v)
		if err != nil {
			return nil, err
		}
		switch {
		case n < 0:
			return nil, fmt.Errorf("must not be negative, got %d", n)
		case n < minVal:
			return nil, fmt.Errorf("must be at least %d, got %d", minVal, n)
		case n > maxVal:
			return nil, fmt.Errorf("must be at most %d, got %d", maxVal, n)
		}
		return n, nil
	}
}

// wholeNumber returns v as an int64 if it is a whole number of a type the
// YAML and JSON decoders produce (json.Number included). Strings are not
// numbers here.
func wholeNumber(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("must be at most %d, got %d", int64(math.MaxInt64), x)
		}
		return int64(x), nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("must be a whole number, got %s", x)
		}
		return wholeNumber(f)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("must be a whole number, got %v", x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("must be a whole number, not %s", typeName(v))
}

// realNumber returns v as a float64 if it is a finite number of a type
// the YAML and JSON decoders produce (json.Number included).
func realNumber(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, fmt.Errorf("must be a number, got %s", x)
		}
	default:
		return 0, fmt.Errorf("must be a number, not %s", typeName(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("must be a finite number, got %v", f)
	}
	return f, nil
}

// number is a float64 leaf in (lo, hi], or [lo, hi] when loIncluded; hi
// may be +Inf. Strings (from the environment) are parsed.
func number(lo, hi float64, loIncluded bool) func(any) (any, error) {
	return func(v any) (any, error) {
		if s, ok := v.(string); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return nil, fmt.Errorf("must be a number, got %q", s)
			}
			v = f
		}
		f, err := realNumber(v)
		if err != nil {
			return nil, err
		}
		if err := inRange(f, lo, hi, loIncluded); err != nil {
			return nil, err
		}
		return f, nil
	}
}

// inRange reports whether f is in (lo, hi], or [lo, hi] when loIncluded,
// with an error that states the range.
func inRange(f, lo, hi float64, loIncluded bool) error {
	low := f > lo || loIncluded && f == lo
	if low && f <= hi {
		return nil
	}
	switch {
	case math.IsInf(hi, 1) && loIncluded:
		return fmt.Errorf("must be at least %v, got %v", lo, f)
	case math.IsInf(hi, 1):
		return fmt.Errorf("must be more than %v, got %v", lo, f)
	case loIncluded:
		return fmt.Errorf("must be from %v to %v, got %v", lo, hi, f)
	}
	return fmt.Errorf("must be more than %v and at most %v, got %v", lo, hi, f)
}

// boolean is a true/false leaf; strings (from the environment) are parsed
// as strconv.ParseBool does.
func boolean(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return nil, fmt.Errorf("must be true or false, got %q", x)
		}
		return b, nil
	}
	return nil, fmt.Errorf("must be true or false, not %s", typeName(v))
}

// joinOneLine joins the problems of one key's items on one line, so that
// each line of Load's error names its key.
func joinOneLine(errs []error) error {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// intList is a list-of-integers leaf, each in [lo, hi]: a YAML list, or
// one comma-separated string. Duplicates are dropped; the order is kept.
func intList(lo, hi int64) func(any) (any, error) {
	return func(v any) (any, error) {
		var items []any
		switch x := v.(type) {
		case string:
			for _, it := range strings.Split(x, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
		case []any:
			items = x
		default:
			return nil, fmt.Errorf("must be a list of whole numbers, not %s", typeName(v))
		}
		out := []int{}
		var errs []error
		for _, it := range items {
			n, err := integer(hi)(it)
			switch {
			case err != nil:
				errs = append(errs, err)
			case n.(int64) < lo:
				errs = append(errs, fmt.Errorf("must be from %d to %d, got %d", lo, hi, n))
			case !slices.Contains(out, int(n.(int64))):
				out = append(out, int(n.(int64)))
			}
		}
		if len(errs) > 0 {
			return nil, joinOneLine(errs)
		}
		return out, nil
	}
}

// list is a list-of-strings leaf: a YAML list, or one comma-separated
// string (as environment variables give it). Items are trimmed, checked and
// deduplicated; empty items are dropped.
func list(check func(string) (string, error)) func(any) (any, error) {
	return func(v any) (any, error) {
		var items []string
		switch x := v.(type) {
		case string:
			items = strings.Split(x, ",")
		case []string:
			items = x
		case []any:
			for _, it := range x {
				s, ok := it.(string)
				if !ok {
					return nil, fmt.Errorf("must be a list of strings, found %s", typeName(it))
				}
				items = append(items, s)
			}
		default:
			return nil, fmt.Errorf("must be a list of strings, not %s", typeName(v))
		}
		out := []string{}
		var errs []error
		for _, it := range items {
			it, err := check(strings.TrimSpace(it))
			switch {
			case err != nil:
				errs = append(errs, err)
			case it != "" && !slices.Contains(out, it):
				out = append(out, it)
			}
		}
		if len(errs) > 0 {
			return nil, joinOneLine(errs)
		}
		return out, nil
	}
}

// Permissions a processor may be granted with allowPermissions.
const (
	PermissionFilesystem  = "filesystem"
	PermissionEnvironment = "environment"
)

func checkPermission(s string) (string, error) {
	switch p := strings.ToLower(s); p {
	case "", PermissionFilesystem, PermissionEnvironment:
		return p, nil
	}
	return "", fmt.Errorf("unknown permission %q, want %q or %q", s, PermissionFilesystem, PermissionEnvironment)
}

// checkHost accepts a host name or IP, with an optional port: an entry
// of pluginHosts.
func checkHost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	bad := fmt.Errorf("host %q: want a host name or IP address, optionally with :port (no scheme or path)", s)
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	if host == "" || strings.ContainsAny(s, "/@?# ") || strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return "", bad
	}
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
		return "", fmt.Errorf("host %q: the port must be 1 to 65535", s)
	}
	return strings.ToLower(s), nil
}

// checkRef accepts a reference of a processor in an OCI registry: an
// entry of pluginSources.
func checkRef(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if _, err := ociref.Parse(s); err != nil {
		return "", err
	}
	return s, nil
}

// checkTrustedKey accepts a file holding an Ed25519 public key in PEM, an
// entry of trustedKeys: the key is read here, so that a neuron never
// starts trusting less than its operator meant.
func checkTrustedKey(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	if _, err := signature.LoadPublicKey(path); err != nil {
		return "", fmt.Errorf("%w; give the .pub file that `neuron plugin keygen` wrote (an Ed25519 public key in PEM)", err)
	}
	return path, nil
}

// checkName accepts a name of letters, digits, '-', '_' and '.', at most
// 128 characters: ids, registration types, dependency names.
func checkName(what string) func(string) (string, error) {
	return func(s string) (string, error) {
		if len(s) > 128 {
			return "", fmt.Errorf("must be at most 128 characters, got %d", len(s))
		}
		for _, r := range s {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)
			if !ok {
				return "", fmt.Errorf("invalid %s %q: use letters, digits, '-', '_' and '.'", what, s)
			}
		}
		return s, nil
	}
}

var (
	checkID   = checkName("id")
	checkType = checkName("type")
)

// checkCapability accepts a capability: lowercase letters, digits, '_',
// '.' and '-' (as the reference's "batch_operations").
func checkCapability(s string) (string, error) {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("_.-", r)) {
			return "", fmt.Errorf("invalid capability %q: use lowercase letters, digits, '_', '.' and '-'", s)
		}
	}
	return s, nil
}

// parsePairs reads "k=v,k2=v2" (as NEURON_METADATA gives it) into a
// mapping. A value may contain '=' but not ','; empty items are skipped.
func parsePairs(s string) (any, error) {
	out := map[string]any{}
	for i, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it == "" {
			continue
		}
		k, v, ok := strings.Cut(it, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return nil, fmt.Errorf("item %d (%q): want key=value, items separated by ','", i+1, it)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

func checkLogLevel(s string) (string, error) {
	switch l := strings.ToLower(s); l {
	case "debug", "info", "warn", "error":
		return l, nil
	}
	return "", fmt.Errorf("unknown log level %q, want debug, info, warn or error", s)
}

func checkListen(s string) (string, error) {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("invalid listen address %q, want host:port or :port: %w", s, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("invalid port in listen address %q: want a number from 0 to 65535", s)
	}
	return s, nil
}

// checkHTTPURL accepts an absolute http or https URL and drops a trailing
// slash, so that paths can be appended.
func checkHTTPURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid url %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid url %q: want http://host[:port] or https://host[:port]", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// FederationEmbedded is the Federation.URL that starts a development
// federation inside the process.
const FederationEmbedded = "embedded"

func checkFederationURL(s string) (string, error) {
	if strings.EqualFold(s, FederationEmbedded) {
		return FederationEmbedded, nil
	}
	out, err := checkHTTPURL(s)
	if err != nil {
		return "", fmt.Errorf("%w, %q, or empty for standalone", err, FederationEmbedded)
	}
	return out, nil
}
