/*
 * `switchyard dev` as a newcomer runs it: it prints where its embedded
 * broker and database listen, other processes can use both, an event
 * produced from outside is handled by a real plugin, and Ctrl-C (SIGINT)
 * stops everything and leaves nothing behind.
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

static bool file_has(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return found;
}

static void test_dev_runs_and_stops_clean(void)
{
    char *dir = yard_test_tmpdir("dev");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char host[1024];
    snprintf(host, sizeof host,
             "[host]\nworkers = 2\nplugin_dir = %s\n\n[kafka]\n"
             "session.timeout.ms = 6000\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 500\n",
             YARD_TEST_PLUGIN_DIR);
    CU_ASSERT_EQUAL_FATAL(yard_test_write(dir, "host.ini", host), 0);
    CU_ASSERT_EQUAL_FATAL(yard_test_write(dir, "50-counter.ini",
                                          "[plugin]\npath = counter.so\n"), 0);
    /* dev provisions [topic NAME]s on its cluster before the host starts,
     * so the host's check finds them as configured. */
    CU_ASSERT_EQUAL_FATAL(yard_test_write(dir, "topics.ini",
                                          "[topic dev.input]\npartitions = 3\n"),
                          0);

    int out[2];
    CU_ASSERT_EQUAL_FATAL(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        char log[1100];
        snprintf(log, sizeof log, "%s/dev.log", dir);
        freopen(log, "w", stderr);
        execl(YARD_SWITCHYARD_BIN, YARD_SWITCHYARD_BIN, "dev", "--conf-dir", dir,
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[512], brokers[512] = "", dsn[512] = "";
    while ((!brokers[0] || !dsn[0]) && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "kafka.brokers=", 14) == 0)
            snprintf(brokers, sizeof brokers, "%s", line + 14);
        else if (strncmp(line, "postgres.dsn=", 13) == 0)
            snprintf(dsn, sizeof dsn, "%s", line + 13);
    }
    CU_ASSERT_STRING_NOT_EQUAL_FATAL(brokers, "");
    CU_ASSERT_STRING_NOT_EQUAL_FATAL(dsn, "");
    char pgdir[256] = "";
    sscanf(dsn, "host=%255s", pgdir);
    struct stat st;
    CU_ASSERT_EQUAL(stat(pgdir, &st), 0);

    /* Another process reaches both: produce from here, read the effect. */
    rd_kafka_t *p = th_producer(brokers);
    CU_ASSERT_TRUE(th_produce_ce(p, "dev.input", "k1", "dev-1", "dev.input",
                                 "{\"seq\":0}"));
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);
    PGconn *db = th_connect(dsn, "postgres");
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    /* Host tables exist once the host is up; the effect follows. */
    long long effects = -1;
    for (int i = 0; i < 600 && effects != 1; i++) {
        PGresult *r = PQexec(db, "SELECT count(*) FROM counter_effect"
                                 " WHERE event_id = 'dev-1'");
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            effects = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (effects != 1)
            usleep(100000);
    }
    CU_ASSERT_EQUAL(effects, 1);
    PQfinish(db);
    CU_ASSERT_EQUAL(th_topic_partitions(brokers, "dev.input"), 3);
    char log[1100];
    snprintf(log, sizeof log, "%s/dev.log", dir);
    CU_ASSERT_TRUE(file_has(log, "msg=\"topics checked\" configured=1 "
                                 "matching=1 created=0 differing=0 missing=0"));

    long long t0 = yard_test_now_ms();
    kill(pid, SIGINT);
    int status = th_host_wait(pid, 30000);
    printf("\n  dev stopped in %lld ms\n", yard_test_now_ms() - t0);
    CU_ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fclose(f);
    /* Nothing left: no server, no data directory. */
    CU_ASSERT_NOT_EQUAL(stat(pgdir, &st), 0);
    CU_ASSERT_FALSE(th_process_running(pgdir));
    if (!getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(dir);
    free(dir);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"switchyard dev: endpoints, a handled event, clean Ctrl-C",
         test_dev_runs_and_stops_clean},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("dev", NULL, NULL, tests);
}
