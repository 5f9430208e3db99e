# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tools/loadgen: the Poisson load generator and the servetrace vs in-band
# comparison. Pure logic (no curl) is linked into the unit tests too.
LG_DIR  := tools/loadgen
LG_OUT  := $(OUTPUT)/tools/loadgen
LG_PURE := lg_rng lg_arrivals lg_sched lg_dataset lg_request lg_sse \
	   lg_result lg_csv lg_row lg_inband lg_stats lg_summary \
	   lg_compare lg_compare_out
LG_PURE_OBJS := $(patsubst %,$(LG_OUT)/%.o,$(LG_PURE))
LG_LDLIBS := -lcjson -lm

TOOL_BINS      += $(LG_DIR)/loadgen $(LG_DIR)/compare
TOOL_PURE_OBJS += $(LG_PURE_OBJS)
TOOL_INCLUDES  += -I$(LG_DIR)

$(LG_OUT):
	$(Q)mkdir -p $@

$(LG_OUT)/%.o: $(LG_DIR)/%.c | $(LG_OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -I$(LG_DIR) -c $< -o $@

$(LG_DIR)/loadgen: $(LG_OUT)/loadgen.o $(LG_OUT)/lg_net.o $(LG_PURE_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lcurl $(LG_LDLIBS) -o $@

$(LG_DIR)/compare: $(LG_OUT)/compare.o $(LG_PURE_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LG_LDLIBS) -o $@

-include $(wildcard $(LG_OUT)/*.d)
