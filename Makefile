# The front door: `make run` and `make test` are the only commands a person types
# on a fresh Debian 12 machine; each installs what is missing first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 60
CONFIG     ?=

CMAKE_FLAGS = -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

# ccache hits across checkouts in different directories (CI clones afresh).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: deps build run test unit-test check-modules asan-test fuzz bench dist deb image clean

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/ironbridge run $(if $(CONFIG),-c $(CONFIG))

# Every test: unit and integration tests on the normal build, the same tests
# under AddressSanitizer + UndefinedBehaviorSanitizer, and a bounded fuzz run.
test: unit-test asan-test fuzz

unit-test: build check-modules
	ctest --test-dir $(BUILD) --output-on-failure -j 2

# Prints the module graph from the CMake link lists; fails when ARCHITECTURE.md's
# dependency line does not state it.
check-modules: build
	@bash scripts/module-graph.sh $(BUILD)

asan-test: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
	  -DIB_SANITIZE=ON > /dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j 2

fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIB_FUZZ=ON \
	  -DCMAKE_CXX_COMPILER=clang++-16 > /dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target mqtt_decode_fuzz modbus_decode_fuzz sql_parse_fuzz ws_decode_fuzz opcua_decode_fuzz write_request_fuzz file_command_fuzz sparkplug_decode_fuzz
	@bash scripts/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: deps
	@cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DIB_BENCH=ON > /dev/null
	@cmake --build build-release -j $(JOBS)
	IRONBRIDGE_BIN=$(CURDIR)/build-release/ironbridge bash bench/compare.sh
	IRONBRIDGE_BIN=$(CURDIR)/build-release/ironbridge bash bench/bridge.sh

# Release artifacts (packaging/README.md); none of them is part of `make test`,
# whose tests build the package and the image from $(BUILD)/ironbridge instead.
# build-dist/dist/ironbridge: optimised, stripped, static where Debian allows;
# build-dist/dist/ironbridge.debug: its symbols, linked by .gnu_debuglink;
# build-dist/dist/plugins/: the rules' plug-ins (ib_grpc.so, ib_postgres.so),
# loaded only when a rule uses their action, each with its .debug.
# IB_GRPC=OFF leaves the grpc plug-in out (and gRPC's -dev packages unneeded).
IB_GRPC    ?= ON
DIST_BUILD ?= build-dist
dist: deps
	@cmake -S . -B $(DIST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -g -DNDEBUG" \
	  -DIB_DIST=ON -DIB_TESTS=OFF -DIB_GRPC=$(IB_GRPC) > /dev/null
	@cmake --build $(DIST_BUILD) -j $(JOBS) --target ironbridge
	@bash packaging/split-debug.sh $(DIST_BUILD)/ironbridge $(DIST_BUILD)/dist
	@rm -rf $(DIST_BUILD)/dist/plugins
	@for p in $(DIST_BUILD)/plugins/*.so; do bash packaging/split-debug.sh $$p $(DIST_BUILD)/dist/plugins; done

# build-dist/dist/ironbridge_<version>_amd64.deb from the dist binary.
deb: dist
	@bash packaging/build-deb.sh $(DIST_BUILD)/dist/ironbridge $(DIST_BUILD)/dist

# build-dist/dist/image: an OCI image layout from the dist binary (the core
# only: no plug-ins, packaging/README.md says how to add them), written
# without a daemon (and image.tar, for `skopeo copy oci-archive:` or `ctr import`).
# IMAGE_COMPRESSION=zstd: a tar+zstd layer, smaller, for containerd 1.5+ (K3s),
# CRI-O, podman and Docker 23+ (packaging/README.md); gzip pulls everywhere.
IMAGE_COMPRESSION ?= gzip
image: dist
	@IB_IMAGE_COMPRESSION=$(IMAGE_COMPRESSION) /usr/bin/python3 packaging/build-image.py $(DIST_BUILD)/dist/ironbridge $(DIST_BUILD)/dist/image

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-dist build-dist-lean build-release
