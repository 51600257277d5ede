package main

import "testing"

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 endpoints", 1: "1 endpoint", 2: "2 endpoints"} {
		if got := plural(n, "endpoint"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBytesIEC(t *testing.T) {
	for n, want := range map[int64]string{
		8 * pageBytes: "512 KiB", 2048 * pageBytes: "128 MiB", 16384 * pageBytes: "1 GiB",
		4 << 20: "4 MiB", 1000: "1000 B", 0: "0 B", 1536: "1536 B", 3 << 10: "3 KiB",
	} {
		if got := bytesIEC(n); got != want {
			t.Errorf("bytesIEC(%d) = %q, want %q", n, got, want)
		}
	}
}
