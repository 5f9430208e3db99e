/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The in-band CSV: timeline.md's columns in order, then the client's own
 * and the raw meta_info stamps. */
#ifndef LG_INBAND_H
#define LG_INBAND_H

#include <stdbool.h>
#include <stdio.h>
#include "lg_dataset.h"
#include "lg_result.h"

struct lg_inband_ctx {
	const char *endpoint;	/* path asked, e.g. /generate */
	bool stream;
};

void lg_inband_header(FILE *f);
void lg_inband_row(FILE *f, const struct lg_inband_ctx *ctx, const char *rid,
		   const struct lg_item *it, const struct lg_result *r);

#endif
