/* testutil.c — helpers shared by the test binaries (see testutil.h). */
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int yard_test_main(const char *suite, CU_InitializeFunc init,
                   CU_CleanupFunc clean, CU_TestInfo *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    /* YARD_TEST_ONLY=TEXT: run only the tests whose name contains TEXT
     * (while working on one; ctest runs them all). */
    const char *only = getenv("YARD_TEST_ONLY");
    if (only && *only) {
        size_t kept = 0;
        for (size_t i = 0; tests[i].pName; i++)
            if (strstr(tests[i].pName, only))
                tests[kept++] = tests[i];
        tests[kept] = (CU_TestInfo)CU_TEST_INFO_NULL;
    }
    CU_SuiteInfo suites[] = {{(char *)suite, init, clean, NULL, NULL, tests},
                             CU_SUITE_INFO_NULL};
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "cannot register suite %s: %s\n", suite,
                CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() +
                      CU_get_number_of_suites_failed() +
                      CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0) {
        fprintf(stderr, "%s: no test ran\n", suite);
        return 1;
    }
    return failed ? 1 : 0;
}

char *yard_test_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/yard-%s-XXXXXX", base ? base : "/tmp", tag);
    if (!mkdtemp(path))
        return NULL;
    return strdup(path);
}

int yard_test_write(const char *dir, const char *name, const char *content)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = strlen(content);
    int rc = fwrite(content, 1, n, f) == n ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

void yard_test_rm_rf(const char *path)
{
    if (path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

long long yard_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
