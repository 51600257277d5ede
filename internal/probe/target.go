package probe

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
)

// Kinds returns every kind of probe, in the order messages list them, so
// that a caller checking kinds itself (the configuration loader) accepts
// exactly the kinds a Prober does.
func Kinds() []Kind {
	return []Kind{KindTCP, KindHTTP, KindPostgres, KindRedis}
}

// KindList is Kinds for messages: "tcp, http, postgres or redis".
func KindList() string {
	ks := Kinds()
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = string(k)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// targetForm is what a target of one kind looks like: want, the form for
// messages, and check, which says why a target is not of that form without
// repeating the target.
type targetForm struct {
	want  string
	check func(target string) error
}

var targetForms = map[Kind]targetForm{
	KindTCP:      {"want host:port such as db.internal:5432", checkHostPort},
	KindHTTP:     {"want an http:// or https:// URL such as http://search.internal:9200/_cluster/health", checkHTTPURL},
	KindPostgres: {`want a URL such as postgres://user:password@db.internal:5432/app?sslmode=disable or a DSN such as "host=db.internal user=app dbname=app"`, checkPostgres},
	KindRedis:    {"want redis://[:password@]host:port[/db] (rediss:// for TLS) or host:port, such as redis://cache.internal:6379/0", checkRedis},
}

// CheckTarget reports whether target has the form its kind takes (see
// Dependency.Target), without connecting to anything. Validate and the
// configuration loader both use it, so a target the configuration accepts
// is one a probe can use. The error says what a valid target looks like
// and why this one is not; it names neither the dependency nor the target,
// for the caller to add its own context, and it never contains a password
// from the target.
func CheckTarget(kind Kind, target string) error {
	form, ok := targetForms[kind]
	if !ok {
		return fmt.Errorf("unknown kind %q: use %s", kind, KindList())
	}
	err := form.check(target)
	if err == nil {
		return nil
	}
	// The checks leave the target out of their errors, but some of the
	// parsers' reasons quote a part of it; when that part may be the
	// password, the reason goes.
	if showsSecret(err.Error(), target) {
		err = errors.New("the reason is withheld because it would show the password")
	}
	return fmt.Errorf("%s: %w", form.want, err)
}

// checkHostPort accepts host:port with a host and a port from 1 to 65535.
func checkHostPort(target string) error {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err) // without ae.Addr, the target
		}
		return err
	}
	if host == "" {
		return errors.New("the host is empty")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// checkURL accepts an absolute URL with one of schemes (which url.Parse
// lowercases) and a host.
func checkURL(target string, schemes ...string) error {
	u, err := url.Parse(target)
	if err != nil {
		return urlError(err)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			if u.Hostname() == "" {
				return errors.New("the URL has no host")
			}
			return nil
		}
	}
	return fmt.Errorf("URL scheme %q is not %s", u.Scheme, strings.Join(schemes, " or "))
}

func checkHTTPURL(target string) error {
	return checkURL(target, "http", "https")
}

// urlScheme matches the scheme of a URL, to tell a URL from a DSN whose
// values hold "://".
var urlScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)

// checkPostgres accepts what pgconn.Connect takes: a postgres:// or
// postgresql:// URL (pgconn knows no other case) or a keyword/value DSN.
func checkPostgres(target string) error {
	if strings.TrimSpace(target) == "" {
		return errors.New("the target is empty")
	}
	if s := urlScheme.FindString(target); s != "" && s != "postgres://" && s != "postgresql://" {
		return fmt.Errorf("URL scheme %q is not postgres or postgresql", strings.TrimSuffix(s, "://"))
	}
	if _, err := pgconn.ParseConfig(target); err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			// Its text quotes the target, redacted only on a best-effort
			// basis; the error is ours alone, so blank the target out.
			pe.ConnString = ""
			return errors.New(strings.TrimPrefix(pe.Error(), "cannot parse ``: "))
		}
		return err
	}
	return nil
}

// checkRedis accepts a redis:// or rediss:// URL with a host, or host:port.
func checkRedis(target string) error {
	if !strings.Contains(target, "://") {
		return checkHostPort(target)
	}
	if err := checkURL(target, "redis", "rediss"); err != nil {
		return err
	}
	if _, err := redis.ParseURL(target); err != nil {
		return urlError(err)
	}
	return nil
}

// urlError drops the URL, which may hold a password, from a url.Parse
// error.
func urlError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

var (
	dsnPassword = regexp.MustCompile(`password\s*=\s*('[^']*'|\S*)`)
	urlPassword = regexp.MustCompile(`:[^:@/]*@`)
	// passwordValue finds the value of a password key, DSN or URL query:
	// quoted, or up to a space or '&'.
	passwordValue = regexp.MustCompile(`password\s*=\s*(?:'([^']*)'|([^\s&']+))`)
)

// redact hides the password in a target, for messages and logs. When the
// password also shows elsewhere in the target, the whole target is hidden.
func redact(target string) string {
	var out string
	if u, err := url.Parse(target); err == nil && u.User != nil {
		out = u.Redacted()
	} else {
		out = dsnPassword.ReplaceAllString(target, "password=xxxxx")
		out = urlPassword.ReplaceAllString(out, ":xxxxx@")
	}
	if showsSecret(out, target) {
		return "xxxxx"
	}
	return out
}

// showsSecret reports whether msg contains something of target that may
// be a password, as a whole: not within a word, so that the password "p"
// is not found in "parse", but found in "u:p@h" or "\"p\"" as a parser
// would quote it.
func showsSecret(msg, target string) bool {
	for _, s := range secrets(target) {
		for i := 0; s != "" && i+len(s) <= len(msg); i++ {
			j := strings.Index(msg[i:], s)
			if j < 0 {
				break
			}
			i += j
			if !wordByte(msg, i-1) && !wordByte(msg, i+len(s)) {
				return true
			}
		}
	}
	return false
}

// wordByte reports whether s[i] exists and is an ASCII letter or digit.
func wordByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// secrets returns what in target may be a password, even when target does
// not parse: the text between the userinfo's ':' and the first '@' (as
// written and, for a URL that parses, decoded) and the value of every
// password key (password=, sslpassword=), in a DSN or a URL query.
func secrets(target string) []string {
	var out []string
	rest := target
	if _, after, ok := strings.Cut(target, "://"); ok {
		rest = after
	}
	if userinfo, _, ok := strings.Cut(rest, "@"); ok {
		if _, pw, ok := strings.Cut(userinfo, ":"); ok {
			out = append(out, pw)
		}
	}
	for _, m := range passwordValue.FindAllStringSubmatch(target, -1) {
		out = append(out, m[1]+m[2])
	}
	if u, err := url.Parse(target); err == nil {
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw)
		}
		for k, vs := range u.Query() {
			if strings.Contains(strings.ToLower(k), "password") {
				out = append(out, vs...)
			}
		}
	}
	return out
}
