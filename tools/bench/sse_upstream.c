// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A fast stand-in upstream for tools/bench_capture.sh: answers every POST
 * with a chunked SSE stream of N events, one write(2) per event (as SGLang
 * writes them), then "data: [DONE]" and the last chunk. A thread per
 * connection, keep-alive. Not a test double: only the benchmark uses it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int nevents = 128;

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

/* Reads one request (head + Content-Length body); 0 at EOF, -1 on error. */
static int read_request(int fd, char *buf, size_t cap, size_t *have)
{
	for (;;) {
		char *end = memmem(buf, *have, "\r\n\r\n", 4);

		if (end) {
			size_t head = end + 4 - buf, body = 0;
			char *cl = strcasestr(buf, "\r\ncontent-length:");

			if (cl && cl < end)
				body = strtoul(cl + 17, NULL, 10);
			if (*have >= head + body) {
				memmove(buf, buf + head + body, *have - head - body);
				*have -= head + body;
				return 1;
			}
		}
		if (*have == cap)
			return -1;
		ssize_t k = read(fd, buf + *have, cap - *have);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k == 0 ? 0 : -1;
		*have += k;
	}
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg, one = 1;
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n";
	char buf[65536], ev[512], chunk[600];
	size_t have = 0;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (read_request(fd, buf, sizeof(buf), &have) > 0) {
		if (write_all(fd, head, sizeof(head) - 1))
			break;
		for (int i = 0; i < nevents; i++) {
			int n = snprintf(ev, sizeof(ev),
				"data: {\"text\":\" tok%d\",\"meta_info\":{\"id\":\"bench\","
				"\"prompt_tokens\":8,\"completion_tokens\":%d}}\n\n", i, i + 1);
			int m = snprintf(chunk, sizeof(chunk), "%x\r\n%s\r\n", n, ev);

			if (write_all(fd, chunk, m))
				goto out;
		}
		if (write_all(fd, "e\r\ndata: [DONE]\n\n\r\n", 19) || write_all(fd, "0\r\n\r\n", 5))
			break;
	}
out:
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int lfd, one = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: sse_upstream PORT [EVENTS]\n"
			"Answers every POST with EVENTS (default 128) SSE events, one write each.\n");
		return 2;
	}
	if (argc > 2)
		nevents = atoi(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	sa.sin_port = htons(atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (void *)&sa, sizeof(sa)) || listen(lfd, 4096)) {
		perror("sse_upstream: bind/listen");
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		if (pthread_create(&t, NULL, serve, (void *)(long)fd))
			close(fd);
		else
			pthread_detach(t);
	}
}
