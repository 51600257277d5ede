package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
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

// integer is a whole-number leaf in [0, maxVal].
func integer(maxVal int64) func(any) (any, error) {
	return func(v any) (any, error) {
		var n int64
		switch x := v.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		case uint64:
			if x > math.MaxInt64 {
				return nil, fmt.Errorf("must be at most %d, got %d", maxVal, x)
			}
			n = int64(x)
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, fmt.Errorf("must be a whole number, got %v", x)
			}
			n = int64(x)
		case string:
			var err error
			if n, err = strconv.ParseInt(strings.TrimSpace(x), 10, 64); err != nil {
				return nil, fmt.Errorf("must be a whole number, got %q", x)
			}
		default:
			return nil, fmt.Errorf("must be a whole number, not %s", typeName(v))
		}
		switch {
		case n < 0:
			return nil, fmt.Errorf("must not be negative, got %d", n)
		case n > maxVal:
			return nil, fmt.Errorf("must be at most %d, got %d", maxVal, n)
		}
		return n, nil
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
			return nil, errors.Join(errs...)
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

func checkLogLevel(s string) (string, error) {
	switch l := strings.ToLower(s); l {
	case "debug", "info", "warn", "error":
		return l, nil
	}
	return "", fmt.Errorf("unknown log level %q, want debug, info, warn or error", s)
}

func checkID(s string) (string, error) {
	if len(s) > 128 {
		return "", fmt.Errorf("must be at most 128 characters, got %d", len(s))
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)
		if !ok {
			return "", fmt.Errorf("invalid id %q: use letters, digits, '-', '_' and '.'", s)
		}
	}
	return s, nil
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
