tools/bench/sse_upstream: tools/bench/sse_upstream.c
