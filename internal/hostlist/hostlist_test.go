package hostlist

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		list     []string
		hostport string
		want     bool
	}{
		{nil, "registry.example", false},
		{[]string{"registry.example"}, "registry.example", true},
		{[]string{"registry.example"}, "registry.example:5000", true},
		{[]string{"Registry.Example"}, "registry.EXAMPLE:5000", true},
		{[]string{"registry.example:5000"}, "registry.example:5000", true},
		{[]string{"registry.example:5000"}, "registry.example:5001", false},
		{[]string{"registry.example:5000"}, "registry.example", false},
		{[]string{"other.example"}, "registry.example", false},
		{[]string{"::1"}, "[::1]:5000", true},
		{[]string{"[::1]:5000"}, "[::1]:5000", true},
		{[]string{"127.0.0.1"}, "127.0.0.1:8080", true},
	} {
		if got := Match(tc.list, tc.hostport); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.list, tc.hostport, got, tc.want)
		}
	}
}
