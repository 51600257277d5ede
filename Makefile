# neuron: the two commands are `make run` and `make test`.
GO        ?= go
WASM      := GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -trimpath
STATICCHECK_VERSION := v0.8.2
GOBIN     := $(shell $(GO) env GOPATH)/bin

.PHONY: run test plugins plugins-c bench build lint check clean FORCE

## build: the neuron binary, bin/neuron
build:
	$(GO) build -o bin/neuron ./cmd/neuron

## plugins: every example processor, built into plugins/
plugins: plugins/hello.wasm plugins/data-processor-1.0.0.wasm plugins/data-processor-1.1.0.wasm

plugins/hello.wasm: FORCE
	$(WASM) -o $@ ./examples/hello
plugins/data-processor-1.0.0.wasm: FORCE
	$(WASM) -o $@ ./examples/dataprocessor/v1.0.0
plugins/data-processor-1.1.0.wasm: FORCE
	$(WASM) -o $@ ./examples/dataprocessor/v1.1.0

## plugins-c: the C data processor (needs clang for wasm32-wasi: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)
plugins-c:
	clang --target=wasm32-wasi --sysroot=/usr -O2 -mexec-model=reactor -Wall -o plugins/data-processor-c.wasm examples/dataprocessor-c/src/processor.c

## run: build everything and run a neuron serving the example processors on :8080,
## with a development federation and its dashboard in the same process on
## 127.0.0.1:5000 (FEDERATION_URL=http://... make run joins another; FEDERATION_URL= make run: standalone)
FEDERATION_URL ?= embedded
run: build plugins
	FEDERATION_URL='$(FEDERATION_URL)' ./bin/neuron run

## test: the whole test suite: lint, host and SDK tests with the race detector,
## and the deployment artifacts' checks (deploy/, a module of its own)
test: lint
	$(GO) test -race -count=1 -timeout 30m ./...
	cd sdk && $(GO) test -race -count=1 ./...
	cd sdk && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...
	cd deploy && $(GO) test -count=1 ./...

## lint: gofmt, go vet and staticcheck on the host and the SDK
lint: $(GOBIN)/staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'run gofmt -w on the files above'; exit 1; }
	$(GO) vet ./...
	cd sdk && $(GO) vet ./...
	$(GOBIN)/staticcheck ./...
	cd sdk && $(GOBIN)/staticcheck ./...
	cd deploy && $(GO) vet ./... && $(GOBIN)/staticcheck ./...

$(GOBIN)/staticcheck:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## bench: benchmarks with ratios against native Go baselines (see docs/benchmarks.md)
bench: plugins plugins-c
	mkdir -p bench/results
	$(GO) test -run '^$$' -bench . -benchtime 2s ./runtime/ ./internal/pool/ ./internal/interrupt/ | tee bench/results/go-bench.txt
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/agent/ ./internal/spool/ ./internal/sysmetrics/ | tee bench/results/federation-bench.txt
	$(GO) test -run '^$$' -bench IdleNeuron -benchtime 1x ./cmd/neuron/ | tee bench/results/idle-neuron.txt
	$(GO) run ./bench/httpload -plugins plugins | tee bench/results/httpload.txt
	$(GO) run ./bench/swap -plugins plugins | tee bench/results/swap.txt

clean:
	rm -rf bin plugins/*.wasm .neuron

FORCE:
