package testutil

import (
	"net"
	"testing"
)

// ClosedAddr returns a loopback address nothing listens on: one that was
// free a moment ago, its listener closed. A connection to it is refused.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
