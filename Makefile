# Entry points. Every target runs with the project's Node (see scripts/env.sh).
SHELL := /bin/bash
ENV := source scripts/env.sh &&

.PHONY: setup test lint typecheck unit integration e2e soak cluster-up cluster-down bench

## setup: install the pinned Node when the system one is too old, then the dependencies.
setup:
	./scripts/setup-node.sh
	$(ENV) npm ci --no-fund --no-audit

## test: lint, typecheck and every test tier (e2e brings the local cluster up and always down).
test: lint typecheck unit integration e2e

lint:
	$(ENV) npx eslint --max-warnings=0 . && npx prettier --check .

typecheck:
	$(ENV) npm run -s typecheck

unit:
	$(ENV) npm run -s test:unit

integration:
	$(ENV) npm run -s test:integration

# NODES=2 adds a second node on this machine (docs/cluster.md); e2e runs with 2 by default.
e2e:
	KSYNC_NODES=$(NODES) ./scripts/e2e.sh

## soak: the reliability suite (fault matrix, then an hour's soak) alone; see docs/reliability.md.
soak:
	KSYNC_NODES=$(NODES) KSYNC_SOAK_MINUTES=$${KSYNC_SOAK_MINUTES:-60} ./scripts/e2e.sh test/e2e/reliability.test.ts

cluster-up:
	KSYNC_NODES=$(NODES) ./scripts/cluster/up.sh

cluster-down:
	./scripts/cluster/down.sh

## bench: the full benchmark run (~20 min; BENCH_ARGS="--rounds 1 ..." to change it), see docs/benchmarks.md.
bench:
	$(ENV) node bench/run.ts --profile $(BENCH_ARGS)
