package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/control"
	"github.com/empirefederation/neuron/internal/report"
	"github.com/empirefederation/neuron/internal/spool"
	"github.com/empirefederation/neuron/internal/sysmetrics"
)

// federationTimeout bounds one call to the federation: a slow federation
// delays a report, never a request.
const federationTimeout = 10 * time.Second

// federationTokenFile, in DataDir, keeps the federation's last token so
// that a restarted neuron proves it holds its id (federation.LinkOptions.TokenFile).
const federationTokenFile = "federation-token.json"

// link is the federation link with the durable queue its reports go
// through.
type link struct {
	*federation.Link // nil until the processors are loaded
	queue            *spool.Spool
}

// startEmbedded starts the development federation of
// FEDERATION_URL=embedded (see embedded.go): the first component to start
// and the last to stop, so that it receives the stopping heartbeat and the
// final report. It does nothing otherwise.
func (a *Agent) startEmbedded(context.Context) error {
	if a.cfg.Federation.URL != config.FederationEmbedded {
		return nil
	}
	var err error
	a.embedded, err = serveEmbedded(a)
	return err
}

func (a *Agent) stopEmbedded(ctx context.Context) error {
	if a.embedded == nil {
		return nil
	}
	return a.embedded.Stop(ctx)
}

// openSpool opens the analytics spool in DataDir/spool, which the
// federation link reports through. It does nothing when standalone.
func (a *Agent) openSpool(context.Context) error {
	cfg := a.cfg
	if cfg.Federation.URL == "" {
		return nil
	}
	q, err := spool.Open(spool.Options{Dir: filepath.Join(cfg.DataDir, "spool"),
		MaxItems: cfg.Federation.SpoolMaxReports, MaxBytes: cfg.Federation.SpoolMaxBytes, Logger: a.log})
	if err != nil {
		return fmt.Errorf("analytics spool: %w", err)
	}
	a.reg.MustRegister(spoolCollector{q})
	a.outbox = &link{queue: q}
	return nil
}

// closeSpool stops the link, if it started, then closes the spool. The
// link's Stop builds the final analytics report (once nothing else runs,
// so that it holds every call answered), queues it durably and sends the
// queue until it is empty or ctx ends; what is not sent stays queued for
// the next start.
func (a *Agent) closeSpool(ctx context.Context) error {
	l := a.outbox
	if l == nil {
		return nil
	}
	var err error
	if l.Link != nil {
		err = l.Link.Stop(ctx)
	}
	return errors.Join(err, l.queue.Close())
}

// startLink starts the federation lifecycle in the background, once the
// processors are loaded, so that the first registration carries their
// endpoints; serving never waits for it.
func (a *Agent) startLink(ctx context.Context) error {
	l, cfg := a.outbox, a.cfg
	if l == nil {
		return nil
	}
	base := cfg.Federation.URL
	if a.embedded != nil {
		base = a.embedded.URL()
	}
	client := federation.NewClient(base, federation.NewHTTPClient(federationTimeout, a.federationTLS), "neuron/"+cfg.BuildVersion)
	l.Link = federation.StartLink(context.WithoutCancel(ctx), federation.LinkOptions{
		Client: client, Neuron: neuron{a}, Queue: l.queue, Logger: a.log,
		HeartbeatInterval: cfg.Federation.HeartbeatInterval, AnalyticsInterval: cfg.Federation.AnalyticsInterval,
		ConfigPollInterval: cfg.Federation.ConfigPollInterval, Events: a.events.Record,
		TokenFile: filepath.Join(cfg.DataDir, federationTokenFile),
	})
	a.fed.Store(l)
	return nil
}

// beginStopLink stops the link's loops and sends the heartbeat that says
// "stopping" (see federation.Link.BeginStop), before the drain.
func (a *Agent) beginStopLink(ctx context.Context) error {
	if l := a.fed.Load(); l != nil {
		l.BeginStop(ctx)
	}
	return nil
}

// neuron is the agent as the federation link sees it.
type neuron struct{ a *Agent }

func (n neuron) Registration() federation.Registration { return n.a.reporter.Registration() }
func (n neuron) Status() federation.Status             { return n.a.reporter.Status() }

// Analytics is the interval's report, with the reports the spool dropped
// for lack of room since the last one.
func (n neuron) Analytics() federation.AnalyticsReport {
	r := n.a.reporter.Analytics()
	if l := n.a.fed.Load(); l != nil {
		r.Dropped += int64(l.queue.TakeDropped())
	}
	return r
}

// ApplyUpdate applies a polled update. An update refused before for the
// same reasons is no news: the controller reported it then, so the link
// is not told again (it would warn at every poll).
func (n neuron) ApplyUpdate(ctx context.Context, u federation.Update, source string) error {
	_, err := n.a.control.Apply(ctx, u, source)
	if rej, ok := errors.AsType[*control.RejectedError](err); ok && rej.Repeated {
		return nil
	}
	return err
}

// registration is the configured part of the registration; the reporter
// adds the processors' endpoints and capabilities.
func registration(cfg *config.Config, addr net.Addr, host sysmetrics.HostInfo) federation.Registration {
	f := cfg.Federation
	baseURL := cfg.BaseURL
	if baseURL == cfg.DerivedBaseURL(cfg.Listen) { // derived: use the port actually bound
		baseURL = cfg.DerivedBaseURL(addr.String())
	}
	deploy := federation.DeploymentInfo{Type: f.DeploymentInfo.Type, Image: f.DeploymentInfo.Image, Ports: f.DeploymentInfo.Ports}
	if deploy.Type == "" {
		deploy.Type = "process"
		if host.ContainerID != "" {
			deploy.Type = "container"
		}
	}
	if len(deploy.Ports) == 0 {
		if tcp, ok := addr.(*net.TCPAddr); ok {
			deploy.Ports = []int{tcp.Port}
		}
	}
	res := federation.ResourceRequirements{
		CPU:     cmp.Or(f.ResourceRequirements.CPU, "1 core"),
		Memory:  cmp.Or(f.ResourceRequirements.Memory, memoryFor(cfg)),
		Storage: cmp.Or(f.ResourceRequirements.Storage, "1GB"),
	}
	var deps []string
	for _, d := range cfg.Dependencies {
		deps = append(deps, d.Name)
	}
	return federation.Registration{
		NeuronID: cfg.ID, Name: cfg.Name, Type: f.Type, Language: "wasm", Version: cfg.BuildVersion,
		BaseURL: baseURL, HealthcheckEndpoint: "/health",
		Authentication:       authentication(cfg),
		Capabilities:         f.Capabilities,
		Dependencies:         deps,
		ResourceRequirements: res,
		DeploymentInfo:       deploy,
		AlertThresholds: federation.AlertThresholds{ErrorRate: f.AlertThresholds.ErrorRate,
			ResponseTime: f.AlertThresholds.ResponseTime, HealthScore: f.AlertThresholds.HealthScore},
		Metadata: f.Metadata,
	}
}

// memoryFor estimates the memory the neuron needs: every instance of the
// default pool at its memory cap, plus the host's own.
func memoryFor(cfg *config.Config) string {
	const hostMB = 64
	mb := hostMB + int64(cfg.Limits.MemoryPages)*64*int64(cfg.Limits.PoolMax)/1024
	return strconv.FormatInt(mb, 10) + "MB"
}

func hostInfo(h sysmetrics.HostInfo) federation.HostInfo {
	return federation.HostInfo{Hostname: h.Hostname, IP: h.IP, ContainerID: h.ContainerID}
}

func (a *Agent) system() report.System {
	s := a.sampler.Latest()
	return report.System{CPU: s.CPUPercent, Memory: s.MemoryPercent, Disk: s.DiskPercent}
}

func (a *Agent) dependencies() []report.Dependency {
	results := a.probes.Results()
	out := make([]report.Dependency, 0, len(results))
	for name, r := range results {
		out = append(out, report.Dependency{Name: name, Status: r.Status, Optional: r.Optional})
	}
	return out
}

// health is /health's dependency part: unhealthy when a required
// dependency is down.
func (a *Agent) health() (map[string]string, bool) {
	return a.probes.Status(), a.probes.Healthy()
}

// spoolCollector exports the analytics spool's state.
type spoolCollector struct{ q *spool.Spool }

var (
	spoolItemsDesc   = prometheus.NewDesc("neuron_analytics_spool_reports", "Analytics reports waiting on disk to be sent.", nil, nil)
	spoolBytesDesc   = prometheus.NewDesc("neuron_analytics_spool_bytes", "Bytes of analytics reports waiting on disk.", nil, nil)
	spoolDroppedDesc = prometheus.NewDesc("neuron_analytics_reports_dropped_total", "Analytics reports dropped, oldest first, because the spool was full.", nil, nil)
	spoolAsideDesc   = prometheus.NewDesc("neuron_analytics_reports_set_aside_total", "Analytics reports the federation refused for good, kept in the spool's rejected directory.", nil, nil)
)

func (c spoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- spoolItemsDesc
	ch <- spoolBytesDesc
	ch <- spoolDroppedDesc
	ch <- spoolAsideDesc
}

func (c spoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.q.Stats()
	ch <- prometheus.MustNewConstMetric(spoolItemsDesc, prometheus.GaugeValue, float64(s.Items))
	ch <- prometheus.MustNewConstMetric(spoolBytesDesc, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(spoolDroppedDesc, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(spoolAsideDesc, prometheus.CounterValue, float64(s.SetAside))
}
