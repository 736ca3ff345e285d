/*
 * `switchyard dev --demo` as a newcomer runs it, on the checkout's own
 * conf.d and every domain plugin: it must play the whole saga to a final
 * state for every order, print the summary, exit 0, and leave no database
 * server or directory behind.
 *
 * The child runs in a directory of its own (the notifications plugin
 * spools under ./build/notifications), with its HTTP endpoint on a free
 * port and its state directory in that directory, so that it does not meet
 * another host on this machine.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "testutil.h"

/* The demo's own bound is below this one, so that a stuck demo says what is
 * stuck before the test gives up on it. */
#define DEMO_TIMEOUT_S "240"
#define WAIT_MS 300000

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = buf ? fread(buf, 1, (size_t)(n > 0 ? n : 0), f) : 0;
    if (buf)
        buf[got] = '\0';
    fclose(f);
    return buf;
}

/* How many times `needle` occurs in `text`. */
static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

#define EXPECT_COUNT(text, needle, want)                                       \
    do {                                                                       \
        int got_ = occurrences((text), (needle));                              \
        if (got_ != (want))                                                    \
            printf("\n  \"%s\": %d, want %d\n", (needle), got_, (want));      \
        CU_ASSERT_EQUAL(got_, (want));                                         \
    } while (0)

static void test_demo_to_the_end(void)
{
    char *dir = yard_test_tmpdir("demo");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char build[1100], state[1100], out_path[1100], log_path[1100], listen[64];
    snprintf(build, sizeof build, "%s/build", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(out_path, sizeof out_path, "%s/demo.out", dir);
    snprintf(log_path, sizeof log_path, "%s/demo.log", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(build, 0755), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(state, 0755), 0);
    int port = th_free_port();
    CU_ASSERT_TRUE_FATAL(port > 0);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);

    long long t0 = yard_test_now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) != 0 || !freopen(out_path, "w", stdout) ||
            !freopen(log_path, "w", stderr))
            _exit(127);
        setenv("SWITCHYARD_HTTP_LISTEN", listen, 1);
        setenv("SWITCHYARD_HOST_STATE_DIR", state, 1);
        execl(YARD_SWITCHYARD_BIN, YARD_SWITCHYARD_BIN, "dev", "--demo",
              "--timeout", DEMO_TIMEOUT_S, "--conf-dir", YARD_SOURCE_DIR "/conf.d",
              (char *)NULL);
        _exit(127);
    }
    CU_ASSERT_TRUE_FATAL(pid > 0);
    int status = th_host_wait(pid, WAIT_MS);
    printf("\n  dev --demo ran %lld ms\n", yard_test_now_ms() - t0);
    CU_ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("  exit status %d; output %s, log %s\n", status, out_path, log_path);

    char *out = read_file(out_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    /* Where the database was, to check that it is gone. */
    char pgdir[256] = "";
    const char *dsn = strstr(out, "postgres.dsn=host=");
    if (dsn)
        sscanf(dsn, "postgres.dsn=host=%255s", pgdir);
    CU_ASSERT_STRING_NOT_EQUAL(pgdir, "");

    /* The progress view, then the summary. */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "providers are not seeded"));
    CU_ASSERT_TRUE(occurrences(out, "sales orders final, dead letters") >= 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "  service orders "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "    mobile       "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "7/7 sales orders final, dead letters 0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nsummary\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "demo: 7 of 7 sales orders final in "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " s, 0 dead letter(s)\n"));

    /* Each order reached the final state its scenario leads to. */
    EXPECT_COUNT(out, "  final: CLOSED\n", 5);
    EXPECT_COUNT(out, "  final: installation CANCELLED, technical visit CLOSED;"
                      " refund asked of Pyxis\n", 1);
    EXPECT_COUNT(out, "  final: CANCELLED by the customer (Tempo request CANCELLED,"
                      " integration.sales.order_cancelled sent)\n", 1);
    /* The ERP hears of every closed service order: three installations,
     * four technical visits, a repair and a maintenance. */
    EXPECT_COUNT(out, "      ERP payment ready: ", 9);
    EXPECT_COUNT(out, "      ERP payment ready: 800.00 EUR to ", 3);
    EXPECT_COUNT(out, "      ERP payment ready: 60.00 EUR to ", 4);
    EXPECT_COUNT(out, "      ERP payment ready: 120.00 EUR to ", 1);
    EXPECT_COUNT(out, "      ERP payment ready: 90.00 EUR to prov-es-1\n", 1);
    /* The sales systems hear of each TV outcome, with what they must do. */
    EXPECT_COUNT(out, "; TV outcome YES, action NONE\n", 2);
    EXPECT_COUNT(out, "; TV outcome YES_BUT, action REPRICE\n", 1);
    EXPECT_COUNT(out, "; TV outcome NO, action CANCEL_AND_REFUND\n", 1);
    /* A whole installation path, the incomplete visit, the update, the
     * renegotiated date, the contracts. */
    EXPECT_COUNT(out, "  BLOCKED > READY_FOR_ASSIGNMENT > ASSIGNED > IN_PROGRESS >"
                      " COMPLETED > CLOSED\n", 3);
    EXPECT_COUNT(out, "  READY_FOR_ASSIGNMENT > ASSIGNED > IN_PROGRESS > ASSIGNED >"
                      " IN_PROGRESS > COMPLETED > CLOSED\n", 1);
    EXPECT_COUNT(out, "      operator task: INCOMPLETE_WORK\n", 1);
    /* The customer's cancellation cancels the repair nobody had started. */
    EXPECT_COUNT(out, "  READY_FOR_ASSIGNMENT > CANCELLED\n", 1);
    EXPECT_COUNT(out, "  service order left open: ", 0);
    EXPECT_COUNT(out, "  Pyxis updated the order: version 2\n", 1);
    EXPECT_COUNT(out, " other date(s) proposed, ACCEPTED for ", 1);
    EXPECT_COUNT(out, ": SIGNED\n", 6);
    free(out);

    /* Nothing left: no server, no data directory. */
    struct stat st;
    if (pgdir[0]) {
        CU_ASSERT_NOT_EQUAL(stat(pgdir, &st), 0);
        CU_ASSERT_FALSE(th_process_running(pgdir));
    }
    if (!getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(dir);
    free(dir);
}

/* Options of the demo are refused elsewhere. */
static void test_demo_options(void)
{
    const char *const bad[][4] = {
        {"run", "--demo", NULL, NULL},
        {"dev", "--timeout", "10", NULL},
        {"dev", "--demo", "--timeout", "0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            if (!freopen("/dev/null", "w", stderr))
                _exit(127);
            execl(YARD_SWITCHYARD_BIN, YARD_SWITCHYARD_BIN, bad[i][0], bad[i][1],
                  bad[i][2], bad[i][3], (char *)NULL);
            _exit(127);
        }
        int status = th_host_wait(pid, 10000);
        CU_ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 2);
    }
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"switchyard dev --demo: every order final, summary, exit 0, clean",
         test_demo_to_the_end},
        {"--demo and --timeout only with dev", test_demo_options},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("demo", NULL, NULL, tests);
}
