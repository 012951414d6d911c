# gev: the two commands a newcomer needs are `make demo` and `make test`. Each installs the
# missing Debian packages first (as root, with apt-get), then builds and runs.
SHELL := /bin/bash
BUILD       ?= build
ASAN_BUILD  ?= build-asan
BENCH_BUILD ?= build-release
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-release test-asan test-tsan test-valgrind bench install clean format

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEV_BUILD_TESTS=ON \
	      -DGEV_BUILD_EXAMPLES=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	$(BUILD)/examples/demo

# The whole suite, then again under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# thread-crossing tests under ThreadSanitizer.
test: test-release test-asan test-tsan
	@echo "gev: all tests passed (release, ASan+UBSan, and the ThreadSanitizer build)"

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

# The release suite under Valgrind memcheck (not part of `make test`: it takes several minutes).
test-valgrind: build
	scripts/valgrind-tests.sh $(BUILD)

# Micro-benchmarks and the side-by-side table against gevent and Go (installs both).
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
