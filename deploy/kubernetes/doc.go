// Package kubernetes checks the kustomize base and overlays in this
// directory: its test renders them with kustomize's own Go API, decodes
// every object strictly into the Kubernetes API types, and checks the
// probes, the environment and the drain bound against a real neuron built
// from this repository. It holds tests only; the manifests are the
// artifact (docs/deploy.md, "Kubernetes").
package kubernetes
