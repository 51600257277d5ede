package route

import (
	"net/http"
	"time"
)

// countingWriter records the status and body bytes of a response, for the
// requests the router answers itself (the unclaimed row of Traffic).
type countingWriter struct {
	http.ResponseWriter
	status, n int
}

// WriteHeader records the first status written.
func (w *countingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write counts the body bytes written.
func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveUnclaimed lets the router answer a request no endpoint matched (404,
// 405, or a redirect to the clean path) and counts it in the unclaimed row.
// Only misses pay for the wrapper.
func (s *Snapshot) serveUnclaimed(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cw := &countingWriter{ResponseWriter: w}
	s.router.ServeHTTP(cw, r)
	s.unclaimed.Observe(statusOrOK(cw.status), time.Since(start), 0, cw.n)
}

// statusOrOK is the status net/http sends when a handler wrote nothing.
func statusOrOK(status int) int {
	if status == 0 {
		return http.StatusOK
	}
	return status
}
