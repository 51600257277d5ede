package kubernetes

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// kustomizations are the directories `kubectl apply -k` takes.
var kustomizations = []string{"base", "overlays/example"}

// podOnlyEnv are variables the manifests set for something other than the
// neuron's settings: the downward API values the neuron's are built from,
// and Go's scratch directory.
var podOnlyEnv = []string{"POD_NAME", "POD_IP", "TMPDIR"}

// TestManifests renders every kustomization, checks it, and runs a real
// neuron with its settings to check the probes against what it serves.
func TestManifests(t *testing.T) {
	known := neuronEnvNames(t)
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			checkWorkload(t, r, known)
			checkSelectors(t, r)
			checkAgainstNeuron(t, r)
		})
	}
}

// neuronEnvNames reads the environment variables the neuron reads from
// its configuration's env table (internal/config/sources.go), the one
// place they are defined.
func neuronEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile("../../internal/config/sources.go")
	if err != nil {
		t.Fatalf("reading the neuron's env table: %v", err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\t\{"([A-Z][A-Z0-9_]*)", "`).FindAllStringSubmatch(string(src), -1) {
		names[m[1]] = true
	}
	if len(names) < 20 || !names["NEURON_ID"] || !names["FEDERATION_URL"] {
		t.Fatalf("read %d env names from internal/config/sources.go, NEURON_ID and FEDERATION_URL among them: %v; has the table's format changed?", len(names), slices.Sorted(maps.Keys(names)))
	}
	return names
}

// neuronContainer is the StatefulSet's one container.
func neuronContainer(t *testing.T, r *rendered) *corev1.Container {
	t.Helper()
	cs := r.statefulSet.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "neuron" {
		t.Fatalf("want one container named neuron, got %d", len(cs))
	}
	return &cs[0]
}

// env is the container's environment as the neuron sees it: the
// ConfigMaps' entries, then the container's own (which win), with
// $(VAR) references left as written.
func env(t *testing.T, r *rendered, c *corev1.Container) map[string]corev1.EnvVar {
	t.Helper()
	out := map[string]corev1.EnvVar{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("envFrom holds something other than a ConfigMap; secrets go in files under /etc/neuron/secrets")
		}
		cm, ok := r.configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("envFrom names ConfigMap %q, which is not rendered", from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			out[k] = corev1.EnvVar{Name: k, Value: v}
		}
	}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}

// checkWorkload checks the pod: image, env names, downward API, ports,
// security context, the volumes and the memory limit.
func checkWorkload(t *testing.T, r *rendered, known map[string]bool) {
	c := neuronContainer(t, r)
	pod := r.statefulSet.Spec.Template.Spec
	if name, _, _ := strings.Cut(c.Image, ":"); name != "neuron" {
		t.Errorf("image %q: want neuron[:TAG], with no registry host; an overlay sets the tag with kustomize images:", c.Image)
	}

	vars := env(t, r, c)
	for name := range vars {
		if !known[name] && !slices.Contains(podOnlyEnv, name) {
			t.Errorf("env %s is not a variable the neuron reads (internal/config/sources.go) nor one of %v", name, podOnlyEnv)
		}
	}
	fieldRef := func(name string) string {
		v := vars[name]
		if v.ValueFrom == nil || v.ValueFrom.FieldRef == nil {
			return ""
		}
		return v.ValueFrom.FieldRef.FieldPath
	}
	if got := fieldRef("POD_NAME"); got != "metadata.name" {
		t.Errorf("POD_NAME from field %q, want the downward API's metadata.name", got)
	}
	if got := fieldRef("POD_IP"); got != "status.podIP" {
		t.Errorf("POD_IP from field %q, want the downward API's status.podIP", got)
	}
	// $(VAR) expands only variables defined earlier in env.
	index := func(name string) int {
		return slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	}
	if vars["NEURON_ID"].Value != "$(POD_NAME)" || index("NEURON_ID") < index("POD_NAME") {
		t.Errorf("NEURON_ID = %q (env #%d), want $(POD_NAME), after POD_NAME (env #%d)", vars["NEURON_ID"].Value, index("NEURON_ID"), index("POD_NAME"))
	}

	port := containerPort(t, c)
	if want := "http://$(POD_IP):" + strconv.Itoa(int(port)); vars["NEURON_BASE_URL"].Value != want || index("NEURON_BASE_URL") < index("POD_IP") {
		t.Errorf("NEURON_BASE_URL = %q, want %q, after POD_IP", vars["NEURON_BASE_URL"].Value, want)
	}
	if listen := vars["NEURON_LISTEN"].Value; listen != ":"+strconv.Itoa(int(port)) {
		t.Errorf("NEURON_LISTEN = %q, want :%d, the container port", listen, port)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
	}{{"startup", c.StartupProbe}, {"readiness", c.ReadinessProbe}, {"liveness", c.LivenessProbe}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: want an httpGet probe", p.name)
			continue
		}
		if got := probePort(t, c, p.probe.HTTPGet.Port); got != port {
			t.Errorf("%s probe port %v is %d, want the neuron's port %d", p.name, p.probe.HTTPGet.Port.String(), got, port)
		}
	}
	if s := c.StartupProbe; s != nil && s.PeriodSeconds*s.FailureThreshold < 120 {
		t.Errorf("startup probe allows %d s; a cold compile needs minutes: at least 120", s.PeriodSeconds*s.FailureThreshold)
	}

	checkSecurity(t, pod.SecurityContext, c.SecurityContext)
	checkVolumes(t, r, c)
	checkMemory(t, vars, c)
}

// containerPort is the neuron container's one port.
func containerPort(t *testing.T, c *corev1.Container) int32 {
	t.Helper()
	if len(c.Ports) != 1 {
		t.Fatalf("want one container port, got %d", len(c.Ports))
	}
	return c.Ports[0].ContainerPort
}

// probePort resolves a probe's port (a number or the container port's
// name).
func probePort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("probe port %q names no container port", p.StrVal)
	return 0
}

// checkSecurity checks the restricted Pod Security Standard's fields and
// the image's fixed uid.
func checkSecurity(t *testing.T, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	if pod == nil || c == nil {
		t.Fatalf("want both a pod and a container securityContext")
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	is := func(p *int64, want int64) bool { return p != nil && *p == want }
	if !isTrue(c.RunAsNonRoot) || !is(c.RunAsUser, 65532) || !is(c.RunAsGroup, 65532) {
		t.Errorf("container: want runAsNonRoot true, runAsUser and runAsGroup 65532 (the image's user)")
	}
	if !isTrue(c.ReadOnlyRootFilesystem) {
		t.Errorf("container: want readOnlyRootFilesystem true")
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("container: want allowPrivilegeEscalation false")
	}
	if c.Capabilities == nil || !slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(c.Capabilities.Add) > 0 {
		t.Errorf("container: want capabilities drop [ALL] and none added")
	}
	for where, sp := range map[string]*corev1.SeccompProfile{"pod": pod.SeccompProfile, "container": c.SeccompProfile} {
		if sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: want seccompProfile RuntimeDefault", where)
		}
	}
	if !isTrue(pod.RunAsNonRoot) || !is(pod.FSGroup, 65532) {
		t.Errorf("pod: want runAsNonRoot true and fsGroup 65532, so the data volume is the neuron's")
	}
}

// checkVolumes checks that every directory the neuron writes is a volume
// (the root file system is read-only) and that the data volume is the
// pod's own claim.
func checkVolumes(t *testing.T, r *rendered, c *corev1.Container) {
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	vars := env(t, r, c)
	dataDir := vars["NEURON_DATA_DIR"].Value
	if claims := r.statefulSet.Spec.VolumeClaimTemplates; mounts[dataDir] == "" || len(claims) == 0 || claims[0].Name != mounts[dataDir] {
		t.Errorf("NEURON_DATA_DIR %q: want a mount of a volumeClaimTemplate, so each neuron keeps its federation token; mounts %v", dataDir, mounts)
	}
	if tmp := vars["TMPDIR"].Value; mounts[tmp] == "" {
		t.Errorf("TMPDIR %q: want a mounted volume (the root file system is read-only); mounts %v", tmp, mounts)
	}
	for _, v := range r.statefulSet.Spec.Template.Spec.Volumes {
		if v.Secret != nil && r.secrets[v.Secret.SecretName] == nil {
			t.Errorf("volume %s names Secret %q, which is not rendered", v.Name, v.Secret.SecretName)
		}
	}
}

// checkMemory checks that the memory limit holds what the neuron's own
// limits let one busy processor take: poolMax instances of memoryPages
// 64 KiB pages, and the request body budget.
func checkMemory(t *testing.T, vars map[string]corev1.EnvVar, c *corev1.Container) {
	number := func(name string, def int64) int64 {
		v, ok := vars[name]
		if !ok {
			return def
		}
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			t.Fatalf("%s = %q: want a whole number", name, v.Value)
		}
		return n
	}
	// The neuron's defaults (docs/configuration.md).
	need := number("NEURON_MEMORY_LIMIT_PAGES", 2048)*64<<10*number("NEURON_POOL_MAX", 8) + number("NEURON_REQUEST_BODY_BUDGET", 256<<20)
	limit, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok || limit.Cmp(*resource.NewQuantity(need, resource.BinarySI)) <= 0 {
		t.Errorf("memory limit %s: want more than %d MiB (memory pages × pool max + body budget) and a memory limit set", limit.String(), need>>20)
	}
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Errorf("want a CPU request: the HorizontalPodAutoscaler's utilization is relative to it")
	}
}

// checkSelectors checks that the StatefulSet, Services,
// PodDisruptionBudget, HorizontalPodAutoscaler and NetworkPolicy all find
// the neuron's pods.
func checkSelectors(t *testing.T, r *rendered) {
	ss := r.statefulSet
	pods := labels.Set(ss.Spec.Template.Labels)
	matches := func(what string, sel *metav1.LabelSelector) {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() || !s.Matches(pods) {
			t.Errorf("%s: selector %v does not select the pods' labels %v (%v)", what, sel, pods, err)
		}
	}
	matches("StatefulSet "+ss.Name, ss.Spec.Selector)
	headless := false
	for _, s := range r.services {
		matches("Service "+s.Name, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		headless = headless || (s.Name == ss.Spec.ServiceName && s.Spec.ClusterIP == corev1.ClusterIPNone)
	}
	if !headless {
		t.Errorf("StatefulSet serviceName %q: want a headless Service of that name", ss.Spec.ServiceName)
	}
	if len(r.pdbs) != 1 || len(r.hpas) != 1 || len(r.policies) != 1 {
		t.Fatalf("want one PodDisruptionBudget, HorizontalPodAutoscaler and NetworkPolicy, got %d, %d, %d", len(r.pdbs), len(r.hpas), len(r.policies))
	}
	matches("PodDisruptionBudget "+r.pdbs[0].Name, r.pdbs[0].Spec.Selector)
	matches("NetworkPolicy "+r.policies[0].Name, &r.policies[0].Spec.PodSelector)
	if ref := r.hpas[0].Spec.ScaleTargetRef; ref.Kind != "StatefulSet" || ref.Name != ss.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HorizontalPodAutoscaler scales %s %s, want apps/v1 StatefulSet %s", ref.APIVersion+" "+ref.Kind, ref.Name, ss.Name)
	}
	port := intstr.FromInt32(containerPort(t, neuronContainer(t, r)))
	ingressPort := false
	for _, in := range r.policies[0].Spec.Ingress {
		for _, p := range in.Ports {
			ingressPort = ingressPort || (p.Port != nil && *p.Port == port)
		}
	}
	if !ingressPort {
		t.Errorf("NetworkPolicy: no ingress rule lets calls in on port %s", port.String())
	}
}

// shutdownBound is NEURON_SHUTDOWN_TIMEOUT as the manifests set it, or
// the neuron's default: the bound on its whole stop.
func shutdownBound(t *testing.T, vars map[string]corev1.EnvVar) time.Duration {
	v, ok := vars["NEURON_SHUTDOWN_TIMEOUT"]
	if !ok {
		return 15 * time.Second
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil {
		t.Fatalf("NEURON_SHUTDOWN_TIMEOUT = %q: %v", v.Value, err)
	}
	return d
}
