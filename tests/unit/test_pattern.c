/* test_pattern.c — pattern matching, overlap, and type → topic mapping. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- matching --------------------------------------------------------- */

static const struct {
    const char *pattern, *s;
    bool match;
} match_cases[] = {
    {"order.*", "order.created", true},
    {"order.*", "order.line.added", true},
    {"order.*", "order.", true},
    {"order.*", "order", false},
    {"order.*", "orders.created", false},
    {"order.*", "xorder.created", false},
    {"*.status_changed", "order.status_changed", true},
    {"*.status_changed", "a.b.status_changed", true},
    {"*.status_changed", "status_changed", false},
    {"*.status_changed", "order.status_changed.v2", false},
    {"*", "", true},
    {"*", "anything.at.all", true},
    {"", "", true},
    {"", "a", false},
    {"a", "", false},
    {"order.created", "order.created", true},
    {"order.created", "order.create", false},
    {"order.created", "order.createdx", false},
    {"a*b*c", "abc", true},
    {"a*b*c", "aXbYc", true},
    {"a*b*c", "abbbcc", true},
    {"a*b*c", "acb", false},
    {"a*b*c", "abcx", false},
    {"a**c", "ac", true},
    {"*a", "baaa", true},
    {"*ab", "aab", true},
    {"*ab", "aba", false},
    {"a*", "a", true},
    {"*.*", ".", true},
    {"*.*", "nodot", false},
    {"projects.*.created", "projects.service_order.created", true},
    {"projects.*.created", "projects.created", false},
};

static void test_match_table(void)
{
    for (size_t i = 0; i < ARRAY_LEN(match_cases); i++) {
        bool got = yard_pattern_match(match_cases[i].pattern, match_cases[i].s);
        if (got != match_cases[i].match)
            fprintf(stderr, "match(\"%s\", \"%s\") = %d, want %d\n",
                    match_cases[i].pattern, match_cases[i].s, got,
                    match_cases[i].match);
        CU_ASSERT_EQUAL(got, match_cases[i].match);
    }
}

static void test_match_no_blowup(void)
{
    /* Exponential backtracking would take forever on this. */
    char pat[64 + 2], s[4096 + 1];
    size_t k = 0;
    for (int i = 0; i < 32; i++) {
        pat[k++] = '*';
        pat[k++] = 'a';
    }
    pat[k++] = 'b';
    pat[k] = '\0';
    memset(s, 'a', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    long long t0 = yard_test_now_ms();
    CU_ASSERT_FALSE(yard_pattern_match(pat, s));
    s[sizeof s - 2] = 'b';
    CU_ASSERT_TRUE(yard_pattern_match(pat, s));
    CU_ASSERT(yard_test_now_ms() - t0 < 2000);
}

/* ---- overlap ---------------------------------------------------------- */

static const struct {
    const char *a, *b;
    bool overlap;
} overlap_cases[] = {
    {"order.*", "order.created", true},
    {"order.*", "invoice.*", false},
    {"order.*", "*.status_changed", true},
    {"*.created", "*.deleted", false},
    {"*", "", true},
    {"", "", true},
    {"", "a", false},
    {"a*", "*b", true},
    {"a*", "b*", false},
    {"*a", "*b", false},
    {"a*b", "*c*", true},
    {"a*b", "a*c", false},
    {"order.created", "order.created", true},
    {"order.created", "order.updated", false},
    {"a*b*c", "*bbb*", true},
    {"ab*", "*ba", true},
    {"x*y", "xy", true},
    {"x*y", "x", false},
};

static void test_overlap_table(void)
{
    for (size_t i = 0; i < ARRAY_LEN(overlap_cases); i++) {
        const char *a = overlap_cases[i].a, *b = overlap_cases[i].b;
        bool want = overlap_cases[i].overlap;
        bool ab = yard_pattern_overlap(a, b), ba = yard_pattern_overlap(b, a);
        if (ab != want || ba != want)
            fprintf(stderr, "overlap(\"%s\", \"%s\") = %d/%d, want %d\n", a,
                    b, ab, ba, want);
        CU_ASSERT_EQUAL(ab, want);
        CU_ASSERT_EQUAL(ba, want);
    }
}

/* Reference matcher: plain recursion, fine for tiny inputs. */
static bool ref_match(const char *p, const char *s)
{
    if (*p == '\0')
        return *s == '\0';
    if (*p == '*')
        return ref_match(p + 1, s) || (*s && ref_match(p, s + 1));
    return *s == *p && ref_match(p + 1, s + 1);
}

#define BRUTE_ALPHA "ab*"
#define BRUTE_PAT_MAX 3
#define BRUTE_STR_MAX 6 /* >= the sum of two patterns' lengths */

/* All strings over "ab" (patterns: over "ab*") up to max characters. */
static size_t enumerate(const char *alpha, size_t max, char out[][8])
{
    size_t n = 0, k = strlen(alpha);
    out[n++][0] = '\0';
    for (size_t start = 0, len = 1; len <= max; len++) {
        size_t end = n;
        for (size_t i = start; i < end; i++) {
            for (size_t c = 0; c < k; c++) {
                snprintf(out[n], 8, "%s%c", out[i], alpha[c]);
                n++;
            }
        }
        start = end;
    }
    return n;
}

static void test_brute_force(void)
{
    /* Every pattern over {a,b,*} up to length 3 against every string over
     * {a,b} up to length 6: matching agrees with the reference, and two
     * patterns overlap exactly when some string matches both (a shortest
     * witness is never longer than the two patterns together). */
    static char pats[1 + 3 + 9 + 27][8];
    static char strs[(1 << (BRUTE_STR_MAX + 1)) - 1][8];
    size_t np = enumerate(BRUTE_ALPHA, BRUTE_PAT_MAX, pats);
    size_t ns = enumerate("ab", BRUTE_STR_MAX, strs);
    CU_ASSERT_EQUAL(np, ARRAY_LEN(pats));
    CU_ASSERT_EQUAL(ns, ARRAY_LEN(strs));
    static bool m[ARRAY_LEN(pats)][ARRAY_LEN(strs)];
    size_t match_errors = 0, overlap_errors = 0;
    for (size_t i = 0; i < np; i++) {
        for (size_t j = 0; j < ns; j++) {
            m[i][j] = ref_match(pats[i], strs[j]);
            if (yard_pattern_match(pats[i], strs[j]) != m[i][j])
                match_errors++;
        }
    }
    for (size_t a = 0; a < np; a++) {
        for (size_t b = 0; b < np; b++) {
            bool want = false;
            for (size_t j = 0; j < ns && !want; j++)
                want = m[a][j] && m[b][j];
            if (yard_pattern_overlap(pats[a], pats[b]) != want) {
                if (overlap_errors++ < 5)
                    fprintf(stderr, "overlap(\"%s\", \"%s\") != %d\n",
                            pats[a], pats[b], want);
            }
        }
    }
    CU_ASSERT_EQUAL(match_errors, 0);
    CU_ASSERT_EQUAL(overlap_errors, 0);
}

static void test_overlap_long(void)
{
    /* Longer than the on-stack rows: the heap path. */
    char a[600], b[600];
    memset(a, 'x', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memset(b, 'x', sizeof b - 1);
    b[sizeof b - 1] = '\0';
    b[300] = '*';
    CU_ASSERT_TRUE(yard_pattern_overlap(a, b));
    CU_ASSERT_TRUE(yard_pattern_overlap(b, a));
    b[598] = 'y';
    CU_ASSERT_FALSE(yard_pattern_overlap(a, b));
    CU_ASSERT_FALSE(yard_pattern_overlap(b, a));
}

/* ---- topics ----------------------------------------------------------- */

static yard_kv rules[] = {
    {.key = "order.created", .value = "orders-new"},
    {.key = "order.*", .value = "orders"},
    {.key = "invoice.paid", .value = "billing"},
    {.key = "*.status_changed", .value = "status"},
};

static yard_config *rules_cfg(void)
{
    static yard_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.topics = rules;
    cfg.n_topics = ARRAY_LEN(rules);
    return &cfg;
}

static void test_topic_for_type(void)
{
    const yard_config *cfg = rules_cfg();
    /* first matching rule wins */
    CU_ASSERT_STRING_EQUAL(yard_topic_for_type(cfg, "order.created"),
                           "orders-new");
    CU_ASSERT_STRING_EQUAL(yard_topic_for_type(cfg, "order.status_changed"),
                           "orders");
    CU_ASSERT_STRING_EQUAL(yard_topic_for_type(cfg, "job.status_changed"),
                           "status");
    CU_ASSERT_STRING_EQUAL(yard_topic_for_type(cfg, "invoice.paid"),
                           "billing");
    /* no rule: the type is the topic (the same pointer) */
    const char *t = "invoice.sent";
    CU_ASSERT_PTR_EQUAL(yard_topic_for_type(cfg, t), t);
    CU_ASSERT_PTR_EQUAL(yard_topic_for_type(NULL, t), t);
}

/* Compare a subscription list with the expected one, in order. */
static void expect_topics(const yard_config *cfg, const char *const *pats,
                          size_t n, const char *const *want, size_t n_want)
{
    char **got = NULL;
    size_t n_got = 99;
    CU_ASSERT_EQUAL_FATAL(yard_topics_for_patterns(cfg, pats, n, &got, &n_got),
                          0);
    bool same = n_got == n_want;
    for (size_t i = 0; same && i < n_got; i++)
        same = strcmp(got[i], want[i]) == 0;
    if (!same) {
        fprintf(stderr, "subscription:");
        for (size_t i = 0; i < n_got; i++)
            fprintf(stderr, " [%s]", got[i]);
        fprintf(stderr, "\n");
    }
    CU_ASSERT_TRUE(same);
    yard_topics_free(got, n_got);
}

static void test_subscription_literal(void)
{
    const yard_config *cfg = rules_cfg();
    const char *pats[] = {"invoice.sent"};
    const char *want[] = {"invoice.sent"};
    expect_topics(cfg, pats, 1, want, 1);
    /* a literal type mapped by [topics] lives on the mapped topic */
    const char *pats2[] = {"invoice.paid"};
    const char *want2[] = {"billing"};
    expect_topics(cfg, pats2, 1, want2, 1);
}

static void test_subscription_wildcard(void)
{
    const yard_config *cfg = rules_cfg();
    /* the regex plus every rule that may hold a matching type */
    const char *pats[] = {"order.*"};
    const char *want[] = {"^order\\..*$", "orders-new", "orders", "status"};
    expect_topics(cfg, pats, 1, want, ARRAY_LEN(want));

    const char *pats2[] = {"*.status_changed"};
    const char *want2[] = {"^.*\\.status_changed$", "orders", "status"};
    expect_topics(cfg, pats2, 1, want2, ARRAY_LEN(want2));

    /* no rules: just the regex; other regex characters are escaped */
    const char *pats3[] = {"a+b.*"};
    const char *want3[] = {"^a\\+b\\..*$"};
    expect_topics(NULL, pats3, 1, want3, 1);
}

static void test_subscription_dedupe(void)
{
    const yard_config *cfg = rules_cfg();
    const char *pats[] = {"order.updated", "order.deleted", "order.created",
                          "order.*", "invoice.sent", "order.*",
                          "invoice.sent"};
    const char *want[] = {"orders", "orders-new", "^order\\..*$", "status",
                          "invoice.sent"};
    expect_topics(cfg, pats, ARRAY_LEN(pats), want, ARRAY_LEN(want));
}

static void test_subscription_empty(void)
{
    char **got = (char **)1;
    size_t n = 99;
    CU_ASSERT_EQUAL(yard_topics_for_patterns(rules_cfg(), NULL, 0, &got, &n),
                    0);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(got);
    yard_topics_free(got, n);
    yard_topics_free(NULL, 0);
}

static CU_TestInfo tests[] = {
    {"match table", test_match_table},
    {"match has no exponential blowup", test_match_no_blowup},
    {"overlap table", test_overlap_table},
    {"match and overlap agree with brute force", test_brute_force},
    {"overlap of long patterns", test_overlap_long},
    {"topic for type", test_topic_for_type},
    {"subscription: literal types", test_subscription_literal},
    {"subscription: wildcard regex and mapped topics",
     test_subscription_wildcard},
    {"subscription: duplicates removed, order kept",
     test_subscription_dedupe},
    {"subscription: no patterns", test_subscription_empty},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return yard_test_main("pattern", NULL, NULL, tests);
}
