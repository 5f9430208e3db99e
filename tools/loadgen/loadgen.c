// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* loadgen: Poisson load against SGLang (or its router), an in-band CSV per
 * request, and a bench_serving-style summary. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include "lg_arrivals.h"
#include "lg_dataset.h"
#include "lg_inband.h"
#include "lg_net.h"
#include "lg_request.h"
#include "lg_summary.h"

#define MAX_HEADERS 32

static struct env {
	const char *host;
	int port;
	const char *base_url;
	const char *backend;
	const char *endpoint;
	const char *model;
	bool stream;
	size_t num_requests;
	double rate;
	unsigned int max_concurrency;
	unsigned int max_connections;
	uint64_t seed;
	const char *dataset;
	const char *dataset_path;
	int input_len, output_len, output_len_override;
	double range_ratio;
	const char *output_csv;
	const char *rid_prefix;
	double timeout;
	double spin_us;
	const char *headers[MAX_HEADERS];
	int nheaders;
	const char *api_key;
	bool no_ignore_eos;
	double temperature;
	bool no_preflight;
	bool quiet;
} env = {
	.host = "127.0.0.1",
	.port = 30000,
	.backend = "sglang",
	.num_requests = 100,
	.rate = INFINITY,
	.seed = 1,
	.max_connections = 4096,
	.dataset = "random",
	.input_len = 1024,
	.output_len = 128,
	.range_ratio = 0.0,
	.spin_us = 500,
};

const char *argp_program_version = "loadgen (servetrace) 0.1";

static const char doc[] =
"Send a Poisson load to an SGLang server or router and record what the\n"
"client sees and what SGLang reports in meta_info, one CSV row per request.\n"
"\n"
"Arrivals are sequential with exponential gaps of mean 1/RATE, fixed by\n"
"--seed before the run; each request is sent the moment it arrives and\n"
"runs concurrently with the others (100 requests at 50/s take ~2 s to\n"
"send, whatever the server does). Every request carries a unique id as\n"
"both the X-Request-Id header and the body's \"rid\".\n"
"\n"
"USAGE: loadgen [OPTION...]\n"
"\n"
"EXAMPLES:\n"
"    loadgen --port 30000 --num-requests 100 --request-rate 50 \\\n"
"            --random-input-len 64 --random-output-len 16 --output-csv run.csv\n"
"        100 random-word prompts to /generate at 50 req/s, CSV in run.csv\n"
"    loadgen --backend openai-chat --stream --request-rate 10 \\\n"
"            --dataset sharegpt --dataset-path ShareGPT_V3.json\n"
"        ShareGPT prompts to /v1/chat/completions, streaming (client TTFT)\n"
"    loadgen --base-url http://10.0.0.5:8000 --dataset custom \\\n"
"            --dataset-path prompts.json --max-concurrency 8 --request-rate inf\n"
"        a JSON list of {\"prompt\",\"completion\",\"id\"}, at most 8 in flight\n"
"    loadgen --request-rate 20 --num-requests 200 --output-csv inband.csv && \\\n"
"        compare servetrace.csv inband.csv\n"
"        the in-band side of a servetrace accuracy check\n"
"\n"
"CSV: timeline.md's columns in order (arrival_time = client send,\n"
"server_created_time = meta_info.request_received_ts, queue_time_end =\n"
"forward_entry_time, server_first_token_time = prefill_finished_time else\n"
"the first streamed token, finish_time = last byte received), then the\n"
"client's columns and the raw meta_info stamps. Start SGLang with\n"
"--enable-metrics to get the server stamps. Empty = unknown.\n"
"\vExit status: 0 all requests succeeded, 2 some failed, 1 nothing could be\n"
"run (bad options, target down, none succeeded), 130 interrupted by ^C\n"
"(the CSV and summary are still written; a second ^C quits at once).";

enum {
	OPT_HOST = 1000, OPT_PORT, OPT_BASE_URL, OPT_BACKEND, OPT_ENDPOINT,
	OPT_MODEL, OPT_STREAM, OPT_NO_STREAM, OPT_NUM, OPT_RATE, OPT_MAXCONC,
	OPT_SEED, OPT_DATASET, OPT_DATASET_PATH, OPT_IN_LEN, OPT_OUT_LEN,
	OPT_RATIO, OPT_OUT_OVERRIDE, OPT_CSV, OPT_RID_PREFIX, OPT_TIMEOUT,
	OPT_HEADER, OPT_API_KEY, OPT_NO_IGNORE_EOS, OPT_TEMPERATURE,
	OPT_NO_PREFLIGHT, OPT_MAXCONN, OPT_SPIN,
};

static const struct argp_option opts[] = {
	{ NULL, 0, NULL, 0, "Target:", 1 },
	{ "host", OPT_HOST, "HOST", 0, "Server or router host (default 127.0.0.1)", 1 },
	{ "port", OPT_PORT, "PORT", 0, "Its port (default 30000)", 1 },
	{ "base-url", OPT_BASE_URL, "URL", 0,
	  "http://HOST:PORT[/prefix], instead of --host/--port", 1 },
	{ "backend", OPT_BACKEND, "NAME", 0,
	  "sglang (/generate, default), openai (/v1/completions), openai-chat (/v1/chat/completions)", 1 },
	{ "endpoint", OPT_ENDPOINT, "PATH", 0,
	  "Request path; the API follows from it (.../chat/completions, .../completions, else /generate)", 1 },
	{ "model", OPT_MODEL, "NAME", 0,
	  "Model name for OpenAI endpoints (default: asked from /v1/models, /get_model_info, else \"default\")", 1 },
	{ "stream", OPT_STREAM, NULL, 0,
	  "Stream the response (SSE): gives the client's first-token time", 1 },
	{ "no-stream", OPT_NO_STREAM, NULL, 0, "One response at the end (default)", 1 },
	{ "header", OPT_HEADER, "'NAME: VALUE'", 0, "Extra request header (repeatable)", 1 },
	{ "api-key", OPT_API_KEY, "KEY", 0, "Send Authorization: Bearer KEY", 1 },
	{ "timeout", OPT_TIMEOUT, "SEC", 0,
	  "Give up on a request after SEC seconds (default: never)", 1 },
	{ "no-preflight", OPT_NO_PREFLIGHT, NULL, 0,
	  "Do not check the target (and ask its model) before the run", 1 },

	{ NULL, 0, NULL, 0, "Load:", 2 },
	{ "num-requests", OPT_NUM, "N", 0, "Requests to send (default 100)", 2 },
	{ "num-prompts", OPT_NUM, "N", OPTION_ALIAS, NULL, 2 },
	{ "request-rate", OPT_RATE, "RATE", 0,
	  "Mean arrivals per second, or inf to send all at once (default inf)", 2 },
	{ "max-concurrency", OPT_MAXCONC, "N", 0,
	  "Cap on requests in flight; an arrival waits for a free slot (default: no cap)", 2 },
	{ "max-connections", OPT_MAXCONN, "N", 0,
	  "Safety cap on requests in flight, one connection each (default 4096; "
	  "0 = the open-file limit). Reaching it means the target fell behind: "
	  "the summary counts the arrivals that waited", 2 },
	{ "seed", OPT_SEED, "N", 0, "Seed of arrivals and prompts (default 1)", 2 },
	{ "spin-us", OPT_SPIN, "US", 0,
	  "Busy-poll the last US microseconds before each arrival instead of "
	  "sleeping, for on-time sends (default 500; 0 = always sleep, saves CPU)", 2 },

	{ NULL, 0, NULL, 0, "Workload:", 3 },
	{ "dataset", OPT_DATASET, "NAME", 0, "random (default), sharegpt or custom", 3 },
	{ "dataset-name", OPT_DATASET, "NAME", OPTION_ALIAS, NULL, 3 },
	{ "dataset-path", OPT_DATASET_PATH, "FILE", 0,
	  "ShareGPT JSON, or a custom JSON list of {\"prompt\",\"completion\",\"id\"}", 3 },
	{ "random-input-len", OPT_IN_LEN, "N", 0,
	  "random: prompt words, at most (default 1024)", 3 },
	{ "random-output-len", OPT_OUT_LEN, "N", 0,
	  "random: max_new_tokens, at most; files: when an entry has no completion (default 128)", 3 },
	{ "random-range-ratio", OPT_RATIO, "R", 0,
	  "random: lengths uniform in [max(N*R,1), N] (default 0.0; 1.0 = fixed)", 3 },
	{ "output-len", OPT_OUT_OVERRIDE, "N", 0,
	  "files: max_new_tokens for every request instead of the completion's word count", 3 },
	{ "sharegpt-output-len", OPT_OUT_OVERRIDE, "N", OPTION_ALIAS, NULL, 3 },
	{ "temperature", OPT_TEMPERATURE, "T", 0, "Sampling temperature (default 0)", 3 },
	{ "no-ignore-eos", OPT_NO_IGNORE_EOS, NULL, 0,
	  "Let the model stop early (default: ignore_eos, exact lengths)", 3 },

	{ NULL, 0, NULL, 0, "Output:", 4 },
	{ "output-csv", OPT_CSV, "FILE", 0,
	  "Write the in-band CSV here ('-' = stdout; the summary then goes to stderr)", 4 },
	{ "rid-prefix", OPT_RID_PREFIX, "P", 0,
	  "Request ids are P-000000, P-000001, ... (default lg-<random 12 hex>, unique per run)", 4 },
	{ "quiet", 'q', NULL, 0, "No progress line on stderr", 4 },
	{},
};

static long parse_long(struct argp_state *state, const char *arg,
		       const char *what, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi)
		argp_error(state, "bad %s '%s' (want %ld..%ld)", what, arg, lo, hi);
	return v;
}

static double parse_double(struct argp_state *state, const char *arg,
			   const char *what, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= lo && v <= hi))
		argp_error(state, "bad %s '%s' (want %g..%g)", what, arg, lo, hi);
	return v;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	enum lg_api api;

	switch (key) {
	case OPT_HOST:
		env.host = arg;
		break;
	case OPT_PORT:
		env.port = parse_long(state, arg, "port", 1, 65535);
		break;
	case OPT_BASE_URL:
		env.base_url = arg;
		break;
	case OPT_BACKEND:
		if (lg_api_from_backend(arg, &api))
			argp_error(state, "unknown backend '%s' (sglang, openai, openai-chat)", arg);
		env.backend = arg;
		break;
	case OPT_ENDPOINT:
		env.endpoint = arg;
		break;
	case OPT_MODEL:
		env.model = arg;
		break;
	case OPT_STREAM:
		env.stream = true;
		break;
	case OPT_NO_STREAM:
		env.stream = false;
		break;
	case OPT_NUM:
		env.num_requests = parse_long(state, arg, "number of requests", 1, 100000000);
		break;
	case OPT_RATE:
		if (lg_parse_rate(arg, &env.rate))
			argp_error(state, "bad request rate '%s' (a number > 0, or inf)", arg);
		break;
	case OPT_MAXCONC:
		env.max_concurrency = parse_long(state, arg, "max concurrency", 1, 1000000);
		break;
	case OPT_MAXCONN:
		env.max_connections = parse_long(state, arg, "max connections", 0, 1000000);
		break;
	case OPT_SPIN:
		env.spin_us = parse_double(state, arg, "spin time", 0, 1e6);
		break;
	case OPT_SEED:
		env.seed = parse_long(state, arg, "seed", 0, LONG_MAX);
		break;
	case OPT_DATASET:
		if (strcmp(arg, "random") && strcmp(arg, "sharegpt") && strcmp(arg, "custom"))
			argp_error(state, "unknown dataset '%s' (random, sharegpt, custom)", arg);
		env.dataset = arg;
		break;
	case OPT_DATASET_PATH:
		env.dataset_path = arg;
		break;
	case OPT_IN_LEN:
		env.input_len = parse_long(state, arg, "input length", 1, 10000000);
		break;
	case OPT_OUT_LEN:
		env.output_len = parse_long(state, arg, "output length", 1, 10000000);
		break;
	case OPT_RATIO:
		env.range_ratio = parse_double(state, arg, "range ratio", 0, 1);
		break;
	case OPT_OUT_OVERRIDE:
		env.output_len_override = parse_long(state, arg, "output length", 1, 10000000);
		break;
	case OPT_CSV:
		env.output_csv = arg;
		break;
	case OPT_RID_PREFIX:
		env.rid_prefix = arg;
		break;
	case OPT_TIMEOUT:
		env.timeout = parse_double(state, arg, "timeout", 0, 1e7);
		break;
	case OPT_HEADER:
		if (env.nheaders == MAX_HEADERS)
			argp_error(state, "at most %d --header", MAX_HEADERS);
		if (!strchr(arg, ':'))
			argp_error(state, "bad header '%s' (want 'Name: value')", arg);
		env.headers[env.nheaders++] = arg;
		break;
	case OPT_API_KEY:
		env.api_key = arg;
		break;
	case OPT_NO_IGNORE_EOS:
		env.no_ignore_eos = true;
		break;
	case OPT_TEMPERATURE:
		env.temperature = parse_double(state, arg, "temperature", 0, 100);
		break;
	case OPT_NO_PREFLIGHT:
		env.no_preflight = true;
		break;
	case 'q':
		env.quiet = true;
		break;
	case ARGP_KEY_ARG:
		argp_usage(state);
		break;
	case ARGP_KEY_END:
		if (strcmp(env.dataset, "random") && !env.dataset_path)
			argp_error(state, "--dataset %s needs --dataset-path", env.dataset);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static volatile sig_atomic_t stop;

static void on_sigint(int sig)
{
	stop = 1;
}

/* Model name from /v1/models (data[0].id) or /get_model_info (model_path). */
static char *model_from(const char *body, bool openai_list)
{
	cJSON *root = cJSON_Parse(body), *v = NULL;
	char *name = NULL;

	if (!root)
		return NULL;
	if (openai_list)
		v = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "data"), 0),
			"id");
	else
		v = cJSON_GetObjectItemCaseSensitive(root, "model_path");
	if (cJSON_IsString(v) && *v->valuestring)
		name = strdup(v->valuestring);
	cJSON_Delete(root);
	return name;
}

/* Is the target there, and what does it serve? Fails only when it cannot
 * be reached at all: an odd answer is the run's business. */
static int preflight(const char *base, struct curl_slist *hdrs, char **model)
{
	static const struct {
		const char *path;
		bool openai_list;
	} probes[] = { { "/v1/models", true }, { "/get_model_info", false } };
	char url[2048], err[CURL_ERROR_SIZE + 64], *body;
	long status;

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		lg_join_url(url, sizeof(url), base, probes[i].path);
		status = lg_net_get(url, 5000, hdrs, &body, err, sizeof(err));
		if (status < 0) {
			fprintf(stderr, "loadgen: cannot reach %s: %s\n"
				"loadgen: is the server up? (set --host/--port or --base-url; --no-preflight skips this check)\n",
				url, err);
			return -1;
		}
		if (status >= 200 && status < 300 && !*model && body)
			*model = model_from(body, probes[i].openai_list);
		free(body);
		if (*model)
			break;
	}
	return 0;
}

static uint64_t entropy(void)
{
	uint64_t v;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == sizeof(v))
		return v;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
}

static int load_dataset(struct lg_dataset *ds)
{
	struct lg_dataset_opts o = {
		.num_requests = env.num_requests,
		.input_len = env.input_len,
		.output_len = env.output_len,
		.range_ratio = env.range_ratio,
		.output_len_override = env.output_len_override,
		.seed = env.seed,
	};
	char err[256] = "", *text;
	int ret;

	if (!strcmp(env.dataset, "random"))
		return lg_dataset_random(ds, &o);
	text = lg_read_file(env.dataset_path, NULL);
	if (!text) {
		fprintf(stderr, "loadgen: cannot read %s: %s\n", env.dataset_path,
			strerror(errno));
		return -1;
	}
	if (!strcmp(env.dataset, "sharegpt"))
		ret = lg_dataset_sharegpt(ds, text, &o, err, sizeof(err));
	else
		ret = lg_dataset_custom(ds, text, &o, err, sizeof(err));
	free(text);
	if (ret && err[0])
		fprintf(stderr, "loadgen: %s: %s\n", env.dataset_path, err);
	return ret;
}

/* One socket per request in flight: raise the open-file limit and keep
 * the connection cap under it, so an overload shows as lag, not EMFILE. */
static void fit_connections(void)
{
	struct rlimit rl;
	unsigned int room;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000064)
		return;
	room = rl.rlim_cur > 128 ? (unsigned int)rl.rlim_cur - 64 : 64;
	if (!env.max_connections || env.max_connections > room) {
		if (env.max_connections)
			fprintf(stderr, "loadgen: --max-connections lowered to %u (open-file limit %llu)\n",
				room, (unsigned long long)rl.rlim_cur);
		env.max_connections = room;
	}
}

/* CPU seconds this process used since ru0. */
static double cpu_seconds(const struct rusage *ru0)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	return (ru.ru_utime.tv_sec - ru0->ru_utime.tv_sec) +
	       (ru.ru_utime.tv_usec - ru0->ru_utime.tv_usec) * 1e-6 +
	       (ru.ru_stime.tv_sec - ru0->ru_stime.tv_sec) +
	       (ru.ru_stime.tv_usec - ru0->ru_stime.tv_usec) * 1e-6;
}

static int write_csv(const char *path, const struct lg_inband_ctx *ctx,
		     char (*rids)[64], const struct lg_item *items,
		     const struct lg_result *res, size_t n)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	int bad;

	if (!f) {
		fprintf(stderr, "loadgen: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	lg_inband_header(f);
	for (size_t i = 0; i < n; i++)
		if (res[i].sent)
			lg_inband_row(f, ctx, rids[i], &items[i], &res[i]);
	bad = ferror(f);
	if (f != stdout)
		bad |= fclose(f);
	else
		bad |= fflush(f);
	if (bad) {
		fprintf(stderr, "loadgen: error writing %s\n", path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct argp argp = { .options = opts, .parser = parse_arg, .doc = doc };
	struct lg_dataset ds = {};
	struct lg_req_opts ro = {};
	struct lg_net_cfg cfg = { .stop = &stop };
	struct lg_net_stats st = {};
	struct lg_run_info info = {};
	struct lg_summary sum;
	struct lg_inband_ctx ictx;
	struct rusage ru0;
	struct curl_slist *hdrs = NULL;
	struct lg_net_req *reqs = NULL;
	struct lg_result *res = NULL;
	char (*rids)[64] = NULL;
	double *arrivals = NULL;
	char base[1024], url[2048], prefix[48], auth[1100];
	char *model = NULL;
	const char *path;
	struct sigaction sa = { .sa_handler = on_sigint, .sa_flags = SA_RESETHAND };
	FILE *out = stdout;
	int err, ret = 1;

	argp_err_exit_status = 1;
	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return 1;
	if (env.output_csv && !strcmp(env.output_csv, "-"))
		out = stderr;

	lg_api_from_backend(env.backend, &ro.api);
	path = env.endpoint ? env.endpoint : lg_api_default_path(ro.api);
	if (env.endpoint)
		ro.api = lg_api_from_path(env.endpoint);
	if (env.base_url)
		snprintf(base, sizeof(base), "%s", env.base_url);
	else
		snprintf(base, sizeof(base), "http://%s:%d", env.host, env.port);
	if (lg_join_url(url, sizeof(url), base, path)) {
		fprintf(stderr, "loadgen: URL too long\n");
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "loadgen: curl_global_init failed\n");
		return 1;
	}

	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	/* no 100-continue round trip before large bodies */
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (env.stream)
		hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
	if (env.api_key) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", env.api_key);
		hdrs = curl_slist_append(hdrs, auth);
	}
	for (int i = 0; i < env.nheaders; i++)
		hdrs = curl_slist_append(hdrs, env.headers[i]);
	if (!hdrs)
		goto cleanup;

	if (env.model)
		model = strdup(env.model);
	if (!env.no_preflight && preflight(base, hdrs, &model))
		goto cleanup;
	if (!model) {
		if (ro.api != LG_API_GENERATE)
			fprintf(stderr, "loadgen: the target names no model: using \"default\" (set --model)\n");
		model = strdup("default");
	}

	if (load_dataset(&ds))
		goto cleanup;
	arrivals = calloc(ds.n, sizeof(*arrivals));
	reqs = calloc(ds.n, sizeof(*reqs));
	res = calloc(ds.n, sizeof(*res));
	rids = calloc(ds.n, sizeof(*rids));
	if (!arrivals || !reqs || !res || !rids) {
		fprintf(stderr, "loadgen: out of memory for %zu requests\n", ds.n);
		goto cleanup;
	}
	if (env.rid_prefix)
		snprintf(prefix, sizeof(prefix), "%s", env.rid_prefix);
	else
		lg_run_prefix(prefix, sizeof(prefix), entropy());
	ro.model = model;
	ro.stream = env.stream;
	ro.ignore_eos = !env.no_ignore_eos;
	ro.temperature = env.temperature;
	/* everything is built before the clock starts */
	for (size_t i = 0; i < ds.n; i++) {
		char h[96];

		lg_request_id(rids[i], sizeof(rids[i]), prefix, i);
		reqs[i].body = lg_request_body(&ro, ds.items[i].prompt,
					       ds.items[i].output_len, rids[i]);
		lg_request_id_header(h, sizeof(h), rids[i]);
		reqs[i].id_header = strdup(h);
		if (!reqs[i].body || !reqs[i].id_header) {
			fprintf(stderr, "loadgen: out of memory building requests\n");
			goto cleanup;
		}
		reqs[i].body_len = strlen(reqs[i].body);
		free(ds.items[i].prompt);
		ds.items[i].prompt = NULL;
		lg_result_init(&res[i], ro.api);
	}
	lg_arrivals_poisson(arrivals, ds.n, env.rate, env.seed);
	fit_connections();

	cfg.url = url;
	cfg.headers = hdrs;
	cfg.timeout_ms = (long)(env.timeout * 1e3);
	cfg.max_inflight = env.max_concurrency;
	cfg.max_connections = env.max_connections;
	cfg.spin = env.spin_us * 1e-6;
	cfg.progress = !env.quiet;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!env.quiet)
		fprintf(stderr, "loadgen: %zu requests to %s at %g req/s%s, ids %s-NNNNNN\n",
			ds.n, url, env.rate, env.stream ? ", streaming" : "", prefix);
	getrusage(RUSAGE_SELF, &ru0);
	err = lg_net_run(&cfg, arrivals, ds.n, reqs, res, &st);
	if (err)
		fprintf(stderr, "loadgen: event loop failed: %s (results so far are kept)\n",
			strerror(-err));

	if (env.output_csv) {
		ictx.endpoint = path;
		ictx.stream = env.stream;
		if (write_csv(env.output_csv, &ictx, rids, ds.items, res, ds.n))
			err = -EIO;
	}
	if (lg_summary_compute(&sum, res, ds.items, ds.n))
		goto cleanup;
	info.backend = lg_api_name(ro.api);
	info.url = url;
	info.model = model;
	info.run_prefix = prefix;
	info.stream = env.stream;
	info.rate = env.rate;
	info.max_concurrency = env.max_concurrency;
	info.peak_inflight = st.peak_inflight;
	info.cpu_seconds = cpu_seconds(&ru0);
	info.max_connections = env.max_connections;
	info.held = st.held;
	info.seed = env.seed;
	info.planned = ds.n;
	info.interrupted = st.interrupted;
	lg_summary_print(out, &info, &sum);
	if (sum.sent && sum.succeeded == 0 && sum.nerrors)
		fprintf(stderr, "loadgen: no request succeeded; first error: %s\n",
			sum.errors[0].text);

	if (st.interrupted)
		ret = 130;
	else if (err || !sum.succeeded)
		ret = 1;
	else
		ret = sum.failed ? 2 : 0;
cleanup:
	for (size_t i = 0; reqs && i < ds.n; i++) {
		free((char *)reqs[i].body);
		free(reqs[i].id_header);
	}
	for (size_t i = 0; res && i < ds.n; i++)
		lg_result_free(&res[i]);
	free(reqs);
	free(res);
	free(rids);
	free(arrivals);
	free(model);
	lg_dataset_free(&ds);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	return ret;
}
