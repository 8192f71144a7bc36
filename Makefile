# Perdure — common tasks. `make help` lists them.

GO ?= go
PKGS ?= ./...

.PHONY: help build test test-race test-short lint fmt vet bench targets crash dev clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-12s %s\n", $$1, $$2}'

build: ## build every package and the perdure binary into ./bin
	$(GO) build $(PKGS)
	$(GO) build -o bin/perdure ./cmd/perdure

test: ## run the whole test suite with the race detector (what CI runs)
	$(GO) test -race -count=1 $(PKGS)

test-race: test ## alias of test

test-short: ## quick run: no race detector, skips the crash test
	$(GO) test -short -count=1 $(PKGS)

lint: fmt vet ## gofmt and go vet

fmt: ## fail if gofmt would change a file
	@out=$$(gofmt -l . | grep -v '^vendor/'); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: ## go vet
	$(GO) vet $(PKGS)

bench: ## Go benchmarks
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

targets: ## perdure bench targets: every scenario against the performance targets (about 3 minutes)
	$(GO) run ./cmd/perdure bench targets

crash: ## the crash test alone (kills real processes)
	$(GO) test -race -count=1 -run TestCrash -v ./internal/crashtest/

dev: ## run perdure dev (embedded SQLite in ./.perdure/dev.db)
	$(GO) run ./cmd/perdure dev

clean: ## remove build output
	rm -rf bin
