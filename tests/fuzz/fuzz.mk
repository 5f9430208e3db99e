# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# libFuzzer harnesses (clang, ASan + UBSan), included by the Makefile.
# A harness is tests/fuzz/fuzz_<name>.c plus one FUZZ_SRCS_<name> line
# below naming the pure sources (under user/) it links. Its seeds are
# tests/fuzz/corpus/<name>/, inputs of past crashes tests/fuzz/regress/<name>/.
#   make fuzz                 build, replay regress/, fuzz each FUZZ_SECONDS (30; CI: 15)
#   make fuzz FUZZ=sse_parser only that harness
#   make fuzz-build           build only (sanitizer runtimes linked statically)
#   make fuzz-campaign        every harness at once for FUZZ_CAMPAIGN_SECONDS (3600)
#                             with FUZZ_WORKERS (1) each: a core-hour per harness

FUZZ_SRCS_http_request  := proto/http_stream.c proto/body_fields.c proto/json_view.c
FUZZ_SRCS_http_response := proto/http_stream.c proto/sse_parser.c proto/body_fields.c proto/json_view.c
FUZZ_SRCS_sse_parser    := proto/sse_parser.c
FUZZ_SRCS_body_request  := proto/body_fields.c proto/json_view.c
FUZZ_SRCS_body_response := proto/body_fields.c proto/json_view.c
FUZZ_SRCS_ipc_pickle    := proto/ipc.c proto/pickle.c proto/msgpack.c
FUZZ_SRCS_ipc_msgpack   := proto/ipc.c proto/pickle.c proto/msgpack.c
FUZZ_SRCS_h2_grpc       := proto/grpc.c proto/h2.c proto/hpack.c
FUZZ_SRCS_hpack         := proto/hpack.c
FUZZ_SRCS_grpc_proto    := proto/grpc.c proto/h2.c proto/hpack.c
FUZZ_SRCS_vllm_ipc      := proto/vllm_ipc.c
# the collector harness builds the whole pure pipeline, through the unit
# tests' fixture (its event generator and row catcher)
FUZZ_PIPELINE           := $(filter-out $(PLUMB_SRCS),$(USER_SRCS))
FUZZ_SRCS_collector     := $(patsubst user/%,%,$(FUZZ_PIPELINE))
FUZZ_EXTRA_collector    := tests/unit/fixture.c
# the kernel's holding back (its user-space mirror) against full capture
FUZZ_SRCS_held_stream   := $(FUZZ_SRCS_collector)
FUZZ_EXTRA_held_stream  := tests/unit/fixture.c tests/unit/kernel_mirror.c

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_ALL     := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
# Harnesses with open findings (inputs in tests/fuzz/open/<name>/): a
# plain `make fuzz` (CI) replays their past crashes but does not fuzz
# them until they run clean; `make fuzz FUZZ=<name>` and fuzz-campaign do.
# None now.
FUZZ_OPEN    :=
FUZZ_REPLAY_ONLY := $(if $(filter undefined,$(origin FUZZ)),$(FUZZ_OPEN))
FUZZ         ?= $(FUZZ_ALL)
FUZZ_DIR     := $(OUTPUT)/fuzz
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ))
# -fno-sanitize-recover: a UBSan finding is a crash, not a log line.
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra \
		-Wno-unused-parameter -Wno-string-plus-int -Werror \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iuser -Ibpf -Itests/fuzz -Itests/unit
FUZZ_LDLIBS  := -lcjson -lm -lmicrohttpd -lpthread -static-libstdc++ -static-libgcc
# One compile per harness, several sources: depend on every header.
FUZZ_HDRS    := $(wildcard tests/fuzz/*.h user/*/*.h)

.PHONY: fuzz fuzz-build fuzz-campaign

define fuzz_rule
$(FUZZ_DIR)/fuzz_$(1): tests/fuzz/fuzz_$(1).c $(addprefix user/,$(FUZZ_SRCS_$(1))) $(FUZZ_EXTRA_$(1)) $(FUZZ_HDRS)
	$$(call msg,FUZZ-CC,$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)$$(FUZZ_CC) $$(FUZZ_CFLAGS) $$< \
		$(addprefix user/,$(FUZZ_SRCS_$(1))) $(FUZZ_EXTRA_$(1)) $$(FUZZ_LDLIBS) -o $$@
endef
$(foreach h,$(FUZZ_ALL),$(eval $(call fuzz_rule,$(h))))

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_REPLAY_ONLY="$(FUZZ_REPLAY_ONLY)" \
		tests/fuzz/run_fuzz.sh $(FUZZ_DIR) $(FUZZ)

FUZZ_CAMPAIGN_SECONDS ?= 3600
FUZZ_WORKERS          ?= 1
fuzz-campaign: fuzz-build
	$(Q)tests/fuzz/campaign.sh $(FUZZ_DIR) $(FUZZ_CAMPAIGN_SECONDS) $(FUZZ_WORKERS) \
		$(FUZZ_DIR)/campaign $(FUZZ)
