// Package federation is the neuron's side of the Empire Federation wire
// contract: the JSON payloads of the reference guide (registration,
// heartbeat, analytics, update-config), a client for the federation's
// endpoints, and the Link, which keeps a neuron registered, heartbeating,
// reporting and configured for as long as it runs.
//
// The package imports neither wazero nor gorilla/mux (internal/modcheck
// checks it), nor any package of the neuron but the leaf internal/jsonkind:
// it consumes the small Neuron and Queue interfaces, and internal/agent
// wires the runtime and the durable spool into them.
//
// A typical start, with q an on-disk queue and n the neuron:
//
//	c := federation.NewClient(cfg.FederationURL, nil, "neuron/"+version)
//	link := federation.StartLink(ctx, federation.LinkOptions{Client: c, Neuron: n, Queue: q, Logger: log})
//	defer link.Stop(shutdownCtx)
//
// # Notes
//
//   - StartLink returns at once: serving never waits for the federation.
//   - Analytics reports go through the Queue before they are sent, so a
//     federation that is down, slow or failing loses nothing that was
//     recorded; heartbeats are never queued (a stale liveness signal is
//     useless).
//   - Numbers inside config maps decode as json.Number, so integers stay
//     exact; see ParseUpdate.
package federation
