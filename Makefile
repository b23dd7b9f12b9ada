# smsd: `make test` is the whole check CI runs; see README.md.
GO       ?= go
PKGS     ?= ./...
# A count of inputs, not a duration: Go 1.26 can fail a fuzz run spuriously
# with "context deadline exceeded" when a -fuzztime duration runs out
# (golang/go#75804); a count has no deadline. 200000x takes from seconds to a
# few minutes a target on 2 cores (the pty-driven FuzzClientInput is the slowest).
FUZZTIME ?= 200000x
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build test deps vet unit race bench fuzz deb package-test package-test-if-root clean

all: build

build:
	$(GO) build -trimpath -ldflags "-X github.com/clinicsms/smsd/internal/version.Version=$(VERSION)" -o bin/smsd ./cmd/smsd

# deps installs the Debian packages the real-part tests need (as root, when missing).
deps:
	./scripts/test-deps.sh

# vet: gofmt, go.mod and go.sum as go mod tidy leaves them, go vet.
vet:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: the diff above is what 'go mod tidy' would change; run it and commit the result"; exit 1; }
	$(GO) vet $(PKGS)

# As root, deps installs every real part the tests drive (gammu, a tmpfs
# mount, ...), so under make test a missing one is a failure, not a skip.
# Without root the tests that need one skip and say what to install.
ROOT := $(filter 0,$(shell id -u))
unit race package-test-if-root: export SMSD_REQUIRE_REAL_PARTS = $(if $(ROOT),1,)

unit:
	$(GO) test -count=1 -timeout 30m $(PKGS)

# race runs the tests of every package but e2e under the race detector, with
# -short; a new package is covered without an edit here. e2e is left out
# because its concurrency is in the smsd processes it starts, out of the
# detector's sight; the same code runs in-process under it in the tests of
# cmd/smsd, dispatch, control, modem and queue.
race:
	@pkgs=$$($(GO) list $(PKGS)) && pkgs=$$(printf '%s\n' $$pkgs | grep -v '/e2e$$') && \
	  echo "$(GO) test -count=1 -race -short -timeout 20m" $$pkgs && \
	  $(GO) test -count=1 -race -short -timeout 20m $$pkgs

# test is what CI runs: the Go tests, then (as root) the packages built and
# checked as a Pi would meet them.
test: deps vet unit race package-test-if-root

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# fuzz runs every fuzz target for FUZZTIME (a count of inputs) each.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

deb:
	./packaging/build-deb.sh $(VERSION)

package-test:
	./packaging/test.sh

package-test-if-root:
ifeq ($(ROOT),)
	@echo "package-test: skipped, it needs root (chroot, dpkg in a throwaway root); run: sudo make package-test"
else
	./packaging/test.sh
endif

clean:
	rm -rf bin dist
