// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit test runner. The Makefile generates test_areas.h with one
 * TEST_AREA(x) per tests/unit/test_x.c, so adding a file adds an area. */
#include <stdio.h>
#include "test.h"

int test_failures;
int test_checks;

#define TEST_AREA(name) void test_area_##name(void);
#include "test_areas.h"
#undef TEST_AREA

int main(void)
{
	int areas = 0;
#define TEST_AREA(name)                                   \
	fprintf(stderr, "%s\n", #name);                   \
	test_area_##name();                               \
	areas++;
#include "test_areas.h"
#undef TEST_AREA
	printf("unit: %d areas, %d checks\n", areas, test_checks);
	printf("%d passed, %d failed\n", test_checks - test_failures,
	       test_failures);
	return test_failures ? 1 : 0;
}
