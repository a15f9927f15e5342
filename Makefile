# dialgate. `make test` is the whole test suite (what CI runs);
# `make run` starts the gateway; `make bench` measures it against baselines;
# `make fuzz` fuzzes every decoder for a bounded time.
.PHONY: build test run fuzz bench clean

# The version `gateway version`, the log's "starting" line and the
# dialgate_build_info metric report: the commit, from git when there is one.
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/gateway ./cmd/gateway

test:
	scripts/test

run:
	go run ./cmd/gateway serve

bench:
	scripts/bench

# Every fuzz target for FUZZTIME (default 15 s) each; see scripts/fuzz.
fuzz:
	scripts/fuzz

clean:
	rm -rf bin
