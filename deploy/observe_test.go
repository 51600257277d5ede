package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// The observability artifacts the tests check.
const (
	alertsFile     = "prometheus/alerts.yaml"
	dashboardFile  = "grafana/neuron-fleet.json"
	prometheusFile = "prometheus/prometheus.yaml"
)

// promql is Prometheus's PromQL parser with its default options.
var promql = parser.NewParser(parser.Options{})

// prometheusMade are the series Prometheus makes itself for every scrape
// target; the rules may use them though no exporter does.
var prometheusMade = map[string]bool{"up": true}

// ruleMetrics parses an alerting rules file with Prometheus's own rule
// parser (which parses each expression with the PromQL parser too) and
// returns the metric names the expressions use, by the rule using them.
func ruleMetrics(path string) (map[selector][]string, error) {
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}
	used := map[selector][]string{}
	rules := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			rules++
			if r.Alert == "" {
				return nil, fmt.Errorf("%s: group %s: a recording rule %s; this file holds alerts only", path, g.Name, r.Record)
			}
			if r.For == 0 || r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				return nil, fmt.Errorf("%s: alert %s needs a for:, a severity label, a summary and a description", path, r.Alert)
			}
			names, err := exprMetrics(r.Expr)
			if err != nil {
				return nil, fmt.Errorf("%s: alert %s: %w", path, r.Alert, err)
			}
			for _, n := range names {
				used[n] = append(used[n], "alert "+r.Alert)
			}
		}
	}
	if rules == 0 {
		return nil, fmt.Errorf("%s: no rules", path)
	}
	return used, nil
}

// selector is what one series selector of an expression needs from the
// scrape: a metric name, from a job when it names one (job="..."), with
// labels (matched on, comma-separated; job and instance are Prometheus's
// own target labels, left out).
type selector struct{ Name, Job, Labels string }

// exprMetrics parses a PromQL expression and returns its selectors.
func exprMetrics(expr string) ([]selector, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", expr, err)
	}
	var names []selector
	for _, sel := range parser.ExtractSelectors(e) {
		var s selector
		var matched []string
		for _, m := range sel {
			switch {
			case m.Name == "__name__":
				s.Name = m.Value
			case m.Name == "job" && m.Type == labels.MatchEqual:
				s.Job = m.Value
			case m.Name != "job" && m.Name != "instance":
				matched = append(matched, m.Name)
			}
		}
		if s.Name == "" {
			return nil, fmt.Errorf("%q: a selector without a metric name", expr)
		}
		slices.Sort(matched)
		s.Labels = strings.Join(matched, ",")
		names = append(names, s)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%q names no metric", expr)
	}
	return names, nil
}

// grafanaVar matches a Grafana variable in an expression: $name, ${name}
// or ${name:format}.
var grafanaVar = regexp.MustCompile(`\$\{?(\w+)(:\w+)?\}?`)

// grafanaIntervals are the values Grafana gives its interval variables;
// any other variable (a dashboard's own, used in a label matcher) becomes
// a plain word, which keeps the expression parseable.
var grafanaIntervals = map[string]string{"__rate_interval": "5m", "__interval": "1m", "__range": "6h"}

// substituteGrafana replaces Grafana's variables in expr as Grafana would
// before sending it to Prometheus.
func substituteGrafana(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		name := grafanaVar.FindStringSubmatch(v)[1]
		if d, ok := grafanaIntervals[name]; ok {
			return d
		}
		return "x"
	})
}

// dashboard is the part of a Grafana dashboard the check reads.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's panels
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// labelValues matches a Grafana query variable's label_values(METRIC..., LABEL).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// dashboardMetrics reads a Grafana dashboard and returns the metric names
// its panels' and variables' queries use, by where they are used. It
// requires the datasource and instance variables and a query in every
// panel that is not a row.
func dashboardMetrics(path string) (map[selector][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: not a dashboard: %w", path, err)
	}
	if d.Title == "" || d.UID == "" {
		return nil, fmt.Errorf("%s: needs a title and a uid (the uid keeps imports from duplicating it)", path)
	}
	used := map[selector][]string{}
	add := func(where, expr string) error {
		names, err := exprMetrics(substituteGrafana(expr))
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, where, err)
		}
		for _, n := range names {
			used[n] = append(used[n], where)
		}
		return nil
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)["query"].(string)
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			return nil, fmt.Errorf("%s: variable %s: query %q, want label_values(METRIC{...}, LABEL)", path, v.Name, q)
		}
		if err := add("variable "+v.Name, m[1]); err != nil {
			return nil, err
		}
	}
	if vars["datasource"] != "datasource" || vars["instance"] != "query" {
		return nil, fmt.Errorf("%s: needs a datasource variable and an instance query variable, has %v", path, vars)
	}
	var walk func([]panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if p.Type == "row" {
				if err := walk(p.Panels); err != nil {
					return err
				}
				continue
			}
			if len(p.Targets) == 0 {
				return fmt.Errorf("%s: panel %q has no query", path, p.Title)
			}
			for _, t := range p.Targets {
				if err := add("panel "+p.Title, t.Expr); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	return used, nil
}

// TestPrometheusConfig loads prometheus.yaml with Prometheus's own
// configuration loader and checks that it scrapes the jobs the rules and
// the dashboard select and loads the rules.
func TestPrometheusConfig(t *testing.T) {
	cfg, err := config.LoadFile(prometheusFile, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("%s: %v", prometheusFile, err)
	}
	var jobs []string
	for _, sc := range cfg.ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
	}
	if !slices.Contains(jobs, "neuron") || !slices.Contains(jobs, "federation") {
		t.Errorf("%s scrapes jobs %v, want neuron and federation (the job names the rules and the dashboard select)", prometheusFile, jobs)
	}
	if !slices.ContainsFunc(cfg.RuleFiles, func(f string) bool { return strings.HasSuffix(f, "/alerts.yaml") }) {
		t.Errorf("%s loads rule files %v, want alerts.yaml", prometheusFile, cfg.RuleFiles)
	}
}

// TestObserveArtifactsParse: the rules and the dashboard parse, so the
// names TestObserveMetricsExported compares are all there are.
func TestObserveArtifactsParse(t *testing.T) {
	for _, path := range []string{alertsFile, dashboardFile} {
		used, err := artifactMetrics(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s uses %d metrics", path, len(used))
	}
}

// TestObserveCheckFailsOnBrokenArtifacts breaks the rules and the
// dashboard one way at a time and shows the parse reports it.
func TestObserveCheckFailsOnBrokenArtifacts(t *testing.T) {
	for _, c := range []struct{ file, old, new, want string }{
		{alertsFile, "== 0\n        for: 2m", "== \n        for: 2m", "parse error"},
		{alertsFile, "severity: info", "team: info", "severity"},
		{alertsFile, "for: 15m", "for: 0m", "for:"},
		{dashboardFile, `[$__rate_interval]))`, `[$__rate_interval])`, "unclosed"},
		{dashboardFile, `"name": "instance"`, `"name": "neuron"`, "instance query variable"},
	} {
		t.Run(c.file+" "+c.want, func(t *testing.T) {
			path := breakFile(t, c.file, c.old, c.new)
			if _, err := artifactMetrics(path); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("with %q for %q: error %v, want one saying %q", c.new, c.old, err, c.want)
			}
		})
	}
}

// artifactMetrics returns the metrics a dashboard (.json) or a rules file
// uses, by where they are used.
func artifactMetrics(path string) (map[selector][]string, error) {
	if strings.HasSuffix(path, ".json") {
		return dashboardMetrics(path)
	}
	return ruleMetrics(path)
}

// breakFile writes a copy of file with its first old replaced by new into
// the test's directory and returns the copy's path.
func breakFile(t *testing.T, file, old, new string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s no longer holds %q; update the test", file, old)
	}
	path := t.TempDir() + "/" + strings.ReplaceAll(file, "/", "-")
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestObserveMetricsExported checks that every metric the alerting rules
// and the dashboard use is one a running neuron (job neuron) or its
// federation (job federation) exports, scraped from them after driving
// every series into existence (fleetMetrics).
func TestObserveMetricsExported(t *testing.T) {
	exported := fleetMetrics(t)
	for _, path := range []string{alertsFile, dashboardFile} {
		used, err := artifactMetrics(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkExported(used, exported); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// checkExported reports every selector whose metric the job it names
// (any job when it names none) does not export, or exports without a
// label the selector matches on.
func checkExported(used map[selector][]string, exported map[string]map[string][]string) error {
	var errs []error
	for sel, where := range used {
		if prometheusMade[sel.Name] {
			continue
		}
		slices.Sort(where)
		in := strings.Join(slices.Compact(where), ", ")
		found := false
		for job, names := range exported {
			have, ok := names[sel.Name]
			if !ok || (sel.Job != "" && sel.Job != job) {
				continue
			}
			found = true
			for _, l := range strings.Split(sel.Labels, ",") {
				if l != "" && !slices.Contains(have, l) {
					errs = append(errs, fmt.Errorf("%s (in %s): job %s exports it without label %s (it has %v)", sel.Name, in, job, l, have))
				}
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s (in %s) is not exported by job %q (empty: the neuron or the federation)", sel.Name, in, sel.Job))
		}
	}
	return errors.Join(errs...)
}

// TestObserveCheckFailsOnUnknownMetric: a dashboard panel or a rule
// naming a metric the neuron does not export fails the check.
func TestObserveCheckFailsOnUnknownMetric(t *testing.T) {
	exported := fleetMetrics(t)
	for _, c := range []struct{ file, old, new string }{
		{dashboardFile, "neuron_pool_waiting{", "neuron_pool_queued{"},
		{alertsFile, "neuron_plugins_rejected_total{", "neuron_plugin_rejected_total{"},
		{alertsFile, `neuron_federation_neurons{job="federation"`, `neuron_federation_neurons{job="neuron"`},
		{dashboardFile, `neuron_events_total{job=\"neuron\", instance=~\"$instance\", type=`, `neuron_events_total{job=\"neuron\", instance=~\"$instance\", kind=`},
	} {
		used, err := artifactMetrics(breakFile(t, c.file, c.old, c.new))
		if err != nil {
			t.Fatal(err)
		}
		want, _, _ := strings.Cut(c.new, "{")
		want += " (in "
		if err := checkExported(used, exported); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s with %s: error %v, want one naming it", c.file, c.new, err)
		}
	}
}
