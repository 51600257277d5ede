package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Dependency is a service the neuron needs, probed in the background with
// its own protocol. Its health counts in the heartbeat's dependency status
// and health score, and its name goes into the registration's
// dependencies. Load fills the defaults, so every field is set.
type Dependency struct {
	// Name identifies the dependency in reports: letters, digits, '-',
	// '_' and '.', unique among the dependencies. By default the kind.
	Name string `koanf:"name"`
	// Kind is the protocol the probe speaks: DependencyTCP,
	// DependencyHTTP, DependencyPostgres or DependencyRedis.
	Kind string `koanf:"kind"`
	// Target is what the probe reaches, in the form its kind takes: see
	// docs/configuration.md. It may hold credentials; do not log it.
	Target string `koanf:"target"`
	// Interval is the period between probes.
	Interval time.Duration `koanf:"interval"`
	// Timeout bounds one probe; it is shorter than Interval.
	Timeout time.Duration `koanf:"timeout"`
	// Optional marks a dependency whose failure degrades the neuron's
	// health score without making the neuron unhealthy.
	Optional bool `koanf:"optional"`
}

// Kinds of Dependency: the protocol its probe speaks.
const (
	// DependencyTCP connects to Target, host:port.
	DependencyTCP = "tcp"
	// DependencyHTTP sends GET Target, an http(s) URL.
	DependencyHTTP = "http"
	// DependencyPostgres connects to Target, a postgres:// URL or a
	// key=value DSN, and runs a trivial query.
	DependencyPostgres = "postgres"
	// DependencyRedis sends PING to Target, a redis:// URL or host:port.
	DependencyRedis = "redis"
)

// Dependency defaults, applied to each item that leaves them out.
const (
	defaultDependencyInterval = 15 * time.Second
	defaultDependencyTimeout  = 3 * time.Second
	// minDependencyInterval keeps a mistyped interval ("1ns") from
	// turning a probe into a tight loop.
	minDependencyInterval = 10 * time.Millisecond
)

// dependenciesSchema is the list of dependencies: every item checked on
// its own, then names checked for uniqueness.
var dependenciesSchema = &node{
	items: &node{
		fields: map[string]*node{
			"name":     {leaf: str(true, checkName("name"))},
			"kind":     {leaf: str(false, checkKind)},
			"target":   {leaf: str(false, nil)},
			"interval": {leaf: duration(true)},
			"timeout":  {leaf: duration(true)},
			"optional": {leaf: boolean},
		},
		check: checkDependency,
	},
	parse: parseDependencies,
	check: checkUniqueNames,
}

func checkKind(s string) (string, error) {
	switch k := strings.ToLower(s); k {
	case DependencyTCP, DependencyHTTP, DependencyPostgres, DependencyRedis:
		return k, nil
	}
	return "", fmt.Errorf("unknown kind %q, want %s, %s, %s or %s", s,
		DependencyTCP, DependencyHTTP, DependencyPostgres, DependencyRedis)
}

// checkDependency checks one item as a whole: kind and target present,
// target fit for the kind, timeout shorter than interval. It fills the
// defaults: name = kind, interval 15s, timeout 3s (half the interval when
// that is shorter).
func checkDependency(v any, report func(string, error)) any {
	m := v.(map[string]any)
	kind, _ := m["kind"].(string)
	target, _ := m["target"].(string)
	if kind == "" {
		report(".kind", fmt.Errorf("required: %s, %s, %s or %s", DependencyTCP, DependencyHTTP, DependencyPostgres, DependencyRedis))
	}
	if target == "" {
		report(".target", errors.New("required: what the probe reaches, e.g. host:port"))
	}
	if kind != "" && target != "" {
		if err := checkTarget(kind, target); err != nil {
			report(".target", err)
		}
	}
	if name, _ := m["name"].(string); name == "" {
		m["name"] = kind
	}
	interval, ok := m["interval"].(time.Duration)
	if !ok {
		interval = defaultDependencyInterval
		m["interval"] = interval
	}
	timeout, ok := m["timeout"].(time.Duration)
	if !ok {
		timeout = min(defaultDependencyTimeout, interval/2)
		m["timeout"] = timeout
	}
	if interval < minDependencyInterval {
		report(".interval", fmt.Errorf("must be at least %s, got %s", minDependencyInterval, interval))
	} else if timeout >= interval {
		report(".timeout", fmt.Errorf("must be shorter than the interval (%s), got %s", interval, timeout))
	}
	return m
}

// checkUniqueNames refuses two dependencies with the same name.
func checkUniqueNames(v any, report func(string, error)) any {
	seen := map[string]int{}
	for i, it := range v.([]any) {
		name, _ := it.(map[string]any)["name"].(string)
		if j, dup := seen[name]; dup {
			report(fmt.Sprintf("[%d].name", i), fmt.Errorf("%q is already the name of dependencies[%d]; give each a unique name", name, j))
			continue
		}
		seen[name] = i
	}
	return v
}

// checkTarget reports whether target is plausible for kind. Messages do
// not quote URLs and DSNs, which may hold passwords.
func checkTarget(kind, target string) error {
	switch kind {
	case DependencyTCP:
		return checkHostPort(target)
	case DependencyHTTP:
		if err := checkURL(target, "http", "https"); err != nil {
			return fmt.Errorf("%w: want http(s)://host[:port]/path", err)
		}
	case DependencyPostgres:
		if strings.Contains(target, "://") {
			if err := checkURL(target, "postgres", "postgresql"); err != nil {
				return fmt.Errorf("%w: want postgres://user:pass@host:5432/db, postgresql://... or a key=value DSN", err)
			}
			return nil
		}
		return checkDSN(target)
	case DependencyRedis:
		if strings.Contains(target, "://") {
			if err := checkURL(target, "redis", "rediss"); err != nil {
				return fmt.Errorf("%w: want redis://[user:pass@]host:6379[/db], rediss://... or host:port", err)
			}
			return nil
		}
		return checkHostPort(target)
	}
	return nil
}

// checkHostPort accepts host:port with a non-empty host and a port from 1
// to 65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("invalid address %q: want host:port", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("invalid port in %q: want a number from 1 to 65535", s)
	}
	return nil
}

// checkURL accepts an absolute URL with one of schemes and a host. Its
// errors do not quote the URL.
func checkURL(s string, schemes ...string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL, password and all
		}
		return fmt.Errorf("invalid URL (%w)", err)
	}
	for _, sc := range schemes {
		if strings.EqualFold(u.Scheme, sc) {
			if u.Host == "" {
				return errors.New("URL without a host")
			}
			return nil
		}
	}
	return fmt.Errorf("URL scheme %q", u.Scheme)
}

// checkDSN accepts a libpq key=value connection string: space-separated
// key=value pairs (values may be quoted).
func checkDSN(s string) error {
	first, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	key, _, ok := strings.Cut(first, "=")
	if !ok || key == "" || strings.ContainsFunc(key, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '_') }) {
		return errors.New("invalid postgres target: want postgres://user:pass@host:5432/db, postgresql://... or a key=value DSN like \"host=db port=5432 dbname=app\"")
	}
	return nil
}

// parseDependencies reads NEURON_DEPENDENCIES: items separated by ';',
// each [name=]kind:target, into the list YAML would give. The name may be
// left out ("redis:127.0.0.1:6379"); it cannot hold ':', so the first '='
// before any ':' ends it.
func parseDependencies(s string) (any, error) {
	out := []any{}
	for i, it := range strings.Split(s, ";") {
		if it = strings.TrimSpace(it); it == "" {
			continue
		}
		item := map[string]any{}
		if name, rest, ok := strings.Cut(it, "="); ok && !strings.Contains(name, ":") {
			item["name"], it = strings.TrimSpace(name), rest
		}
		kind, target, ok := strings.Cut(it, ":")
		if !ok {
			return nil, fmt.Errorf("item %d: want [name=]kind:target, items separated by ';'", i+1)
		}
		item["kind"], item["target"] = strings.TrimSpace(kind), strings.TrimSpace(target)
		out = append(out, item)
	}
	return out, nil
}
