package testutil

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var labelPattern = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// SumSamples adds up the samples of metric name in a Prometheus text
// exposition whose labels include every name, value pair in labels, and
// returns the sum and how many samples matched. It parses only what tests
// need.
func SumSamples(t testing.TB, text, name string, labels ...string) (float64, int) {
	t.Helper()
	var sum float64
	var n int
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		series, value := line[:sp], line[sp+1:]
		metric, rest, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		got := map[string]string{}
		for _, m := range labelPattern.FindAllStringSubmatch(rest, -1) {
			v, err := strconv.Unquote(`"` + m[2] + `"`)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			got[m[1]] = v
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
		n++
	}
	return sum, n
}
