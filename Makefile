# Entry points. Every target runs with the project's Node (see scripts/env.sh).
SHELL := /bin/bash
ENV := source scripts/env.sh &&

.PHONY: setup test lint typecheck unit integration e2e soak cluster-up cluster-down bench fuzz

## setup: install the pinned Node when the system one is too old, the dependencies, then the build
## bin/ksync and bin/ksync-agent run (packages/cli/dist; they rebuild it after a source edit).
setup:
	./scripts/setup-node.sh
	$(ENV) npm ci --no-fund --no-audit
	./scripts/ensure-built.sh

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

## fuzz: the agent protocol fuzzer for DURATION seconds (default 600; the integration tier runs it for 60),
## SEED=<n> to replay a run; see docs/reliability-hostile.md.
fuzz:
	$(ENV) KSYNC_FUZZ_SECONDS=$(or $(DURATION),600) $(if $(SEED),KSYNC_FUZZ_SEED=$(SEED)) node --test --test-timeout=0 --test-reporter=spec test/integration/agent-fuzz.test.ts

cluster-up:
	KSYNC_NODES=$(NODES) ./scripts/cluster/up.sh

cluster-down:
	./scripts/cluster/down.sh

## bench: the full benchmark run (~40 min with the 300k-file scaling point; BENCH_ARGS="--rounds 1 ..." to change it), see docs/benchmarks.md.
bench:
	$(ENV) node bench/run.ts --profile $(BENCH_ARGS)
