# gev: the two commands a newcomer needs are `make demo` and `make test`. Each installs the
# missing Debian packages first (as root, with apt-get), then builds and runs.
SHELL := /bin/bash
BUILD       ?= build
ASAN_BUILD  ?= build-asan
BENCH_BUILD ?= build-release
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-release test-asan test-tsan test-fuzz fuzz fuzz-build test-valgrind bench install clean format

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEV_BUILD_TESTS=ON \
	      -DGEV_BUILD_EXAMPLES=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

# gevget against gev's own file server on loopback: progress, an interruption, a resume, and
# a byte-for-byte check (scripts/demo.sh).
demo: build
	scripts/demo.sh $(BUILD)

# The whole suite, then again under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# thread-crossing tests under ThreadSanitizer.
test: test-release test-asan test-tsan test-fuzz
	@echo "gev: all tests passed (release, ASan+UBSan, the ThreadSanitizer build, and a fuzzing run)"

test-release: build
	cd $(BUILD) && ctest --no-tests=error --output-on-failure -j$(JOBS) --timeout 600

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGEV_SANITIZE=address,undefined \
	      -DGEV_BUILD_TESTS=ON -DGEV_BUILD_EXAMPLES=ON \
	      -DGEV_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && \
	  ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=1:strict_string_checks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --no-tests=error --output-on-failure -j$(JOBS) --timeout 900 -LE no-asan

# The thread-crossing tests (ThreadPool) under ThreadSanitizer, in their own build.
TSAN_BUILD ?= build-tsan
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGEV_SANITIZE=thread \
	      -DGEV_BUILD_TESTS=ON -DGEV_BUILD_EXAMPLES=OFF -DGEV_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target runtime_thread_pool
	cd $(TSAN_BUILD) && ctest --no-tests=error --output-on-failure -L tsan

# libFuzzer on one HTTP server connection (clang, ASan+UBSan): briefly in `make test`, longer
# with `make fuzz` (FUZZ_SECONDS). New inputs go to build-fuzz/corpus; fuzz/corpus seeds it.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
fuzz-build: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	      -DGEV_SANITIZE=address,undefined,fuzzer-no-link -DGEV_BUILD_FUZZ=ON \
	      -DGEV_BUILD_TESTS=OFF -DGEV_BUILD_EXAMPLES=OFF -DGEV_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target http_server_fuzz
	mkdir -p $(FUZZ_BUILD)/corpus

test-fuzz: fuzz-build
	$(FUZZ_BUILD)/fuzz/http_server_fuzz -max_total_time=30 -timeout=20 \
	  $(FUZZ_BUILD)/corpus fuzz/corpus/http_server

fuzz: fuzz-build
	$(FUZZ_BUILD)/fuzz/http_server_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
	  $(FUZZ_BUILD)/corpus fuzz/corpus/http_server

# The release suite under Valgrind memcheck (not part of `make test`: it takes several minutes).
test-valgrind: build
	scripts/valgrind-tests.sh $(BUILD)

# Micro-benchmarks and the side-by-side tables against gevent, Go and nginx (installs them).
bench:
	@scripts/install-deps.sh bench
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DGEV_BUILD_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(BENCH_BUILD) -j$(JOBS)
	bench/run.sh $(BENCH_BUILD)

install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX),)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD) $(TSAN_BUILD)
