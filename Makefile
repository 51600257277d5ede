# neuron: the two commands are `make run` and `make test`.
GO        ?= go
WASM      := GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -trimpath
STATICCHECK_VERSION := v0.8.2
GOBIN     := $(shell $(GO) env GOPATH)/bin

.PHONY: run test plugins plugins-c bench build image image-context lint check clean FORCE

## build: the neuron binary, bin/neuron
build:
	$(GO) build -o bin/neuron ./cmd/neuron

## image: the container image neuron:VERSION from the Containerfile, with
## docker when its daemon answers, else podman, else buildah (vfs storage,
## chroot isolation: no daemon needed); IMAGE_BUILDER=buildah make image
## chooses. --format docker (podman, buildah) keeps the HEALTHCHECK, which
## the OCI image format has no field for. The binary and the example
## processors are built on the host into bin/image/ (IMAGE_CONTEXT), the
## build context: the image is FROM scratch and pulls nothing. See
## docs/deploy.md, "The image".
## Each is computed once (:=), so that the binary and the labels agree;
## override on the command line: make image VERSION=1.2.0 IMAGE=neuron:1.2.0
VERSION      := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT       := $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE   := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
IMAGE        := neuron:$(VERSION)
IMAGE_CONTEXT := bin/image
IMAGE_BUILDER ?= $(shell if docker info >/dev/null 2>&1; then echo docker; elif command -v podman >/dev/null; then echo podman; elif command -v buildah >/dev/null; then echo buildah; fi)
BUILDAH      ?= buildah --storage-driver vfs
CA_CERTS     ?= /etc/ssl/certs/ca-certificates.crt
IMAGE_ARGS   := -f Containerfile -t $(IMAGE) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(COMMIT) --build-arg CREATED=$(BUILD_DATE)
image: image-context
ifeq ($(IMAGE_BUILDER),buildah)
	$(BUILDAH) bud --isolation chroot --format docker $(IMAGE_ARGS) $(IMAGE_CONTEXT)
else ifeq ($(IMAGE_BUILDER),podman)
	podman build --format docker $(IMAGE_ARGS) $(IMAGE_CONTEXT)
else ifeq ($(IMAGE_BUILDER),docker)
	docker build $(IMAGE_ARGS) $(IMAGE_CONTEXT)
else
	@echo 'make image: no docker daemon, podman or buildah here: apt-get install buildah (Debian), or start docker'; exit 1
endif

## image-context: bin/image/ (IMAGE_CONTEXT), what the Containerfile copies: the static,
## stamped binary, the host's CA certificates and the example processors
image-context: plugins
	rm -rf $(IMAGE_CONTEXT)
	mkdir -p $(IMAGE_CONTEXT)/plugins $(IMAGE_CONTEXT)/data $(IMAGE_CONTEXT)/tmp
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)' -o $(IMAGE_CONTEXT)/neuron ./cmd/neuron
	cp $(CA_CERTS) $(IMAGE_CONTEXT)/ca-certificates.crt
	cp plugins/hello.wasm plugins/data-processor-1.0.0.wasm plugins/data-processor-1.1.0.wasm $(IMAGE_CONTEXT)/plugins/

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
	cd deploy && $(GO) test -count=1 -timeout 20m ./...

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
