module github.com/empirefederation/neuron/sdk

go 1.24
