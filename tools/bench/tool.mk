# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tools/bench: the stand-in streaming upstream of tools/bench_capture.sh.
TOOL_BINS += tools/bench/sse_upstream

tools/bench/sse_upstream: tools/bench/sse_upstream.c
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) -pthread $< -o $@
