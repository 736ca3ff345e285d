/*
 * testutil.h — small helpers shared by the CUnit test binaries.
 */
#ifndef YARD_TESTUTIL_H
#define YARD_TESTUTIL_H

#include <CUnit/Basic.h>
#include <stddef.h>

/* Run one suite of tests (NULL-terminated CU_TestInfo array) with optional
 * setup/teardown; prints CUnit's summary; returns the process exit code
 * (0 when every assertion passed). */
int yard_test_main(const char *suite, CU_InitializeFunc init,
                   CU_CleanupFunc clean, CU_TestInfo *tests);

/* A new empty directory under $TMPDIR (or /tmp); malloc'd path. */
char *yard_test_tmpdir(const char *tag);
/* Write `content` to dir/name (creating it); returns 0 or -1. */
int yard_test_write(const char *dir, const char *name, const char *content);
/* Remove a tree; ignores errors. */
void yard_test_rm_rf(const char *path);
/* Monotonic milliseconds. */
long long yard_test_now_ms(void);

#endif
