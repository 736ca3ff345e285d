/*
 * test_notify.c — the sd_notify messages the host sends, read from a
 * datagram socket standing in for systemd's NOTIFY_SOCKET: READY, RELOADING
 * with MONOTONIC_USEC, STOPPING, and the watchdog thread's pings at half of
 * WATCHDOG_USEC, which stop with it.  Without NOTIFY_SOCKET nothing is sent
 * and nothing fails.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "testutil.h"

#define WATCHDOG_USEC 200000 /* pings expected every 100 ms */
#define WAIT_MS 2000

static int sock = -1;
static char *dir;

static int setup(void)
{
    dir = yard_test_tmpdir("notify");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/notify.sock", dir);
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    return setenv("NOTIFY_SOCKET", a.sun_path, 1);
}

static int teardown(void)
{
    if (sock >= 0)
        close(sock);
    yard_test_rm_rf(dir);
    free(dir);
    return 0;
}

/* Next datagram, NUL-terminated, or "" after timeout_ms. */
static const char *next_msg(int timeout_ms)
{
    static char buf[1024];
    struct pollfd p = {.fd = sock, .events = POLLIN};
    buf[0] = '\0';
    if (poll(&p, 1, timeout_ms) == 1) {
        ssize_t n = recv(sock, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
    }
    return buf;
}

static void drain(void)
{
    while (next_msg(0)[0])
        ;
}

static void test_states(void)
{
#ifdef YARD_HAVE_SYSTEMD
    drain();
    yard_notify_ready(NULL);
    CU_ASSERT_STRING_EQUAL(next_msg(WAIT_MS), "READY=1\nSTATUS=running");
    yard_notify_reloading();
    const char *m = next_msg(WAIT_MS);
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "RELOADING=1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "\nMONOTONIC_USEC="));
    yard_notify_ready("2 plugins");
    CU_ASSERT_STRING_EQUAL(next_msg(WAIT_MS), "READY=1\nSTATUS=2 plugins");
    yard_notify_stopping();
    CU_ASSERT_STRING_EQUAL(next_msg(WAIT_MS), "STOPPING=1\nSTATUS=stopping");
#endif
}

static void test_watchdog(void)
{
#ifdef YARD_HAVE_SYSTEMD
    char v[32];
    snprintf(v, sizeof v, "%d", WATCHDOG_USEC);
    setenv("WATCHDOG_USEC", v, 1);
    snprintf(v, sizeof v, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", v, 1);
    drain();
    CU_ASSERT_TRUE_FATAL(yard_notify_watchdog_start());
    long long t0 = yard_test_now_ms();
    int pings = 0;
    while (pings < 3 && yard_test_now_ms() - t0 < WAIT_MS)
        pings += strcmp(next_msg(WAIT_MS), "WATCHDOG=1") == 0;
    CU_ASSERT_EQUAL(pings, 3);
    /* Three pings at 100 ms take about 200 ms, far less than the 2 s cap. */
    CU_ASSERT_TRUE(yard_test_now_ms() - t0 < 1000);
    yard_notify_watchdog_stop();
    drain();
    CU_ASSERT_STRING_EQUAL(next_msg(300), "");
    yard_notify_watchdog_stop(); /* twice is fine */

    /* WATCHDOG_PID of another process: the pings are not ours to send. */
    setenv("WATCHDOG_PID", "1", 1);
    CU_ASSERT_FALSE(yard_notify_watchdog_start());
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
#endif
}

static void test_no_manager(void)
{
    char *saved = strdup(getenv("NOTIFY_SOCKET"));
    unsetenv("NOTIFY_SOCKET");
    yard_notify_ready(NULL);
    yard_notify_stopping();
    CU_ASSERT_FALSE(yard_notify_watchdog_start());
    yard_notify_watchdog_stop();
    CU_ASSERT_STRING_EQUAL(next_msg(100), "");
    setenv("NOTIFY_SOCKET", saved, 1);
    free(saved);
}

static CU_TestInfo tests[] = {
    {"READY, RELOADING, STOPPING datagrams", test_states},
    {"watchdog pings at half WATCHDOG_USEC until stopped", test_watchdog},
    {"no NOTIFY_SOCKET: nothing sent, nothing fails", test_no_manager},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return yard_test_main("notify", setup, teardown, tests);
}
