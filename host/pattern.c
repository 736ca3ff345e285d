/* pattern.c — event type patterns and the topics they live on (see
 * pattern.h). */
#include "pattern.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Overlap rows up to this many columns live on the stack. */
#define OVERLAP_STACK_COLS 256

/* Characters a librdkafka (POSIX-style) regex gives a meaning. */
#define REGEX_META ".^$|?+()[]{}\\"

bool yard_pattern_match(const char *pattern, const char *s)
{
    if (!pattern || !s)
        return false;
    const char *p = pattern;
    const char *star = NULL; /* the last '*' seen */
    const char *resume = s;  /* where that star's match ends so far */
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            /* let the last star eat one more character and retry */
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool yard_pattern_overlap(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    /* Product of the two patterns' automata: ok(i,j) says a[i..] and b[j..]
     * share a match; a star may match nothing (i+1,j) or take the next
     * character of the other side (i,j+1); equal literals advance both. */
    size_t na = strlen(a), nb = strlen(b);
    bool stack_rows[2 * OVERLAP_STACK_COLS];
    bool *rows = stack_rows;
    if (nb + 1 > OVERLAP_STACK_COLS) {
        rows = calloc(2 * (nb + 1), sizeof(*rows));
        if (!rows)
            return true; /* cannot tell: over-subscribing is harmless */
    }
    bool *next = rows;         /* ok(i+1, .) */
    bool *cur = rows + nb + 1; /* ok(i, .) */
    for (size_t j = 0; j <= nb; j++)
        next[j] = false;
    for (size_t i = na + 1; i-- > 0;) {
        for (size_t j = nb + 1; j-- > 0;) {
            bool ok;
            if (i == na && j == nb)
                ok = true;
            else if (i < na && a[i] == '*')
                ok = next[j] || (j < nb && cur[j + 1]);
            else if (j < nb && b[j] == '*')
                ok = cur[j + 1] || (i < na && next[j]);
            else
                ok = i < na && j < nb && a[i] == b[j] && next[j + 1];
            cur[j] = ok;
        }
        bool *t = next;
        next = cur;
        cur = t;
    }
    bool result = next[0];
    if (rows != stack_rows)
        free(rows);
    return result;
}

const char *yard_topic_for_type(const yard_config *cfg, const char *type)
{
    if (cfg)
        for (size_t i = 0; i < cfg->n_topics; i++)
            if (yard_pattern_match(cfg->topics[i].key, type))
                return cfg->topics[i].value;
    return type;
}

/* "^" + the pattern with regex characters escaped and '*' as ".*" + "$". */
static char *pattern_regex(const char *pattern)
{
    size_t n = strlen(pattern);
    char *re = malloc(2 * n + 3); /* each character becomes at most two */
    if (!re)
        return NULL;
    char *o = re;
    *o++ = '^';
    for (const char *p = pattern; *p; p++) {
        if (*p == '*') {
            *o++ = '.';
            *o++ = '*';
        } else {
            if (strchr(REGEX_META, *p))
                *o++ = '\\';
            *o++ = *p;
        }
    }
    *o++ = '$';
    *o = '\0';
    return re;
}

typedef struct str_list {
    char **v;
    size_t n;
} str_list;

/* Append a copy of s unless present (or take `owned`, freeing it if
 * present).  Returns 0 or YARD_ENOMEM. */
static int list_add(str_list *l, const char *s, char *owned)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], s) == 0) {
            free(owned);
            return 0;
        }
    }
    char *copy = owned ? owned : strdup(s);
    char **v = copy ? realloc(l->v, (l->n + 1) * sizeof(*v)) : NULL;
    if (!v) {
        free(copy);
        return YARD_ENOMEM;
    }
    l->v = v;
    l->v[l->n++] = copy;
    return 0;
}

int yard_topics_for_patterns(const yard_config *cfg,
                             const char *const *patterns, size_t n,
                             char ***out, size_t *n_out)
{
    str_list l = {NULL, 0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *pat = patterns[i];
        if (!strchr(pat, '*')) {
            /* a literal type lives on its mapped topic */
            rc = list_add(&l, yard_topic_for_type(cfg, pat), NULL);
            continue;
        }
        char *re = pattern_regex(pat);
        rc = re ? list_add(&l, re, re) : YARD_ENOMEM;
        for (size_t r = 0; cfg && r < cfg->n_topics && rc == 0; r++)
            if (yard_pattern_overlap(cfg->topics[r].key, pat))
                rc = list_add(&l, cfg->topics[r].value, NULL);
    }
    if (rc != 0) {
        yard_topics_free(l.v, l.n);
        *out = NULL;
        *n_out = 0;
        return rc;
    }
    *out = l.v;
    *n_out = l.n;
    return 0;
}

void yard_topics_free(char **topics, size_t n)
{
    if (!topics)
        return;
    for (size_t i = 0; i < n; i++)
        free(topics[i]);
    free(topics);
}
