/*
 * README.md's configuration reference is generated from the key tables;
 * this fails when it is stale (fix: scripts/update-docs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_doc.h"
#include "testutil.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

static void test_readme_reference_is_current(void)
{
    char *readme = slurp(YARD_SOURCE_DIR "/README.md");
    CU_ASSERT_PTR_NOT_NULL_FATAL(readme);
    const char *begin = "<!-- config-reference:begin -->\n";
    const char *end = "\n<!-- config-reference:end -->";
    char *b = strstr(readme, begin), *e = strstr(readme, end);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    b += strlen(begin);
    *e = '\0';

    char *gen = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&gen, &len);
    yard_config_reference(m);
    fclose(m);
    /* The generator ends with a blank line the README block trims. */
    while (len && gen[len - 1] == '\n')
        gen[--len] = '\0';
    while (e > b && e[-1] == '\n')
        *--e = '\0';
    if (strcmp(b, gen) != 0)
        fprintf(stderr, "README.md's configuration reference is stale: run "
                        "scripts/update-docs\n");
    CU_ASSERT_STRING_EQUAL(b, gen);
    /* And it documents the keys people look for. */
    CU_ASSERT_PTR_NOT_NULL(strstr(gen, "`workers`"));
    CU_ASSERT_PTR_NOT_NULL(strstr(gen, "`dsn`"));
    CU_ASSERT_PTR_NOT_NULL(strstr(gen, "`dlq_topic`"));
    free(gen);
    free(readme);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"README configuration reference matches the key tables",
         test_readme_reference_is_current},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("config_doc", NULL, NULL, tests);
}
