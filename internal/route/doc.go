// Package route is the request path: the routing snapshot of the
// processor versions serving at one moment (Snapshot, published by the
// runtime with one atomic store), and what one request goes through
// there: the route match (a map for static paths, gorilla/mux for the
// rest), draining, the request body under its size limit, deadline and
// the body budget shared by every endpoint, the instance checked out of
// its version's pool, the guest call, the response headers checked, the
// error answer and its code, the metrics and the traffic counters, and
// an experiment's split between variants.
//
// Read it from Snapshot.ServeHTTP to endpoint.run (handler.go). A call
// counts in its version's Inflight before it looks at Retiring, which is
// how a swap drains a version without dropping a call (see
// docs/design.md, "How does a swap drain the old version?").
//
// It owns no processor and no swap: it must not open, close or retire a
// version (internal/processor and package runtime do), nor decide what
// serves; it serves the snapshot it is given. Nothing on this path takes a
// lock beyond a pool checkout.
package route
