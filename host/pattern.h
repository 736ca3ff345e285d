/*
 * pattern.h — event type patterns and where event types live.
 *
 * A pattern is an event type with `*` wildcards; `*` matches any run of
 * characters including dots and the empty run ("order.*" matches
 * "order.created" and "order.line.added"; "*.status_changed"; "*").
 */
#ifndef YARD_PATTERN_H
#define YARD_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Does `pattern` match `s`?  Linear-time in practice, no recursion blowup. */
bool yard_pattern_match(const char *pattern, const char *s);

/* Is there a string that both patterns match? */
bool yard_pattern_overlap(const char *a, const char *b);

/*
 * Topic of an event type: the first [topics] rule whose pattern matches,
 * else the type itself.  Returned pointer is owned by cfg or is `type`.
 */
const char *yard_topic_for_type(const yard_config *cfg, const char *type);

/*
 * The librdkafka subscription list a plugin needs for its patterns: a
 * literal topic for a wildcard-free pattern, a "^regex" for a pattern with
 * wildcards, plus every mapped topic whose rule overlaps a pattern.
 * Duplicates removed.  *out is a malloc'd array of malloc'd strings; free
 * with yard_topics_free().  Returns 0 or YARD_ENOMEM.
 */
int yard_topics_for_patterns(const yard_config *cfg,
                             const char *const *patterns, size_t n,
                             char ***out, size_t *n_out);
void yard_topics_free(char **topics, size_t n);

#endif
