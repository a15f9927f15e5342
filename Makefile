# dialgate. `make test` is the whole test suite (what CI runs);
# `make run` starts the gateway; `make bench` measures it against baselines.
.PHONY: build test run fuzz bench clean

build:
	go build -o bin/gateway ./cmd/gateway

test:
	scripts/test

run:
	go run ./cmd/gateway serve

bench:
	scripts/bench

clean:
	rm -rf bin
