package devfed

import (
	"net"
	"net/http"
	"strings"
)

// codeMisdirected is the code of a request whose Host the federation does
// not answer to.
const codeMisdirected = "misdirected_request"

// hostAllowed reports whether the dashboard and admin API answer a request
// with this Host header (DNS rebinding protection: a page of another site
// whose name was made to resolve to this federation's address sends that
// name as Host). Accepted: an IP literal (a page reaching the federation by
// IP has that IP as its origin, so it cannot rebind), localhost and
// *.localhost (browsers resolve them to loopback themselves), and the names
// in Options.AllowedHosts (exact, case-insensitive, without the port).
func (s *Server) hostAllowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	_, found := s.hosts[host]
	return found
}

// hostOnly refuses (421) a request for the dashboard or admin API whose
// Host the federation does not answer to, before h.
func (s *Server) hostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.fail(w, r, &apiError{Status: http.StatusMisdirectedRequest, Code: codeMisdirected, Msg: "the federation does not " +
				"answer to the name " + strings.ToValidUTF8(r.Host, "?") + " (protection against DNS rebinding): open it by IP address or " +
				"localhost, or add the name to --allowed-hosts / FEDERATION_ALLOWED_HOSTS (comma separated)"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hostSet is Options.AllowedHosts as hostAllowed looks them up.
func hostSet(names []string) map[string]struct{} {
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), ".")); n != "" {
			set[n] = struct{}{}
		}
	}
	return set
}
