package ociref

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    Ref
		wantErr string
	}{
		{in: "127.0.0.1:5000/proc/echo:v1", want: Ref{Registry: "127.0.0.1:5000", Repository: "proc/echo", Tag: "v1"}},
		{in: "registry.example/echo@sha256:" + hex, want: Ref{Registry: "registry.example", Repository: "echo", Digest: "sha256:" + hex}},
		{in: "", wantErr: "empty"},
		{in: "registry.example/echo", wantErr: "no tag or digest"},
		{in: "echo:v1", wantErr: "want " + Forms},
		{in: "https://registry.example/echo:v1", wantErr: "no scheme"},
		{in: "registry.example/echo:v1@sha256:" + hex, wantErr: "a tag and a digest both"},
		{in: "registry.example/echo@sha256:" + strings.ToUpper(hex), wantErr: "invalid checksum digest"},
		{in: "registry.example/echo@sha512:" + hex, wantErr: "sha256:"},
		{in: "registry.example/Echo:v1", wantErr: "want " + Forms},
		{in: "registry.example/echo:" + strings.Repeat("v", 200), wantErr: "want " + Forms},
		{in: "registry.example/" + strings.Repeat("e", MaxLen), wantErr: "at most 512"},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%.60q) = %+v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		case got.String() != tc.in:
			t.Errorf("Parse(%q).String() = %q, want it back", tc.in, got.String())
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts prints back to a
// reference that parses to the same Ref.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"127.0.0.1:5000/a/b:v1", "h/r@sha256:" + strings.Repeat("0", 64), "h/r:t@x", "a", "h:/r:t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		if err != nil || again != r {
			t.Fatalf("Parse(%q) = %+v, whose String %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}
