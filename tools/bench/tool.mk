# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tools/bench: the stand-in streaming upstream of tools/bench_capture.sh.
TOOL_BINS += tools/bench/sse_upstream

tools/bench/sse_upstream: tools/bench/sse_upstream.c
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) -pthread $< -o $@

# The floor rounds of tools/bench_capture.sh --floor: do-nothing programs
# on servetrace's syscall tracepoints.
TOOL_BINS += tools/bench/tp_floor

$(OUTPUT)/tp_floor.bpf.o: tools/bench/tp_floor.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

tools/bench/tp_floor: tools/bench/tp_floor.c $(OUTPUT)/tp_floor.skel.h
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) -I$(OUTPUT) -Ibpf $< -lbpf -lelf -lz -o $@
