// Package deploy checks the deployment artifacts this directory ships (the
// container image's Containerfile, deploy/compose.yaml, the Kubernetes
// manifests under deploy/kubernetes, the Grafana dashboard and the
// Prometheus rules) with the real tools' own Go libraries. It is a module
// of its own so that those libraries (Kubernetes' API types, kustomize,
// compose-go, Prometheus) stay out of the neuron's module: nothing the
// neuron builds depends on them. It holds tests only.
package deploy
