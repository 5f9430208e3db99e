// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit test runner. The Makefile generates test_areas.h with one
 * TEST_AREA(x) per tests/unit/test_x.c, so adding a file adds an area.
 * -t area[/subtest][,...] runs only those (make unit T=collector/retry). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "test.h"

int test_failures;
int test_checks;
const char *test_area_now;
static const char *filter;	/* NULL: everything */
static int subtests_run;

#define TEST_AREA(name) void test_area_##name(void);
#include "test_areas.h"
#undef TEST_AREA

/* Whether one comma-separated filter entry selects (area, sub); sub NULL
 * asks about the whole area. */
static bool entry_selects(const char *e, size_t n, const char *area, const char *sub)
{
	size_t alen = strlen(area);

	if (n < alen || strncmp(e, area, alen))
		return false;
	if (n == alen)
		return true;
	if (e[alen] != '/')
		return false;
	return !sub || (n - alen - 1 == strlen(sub) && !strncmp(e + alen + 1, sub, n - alen - 1));
}

static bool selected(const char *area, const char *sub)
{
	const char *e = filter;

	if (!filter)
		return true;
	while (*e) {
		size_t n = strcspn(e, ",");

		if (entry_selects(e, n, area, sub))
			return true;
		e += n + (e[n] == ',');
	}
	return false;
}

int test_selected(const char *area, const char *fn)
{
	const char *sub = strncmp(fn, "test_", 5) ? fn : fn + 5;
	bool yes = selected(area, sub);

	subtests_run += yes;
	return yes;
}

int main(int argc, char **argv)
{
	int areas = 0, opt;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't') {
			fprintf(stderr, "usage: %s [-t area[/subtest][,...]]\n", argv[0]);
			return 2;
		}
		filter = optarg;
	}
#define TEST_AREA(name)                                   \
	if (selected(#name, NULL)) {                      \
		fprintf(stderr, "%s\n", #name);           \
		test_area_now = #name;                    \
		test_area_##name();                       \
		areas++;                                  \
	}
#include "test_areas.h"
#undef TEST_AREA
	if (filter && !subtests_run) {
		fprintf(stderr, "no subtest matches '%s'\n", filter);
		return 1;
	}
	printf("unit: %d areas, %d checks\n", areas, test_checks);
	printf("%d passed, %d failed\n", test_checks - test_failures,
	       test_failures);
	return test_failures ? 1 : 0;
}
