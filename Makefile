# cachectl build, run and test entry points. `make run` and `make test` work
# on a fresh Debian machine as root: they install what they need first.

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN := bin/cachectl
# Debian packages the tests talk to for real: the reference memcached and its
# conformance tools, real client libraries (Python, PHP's two extensions,
# nginx's memcached_pass), the kernel's firewall and conntrack front ends,
# and iproute2 for network namespaces.
# systemd's analyzer checks the unit; twemproxy (nutcracker) and Prometheus
# are the existing engines the fleet test runs cachectl behind.
DEB_PACKAGES := iproute2 iptables ipset conntrack memcached libmemcached-tools netcat-openbsd \
	python3 python3-pymemcache python3-memcache php-cli php-memcached php-memcache nginx openssl sasl2-bin \
	systemd man-db nutcracker prometheus
TEST_FLAGS ?= -count=1 -timeout 30m

# Where `make install` puts things; DESTDIR stages the tree for a package.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
MANDIR := $(PREFIX)/share/man/man1
UNITDIR := $(PREFIX)/lib/systemd/system
BASHCOMPDIR := $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR := $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR := $(PREFIX)/share/fish/vendor_completions.d
# The policy lives where every command looks by default, whatever PREFIX is.
POLICY := /etc/cachectl/policy.yaml
DIST := bin/dist

.PHONY: all build run test fleet-test bench longrun soak deps deps-deb deps-go check clean install uninstall dist

all: build

deps: deps-deb deps-go

# Installs only the packages that are missing, so a prepared machine pays nothing.
# The tests start their own memcached and nginx on loopback ports, so the
# packages' services must not start on 11211 and 80: unless the machine has
# its own policy-rc.d, a temporary one refuses every start during the install.
deps-deb:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		rc=/usr/sbin/policy-rc.d; ours=""; \
		if [ ! -e $$rc ]; then printf '#!/bin/sh\nexit 101\n' > $$rc && chmod 755 $$rc && ours=1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		st=$$?; if [ -n "$$ours" ]; then rm -f $$rc; fi; exit $$st; \
	fi

deps-go:
	$(GO) mod download

# A static binary: without cgo the daemon maps no libc or dynamic loader
# (1.4 MB of its resident set beside 10,000 connections), and one binary
# runs on any Linux. Users (-u) come from /etc/passwd and names resolve
# through /etc/hosts and DNS, Go's own readers, not NSS modules.
build: deps-go
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/cachectl

# The daemon on loopback with memcached's defaults, in the foreground.
run: build
	./$(BIN) serve -l 127.0.0.1 -p 11211

# The pure packages (policy, the firewall render and status logic, address
# validation, the audit core, the item store, the wire protocol parsers and
# memcached's settings) must not depend on Linux: only the files named
# *_linux.go touch the kernel. Building them for another OS proves it.
PURE_PACKAGES := ./policy ./firewall/... ./netinfo ./cached/store ./cached/protocol ./cached/settings
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) build $(PURE_PACKAGES)

test: deps build check
	$(GO) test $(TEST_FLAGS) ./...

# Only the end-to-end fleet (part of `make test` too, about 10 s): three
# cache hosts behind twemproxy and behind pymemcache's HashClient, scraped
# by a real Prometheus.
fleet-test: deps build
	$(GO) test $(TEST_FLAGS) -run '^TestFleet' -v ./cmd/cachectl

# Man pages and completion scripts are generated from the command tree, and
# the unit gets the installed binary's path.
dist: build
	rm -rf $(DIST)
	mkdir -p $(DIST)/man $(DIST)/completions
	./$(BIN) man $(DIST)/man
	./$(BIN) completion bash > $(DIST)/completions/cachectl
	./$(BIN) completion zsh > $(DIST)/completions/_cachectl
	./$(BIN) completion fish > $(DIST)/completions/cachectl.fish
	sed -e 's|/usr/local/bin/cachectl|$(BINDIR)/cachectl|g' cmd/cachectl/dist/cachectl.service > $(DIST)/cachectl.service

# Never overwrites an existing policy: it holds the host's allowlist.
install: dist
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/cachectl
	install -D -m 0644 $(DIST)/cachectl.service $(DESTDIR)$(UNITDIR)/cachectl.service
	install -d $(DESTDIR)$(MANDIR)
	install -m 0644 $(DIST)/man/*.1 $(DESTDIR)$(MANDIR)/
	install -D -m 0644 $(DIST)/completions/cachectl $(DESTDIR)$(BASHCOMPDIR)/cachectl
	install -D -m 0644 $(DIST)/completions/_cachectl $(DESTDIR)$(ZSHCOMPDIR)/_cachectl
	install -D -m 0644 $(DIST)/completions/cachectl.fish $(DESTDIR)$(FISHCOMPDIR)/cachectl.fish
	@if [ -e $(DESTDIR)$(POLICY) ]; then \
		echo "keeping the existing policy $(DESTDIR)$(POLICY)"; \
	else \
		./$(BIN) policy init --policy $(DESTDIR)$(POLICY) && rm -f $(DESTDIR)$(POLICY).lock; \
	fi

# Leaves the policy: it is the host's configuration, not the package's.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/cachectl $(DESTDIR)$(UNITDIR)/cachectl.service \
		$(DESTDIR)$(BASHCOMPDIR)/cachectl $(DESTDIR)$(ZSHCOMPDIR)/_cachectl $(DESTDIR)$(FISHCOMPDIR)/cachectl.fish
	rm -f $(DESTDIR)$(MANDIR)/cachectl.1 $(DESTDIR)$(MANDIR)/cachectl-*.1

# Go micro-benchmarks, then cachectl vs stock memcached side by side on
# workloads W1-W10 and 10,000 connections (BENCH_FLAGS for more compare flags).
# BENCH_QUICK=1 is the short run: 12 to 16 minutes on 2 vCPUs (14 min 32 s
# with W10 on 93ea189, 15 min 43 s on 058188d on a busier guest). The full run takes about an
# hour with --pairs 4, more with the default 5. Every micro-benchmark gets a
# time budget rather than an iteration count, because an iteration ranges
# from a 50 ns get to a full firewall apply of 10,000 rules. Every trial
# lands in bin/bench-results.json; the run ends with each ratio's 95%
# bootstrap interval (cachectl-bench pool, which pools several runs' files).
BENCH_TIME ?= $(if $(BENCH_QUICK),200ms,1s)
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) ./...
	$(GO) build -o bin/cachectl-bench ./cmd/cachectl-bench
	./bin/cachectl-bench compare --cachectl $(BIN) $(if $(BENCH_QUICK),--quick) --json bin/bench-results.json $(BENCH_FLAGS)
	./bin/cachectl-bench pool bin/bench-results.json

# memcached's long-run memory management beside cachectl's (about 5
# minutes): a shift from small to large values with the page mover on
# (hit ratios, pages per class), then short-TTL churn (curr_items and
# pages over time). Not part of `make test`. LONGRUN_FLAGS for more flags
# (--quick halves it); results land in bin/longrun-results.json.
longrun: build
	$(GO) build -o bin/cachectl-bench ./cmd/cachectl-bench
	./bin/cachectl-bench longrun --cachectl $(BIN) --json bin/longrun-results.json $(LONGRUN_FLAGS)

# Several minutes of checked load plus abusive clients against the daemon;
# exits non-zero on any wrong reply, goroutine or RSS growth.
# Not part of `make test`. SOAK_DURATION=60s for a quick run; SOAK_FLAGS
# for more soak flags. Samples and verdict land in bin/soak-results.json.
SOAK_DURATION ?= 5m
soak: build
	$(GO) build -o bin/cachectl-bench ./cmd/cachectl-bench
	./bin/cachectl-bench soak --cachectl $(BIN) --duration $(SOAK_DURATION) --json bin/soak-results.json $(SOAK_FLAGS)

clean:
	rm -rf bin
