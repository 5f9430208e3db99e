/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Intrusive lists, the kernel's shape: list_head is a circular doubly
 * linked list with a sentinel (age order: connections, exchanges, hop
 * records); hlist is a hash chain whose nodes unlink in O(1). */
#ifndef SERVETRACE_LIST_H
#define SERVETRACE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct list_head {
	struct list_head *prev, *next;
};

static inline void list_init(struct list_head *h)
{
	h->prev = h->next = h;
}

static inline bool list_empty(const struct list_head *h)
{
	return h->next == h;
}

/* Appends n at the tail (the newest end). */
static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_del(struct list_head *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

static inline void list_move_tail(struct list_head *n, struct list_head *h)
{
	list_del(n);
	list_add_tail(n, h);
}

#define list_entry(ptr, type, member) container_of(ptr, type, member)
/* The oldest entry, or NULL. */
#define list_first_or_null(h, type, member) \
	(list_empty(h) ? NULL : list_entry((h)->next, type, member))
/* Walks h oldest first; the current node may be deleted. */
#define list_for_each_safe(pos, tmp, h) \
	for (pos = (h)->next, tmp = pos->next; pos != (h); pos = tmp, tmp = pos->next)

struct hlist_node {
	struct hlist_node *next, **pprev;
};

struct hlist_head {
	struct hlist_node *first;
};

static inline void hlist_add_head(struct hlist_node *n, struct hlist_head *h)
{
	n->next = h->first;
	if (h->first)
		h->first->pprev = &n->next;
	h->first = n;
	n->pprev = &h->first;
}

static inline void hlist_del(struct hlist_node *n)
{
	if (!n->pprev)
		return;
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	n->next = NULL;
	n->pprev = NULL;
}

static inline bool hlist_unhashed(const struct hlist_node *n)
{
	return !n->pprev;
}

/* Walks a chain; the current node may be deleted. */
#define hlist_for_each_safe(pos, tmp, h) \
	for (pos = (h)->first; pos && (tmp = pos->next, 1); pos = tmp)

#endif
