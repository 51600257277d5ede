package watch

import "testing"

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		want kind
	}{
		{"hello.wasm", module},
		{"data-processor-1.1.0.wasm", module},
		{"hello.json", sidecar},
		{"hello.wasm.sig", signature},
		{".hello.wasm.sig", irrelevant},
		{"hello.sig", irrelevant},
		{"hello.wasm.sig.tmp", irrelevant},
		{".hello.wasm", irrelevant},
		{".hello.json", irrelevant},
		{"hello.wasm~", irrelevant},
		{".hello.wasm.swp", irrelevant},
		{"hello.wasm.swx", irrelevant},
		{"4913", irrelevant},
		{"#hello.wasm#", irrelevant},
		{".#hello.wasm", irrelevant},
		{"hello.wasm.tmp", irrelevant},
		{"hello.wasm.part", irrelevant},
		{"hello.wasm.crdownload", irrelevant},
		{".hello.wasm.Xa8f3k", irrelevant},
		{"hello.WASM", irrelevant}, // the runtime's rule is case-sensitive
		{"README.md", irrelevant},
		{"hello", irrelevant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := kindOf(tc.name); got != tc.want {
				t.Errorf("kindOf(%q) = %d, want %d", tc.name, got, tc.want)
			}
		})
	}
}

func TestModuleOf(t *testing.T) {
	for name, want := range map[string]string{"dp-1.0.0.json": "dp-1.0.0.wasm", "dp-1.0.0.wasm.sig": "dp-1.0.0.wasm"} {
		if got := moduleOf(name); got != want {
			t.Errorf("moduleOf(%q) = %q, want %q", name, got, want)
		}
	}
}
