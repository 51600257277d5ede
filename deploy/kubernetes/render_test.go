package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kinds are the API types the manifests may hold, by apiVersion and kind.
// Anything else is an error: a kind the test does not know is one it
// cannot check.
var kinds = map[string]func() any{
	"apps/v1/StatefulSet":                    func() any { return new(appsv1.StatefulSet) },
	"v1/Service":                             func() any { return new(corev1.Service) },
	"v1/ConfigMap":                           func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                              func() any { return new(corev1.Secret) },
	"v1/Namespace":                           func() any { return new(corev1.Namespace) },
	"policy/v1/PodDisruptionBudget":          func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return new(networkingv1.NetworkPolicy) },
}

// rendered is a kustomization's output, decoded.
type rendered struct {
	statefulSet *appsv1.StatefulSet
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	policies    []*networkingv1.NetworkPolicy
}

// render runs kustomize on dir as `kubectl apply -k dir` would, and
// decodes every object it emits strictly: a field the API type does not
// have is an error, not silently dropped.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	r := &rendered{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, res := range resources.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, res.CurId(), err)
		}
		obj, err := decodeStrict(data)
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, res.CurId(), err)
		}
		switch o := obj.(type) {
		case *appsv1.StatefulSet:
			if r.statefulSet != nil {
				t.Fatalf("%s: two StatefulSets, %s and %s; the test checks one", dir, r.statefulSet.Name, o.Name)
			}
			r.statefulSet = o
		case *corev1.Service:
			r.services = append(r.services, o)
		case *corev1.ConfigMap:
			r.configMaps[o.Name] = o
		case *corev1.Secret:
			r.secrets[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, o)
		case *networkingv1.NetworkPolicy:
			r.policies = append(r.policies, o)
		}
	}
	if r.statefulSet == nil {
		t.Fatalf("%s: no StatefulSet rendered", dir)
	}
	return r
}

// decodeStrict decodes one object's JSON into the API type its apiVersion
// and kind name, refusing unknown fields and unknown kinds.
func decodeStrict(data []byte) (any, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("reading apiVersion and kind: %w", err)
	}
	newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		return nil, fmt.Errorf("apiVersion %q kind %q is not one the test knows; add its API type to kinds", head.APIVersion, head.Kind)
	}
	obj := newObj()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("decoding %s strictly: %w", head.Kind, err)
	}
	return obj, nil
}
