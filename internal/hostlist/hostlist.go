// Package hostlist matches a host against an operator's list of hosts,
// the shape every host list of the configuration has (pluginHosts,
// insecureRegistries): "host" names the host on any port, "host:port" one
// port of it, case-insensitively.
package hostlist

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// Match reports whether list names hostport ("host" or "host:port", as in
// a URL's Host).
func Match(list []string, hostport string) bool {
	u := url.URL{Host: strings.ToLower(hostport)}
	host := u.Hostname()
	return slices.ContainsFunc(list, func(h string) bool {
		h = strings.ToLower(h)
		return h == host || h == u.Host || h == net.JoinHostPort(host, u.Port())
	})
}
