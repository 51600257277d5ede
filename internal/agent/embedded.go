package agent

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/empirefederation/neuron/internal/devfed"
)

// serveEmbedded starts the development federation of FEDERATION_URL=embedded:
// on federation.listen, with its data in DataDir/federation, the neuron's
// heartbeat interval as the liveness period, and the admin token
// configured, else the one kept in its data directory (generated the
// first time).
func serveEmbedded(a *Agent) (*devfed.HTTPServer, error) {
	f := a.cfg.Federation
	ln, err := net.Listen("tcp", f.Listen)
	if err != nil {
		return nil, fmt.Errorf("FEDERATION_URL=embedded: the development federation cannot listen on %s: %w (set FEDERATION_LISTEN or --federation-listen to a free host:port, or stop what holds it)", f.Listen, err)
	}
	dir := filepath.Join(a.cfg.DataDir, "federation")
	d, err := devfed.Serve(ln, devfed.Options{
		DataDir: dir, AdminToken: f.AdminToken, HeartbeatInterval: f.HeartbeatInterval, Logger: a.log.With("component", "devfed"),
	})
	if err != nil {
		return nil, fmt.Errorf("FEDERATION_URL=embedded: %w", err)
	}
	a.log.Info("development federation serving in this process", "url", d.URL(), "dashboard", d.Dashboard(),
		"data", dir, "admin_token_kept_in_data", f.AdminToken == "")
	return d, nil
}

// Dashboard is the embedded development federation's dashboard address
// (see devfed.HTTPServer.Dashboard), or "" unless FEDERATION_URL is embedded.
func (a *Agent) Dashboard() string {
	if a.embedded == nil {
		return ""
	}
	return a.embedded.Dashboard()
}
