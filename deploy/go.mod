module github.com/empirefederation/neuron/deploy

go 1.26.0
