/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Minimal selftest-style assertions: one file per area, subtests by name. */
#ifndef SERVETRACE_TEST_H
#define SERVETRACE_TEST_H

#include <stdio.h>
#include <string.h>

extern int test_failures;
extern int test_checks;

#define ASSERT_TRUE(cond, what) ({                                        \
	int ___ok = !!(cond);                                             \
	test_checks++;                                                    \
	if (!___ok) {                                                     \
		test_failures++;                                          \
		fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, \
			what);                                            \
	}                                                                 \
	___ok;                                                            \
})
#define ASSERT_EQ(a, b, what) ({                                          \
	long long ___a = (long long)(a), ___b = (long long)(b);           \
	int ___ok = ASSERT_TRUE(___a == ___b, what);                      \
	if (!___ok)                                                       \
		fprintf(stderr, "       got %lld, want %lld\n", ___a, ___b);\
	___ok;                                                            \
})
#define ASSERT_STREQ(a, b, what) ({                                       \
	const char *___a = (a), *___b = (b);                              \
	int ___ok = ASSERT_TRUE(___a && ___b && !strcmp(___a, ___b), what);\
	if (!___ok)                                                       \
		fprintf(stderr, "       got \"%s\", want \"%s\"\n",       \
			___a ? ___a : "(null)", ___b ? ___b : "(null)");  \
	___ok;                                                            \
})
#define ASSERT_NEAR(a, b, eps, what) ({                                   \
	double ___a = (a), ___b = (b);                                    \
	int ___ok = ASSERT_TRUE(___a - ___b <= (eps) && ___b - ___a <= (eps), what);\
	if (!___ok)                                                       \
		fprintf(stderr, "       got %.9g, want %.9g\n", ___a, ___b);\
	___ok;                                                            \
})

/* Each test file defines test_area_<area>() which runs its subtests.
 * "-t area/sub" runs one subtest, "-t area" one area: a subtest's name is
 * its function's, less the "test_" prefix (test_retry is collector/retry). */
extern const char *test_area_now;	/* the area running */
int test_selected(const char *area, const char *fn);

#define RUN_SUBTEST(fn) do {                                              \
	if (test_selected(test_area_now, #fn)) {                          \
		int ___before = test_failures;                            \
		fn();                                                     \
		fprintf(stderr, "  %-4s %s\n",                            \
			test_failures == ___before ? "ok" : "FAIL", #fn); \
	}                                                                 \
} while (0)

#endif
