/*
 * Scale-out (issue #3): several hosts with the same configuration share
 * one consumer group, and one of them fails mid-stream.
 *
 * One PostgreSQL, one test broker per scenario, an input topic of 6
 * partitions and three hosts, each with its own conf dir holding the same
 * files (as three machines would).  12,000 events over 60 keys are produced
 * at a steady pace; when about a third of the effects are in:
 *
 *  - the host whose relay owns the outbox is SIGKILLed, and started again
 *    once the group has moved its partitions, while the stream still runs;
 *  - or a host is SIGSTOPped past its session timeout and resumed once its
 *    partitions have moved: a zombie that comes back holding events the
 *    new owners have been handling meanwhile.
 *
 * Asserted: every effect once and in per-key order, every published event
 * on the output topic with the first copy of each in per-key order, outbox
 * empty, no dead letters, the partitions (and the relay) taken over within
 * bounds, and every host exiting 0 on SIGTERM.  The figures (join,
 * failover, rejoin, drain) are printed.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "pgtmp.h"
#include "testutil.h"

#define EVENTS 12000
#define KEYS 60
#define PARTITIONS 6
#define HOSTS 3
#define SESSION_TIMEOUT_MS 6000
/* The producer sends one event per key every BURST_MS: 12,000 events in
 * about 30 s, so the stream still runs when the killed host comes back. */
#define BURST_MS 150
/* Bounds on the takeovers after the SIGKILL.  Partitions: the session
 * timeout (the mock checks it every second), then a join round that the
 * mock holds for about the session timeout, and a second round when a
 * member rejoins late: typically 11-12 s, once 16.9 s was seen.  Relay: the
 * dead session ends at once on this machine, and a standby tries the lock
 * every second. */
#define PARTITION_FAILOVER_MAX_MS (4 * SESSION_TIMEOUT_MS)
#define RELAY_FAILOVER_MAX_MS 5000

static yard_pgtmp *pg;
static PGconn *admin;

static int suite_init(void) { return th_pg_start(&pg, &admin); }

static int suite_clean(void)
{
    th_pg_stop(pg, admin);
    return 0;
}

typedef struct world {
    const char *run;   /* database, topic prefix, event ids */
    th_broker *broker;
    PGconn *db;
    char *base;        /* holds the hosts' conf dirs */
    char dir[HOSTS][1100];
    pid_t pid[HOSTS];
} world;

static bool world_setup(world *w, const char *run)
{
    memset(w, 0, sizeof *w);
    w->run = run;
    char sql[96];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", run);
    if (!th_sql(admin, sql))
        return false;
    w->db = th_connect(yard_pgtmp_dsn(pg), run);
    char t1[64], t2[64];
    snprintf(t1, sizeof t1, "%s.input:%d", run, PARTITIONS);
    snprintf(t2, sizeof t2, "%s.done:%d", run, PARTITIONS);
    const char *topics[] = {t1, t2, "dlq.counter:1"};
    w->broker = th_broker_start(1, topics, 3);
    w->base = yard_test_tmpdir("scaleout");
    if (!w->db || !w->broker || !w->base)
        return false;
    /* The same files for every host.  HTTP off: the default port would be
     * shared.  state_dir is relative to each conf dir, so the control
     * sockets differ. */
    char host[2048];
    snprintf(host, sizeof host,
             "[host]\nworkers = 4\nbatch_size = 64\nplugin_dir = %s\n"
             "state_dir = state\nshutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = %d\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n\n"
             "[postgres]\ndsn = %s dbname=%s\n\n"
             "[http]\nlisten = off\n",
             YARD_TEST_PLUGIN_DIR, th_broker_bootstrap(w->broker),
             SESSION_TIMEOUT_MS, yard_pgtmp_dsn(pg), run);
    for (int i = 0; i < HOSTS; i++) {
        char state[1200];
        snprintf(w->dir[i], sizeof w->dir[i], "%s/host%d", w->base, i);
        snprintf(state, sizeof state, "%s/state", w->dir[i]);
        if (mkdir(w->dir[i], 0700) || mkdir(state, 0700) ||
            yard_test_write(w->dir[i], "host.ini", host) ||
            yard_test_write(w->dir[i], "50-counter.ini",
                            "[plugin]\npath = counter.so\n"))
            return false;
    }
    return true;
}

static void world_teardown(world *w)
{
    for (int i = 0; i < HOSTS; i++)
        if (w->pid[i] > 0)
            th_host_wait(w->pid[i], 0); /* a failed test's leftovers */
    th_broker_stop(w->broker);
    PQfinish(w->db);
    if (w->base && !getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(w->base);
    else if (w->base)
        printf("\n  kept %s\n", w->base);
    free(w->base);
}

/* ---- what the hosts logged ---------------------------------------------- */

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall-clock ms of the first line of DIR/host.log with `msg` stamped at or
 * after `since` (wall ms); -1 if none.  Lines are logfmt: time=... msg=... */
static long long log_first(const char *dir, const char *msg, long long since)
{
    char path[1200], line[4096], quoted[128];
    snprintf(path, sizeof path, "%s/host.log", dir);
    snprintf(quoted, sizeof quoted, "msg=\"%s\"", msg);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        struct tm tm = {0};
        int ms = 0;
        if (!strstr(line, quoted) ||
            sscanf(line, "time=%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon,
                   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
            continue;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        long long t = (long long)timegm(&tm) * 1000 + ms;
        if (t >= since)
            found = t;
    }
    fclose(f);
    return found;
}

/* Poll the logs of the hosts in `mask` until one has `msg` at or after
 * `since`; returns the host's index (time in *at) or -1 after timeout. */
static int wait_log(const world *w, unsigned mask, const char *msg,
                    long long since, long long timeout_ms, long long *at)
{
    long long end = yard_test_now_ms() + timeout_ms;
    do {
        for (int i = 0; i < HOSTS; i++) {
            if (!(mask & 1u << i))
                continue;
            long long t = log_first(w->dir[i], msg, since);
            if (t >= 0) {
                *at = t;
                return i;
            }
        }
        usleep(50000);
    } while (yard_test_now_ms() < end);
    return -1;
}

/* ---- the producer thread ------------------------------------------------ */

typedef struct producer {
    const char *run;
    const char *bootstrap;
    pthread_t thread;
    atomic_int sent;
    bool ok;
} producer;

static void *produce_main(void *arg)
{
    producer *p = arg;
    rd_kafka_t *rk = th_producer(p->bootstrap);
    p->ok = rk != NULL;
    for (int i = 0; rk && i < EVENTS; i++) {
        if (th_counter_produce(rk, p->run, i, KEYS))
            atomic_fetch_add(&p->sent, 1);
        if (i % KEYS == KEYS - 1) {
            rd_kafka_poll(rk, 0);
            usleep(BURST_MS * 1000);
        }
    }
    if (rk) {
        p->ok = th_flush(rk);
        rd_kafka_destroy(rk);
    }
    return NULL;
}

/* ---- the scenario ------------------------------------------------------- */

/* Assert, and on failure leave the scenario for its teardown (a FATAL
 * assertion would leave the hosts running). */
#define REQUIRE(cond)                                                          \
    do {                                                                       \
        bool ok_ = (cond);                                                     \
        CU_ASSERT_TRUE(ok_);                                                   \
        if (!ok_)                                                              \
            goto out;                                                          \
    } while (0)

static long long effects(const world *w)
{
    return th_sql_num(w->db, "SELECT count(*) FROM counter_effect");
}

/* zombie: SIGSTOP a host that does not relay instead of SIGKILLing the
 * relay's, and SIGCONT it once its partitions have moved: it comes back
 * with events it had taken and not finished. */
static void scenario(bool zombie)
{
    world w;
    producer p = {0};
    bool producing = false;
    REQUIRE(world_setup(&w, zombie ? "zombie" : "scale"));
    long long t0 = yard_test_now_ms(), w0 = wall_ms();
    for (int i = 0; i < HOSTS; i++) {
        w.pid[i] = th_host_spawn(w.dir[i]);
        REQUIRE(w.pid[i] > 0);
    }
    /* The group settles: every host has partitions and one relay owns the
     * outbox.  Later joins rebalance the earlier members, so wait for the
     * last host's first assignment. */
    long long joined = -1, at;
    for (int i = 0; i < HOSTS; i++) {
        REQUIRE(wait_log(&w, 1u << i, "partitions assigned", w0, 60000, &at) == i);
        joined = at > joined ? at : joined;
    }
    int owner = wait_log(&w, (1u << HOSTS) - 1, "relay owns the outbox", w0,
                         10000, &at);
    REQUIRE(owner >= 0);
    printf("\n  group of %d joined %lld ms after the start; host %d relays",
           HOSTS, joined - w0, owner);

    p.bootstrap = th_broker_bootstrap(w.broker);
    p.run = w.run;
    long long tp = yard_test_now_ms();
    REQUIRE(pthread_create(&p.thread, NULL, produce_main, &p) == 0);
    producing = true;

    /* Kill the relay's host when about a third of the effects are in. */
    char third[96];
    snprintf(third, sizeof third, "SELECT least(count(*), %d) FROM counter_effect",
             EVENTS / 3);
    CU_ASSERT_EQUAL(th_wait_num(w.db, third, EVENTS / 3, 60000), EVENTS / 3);
    /* The victim: the relay's host, or for a zombie one that does not
     * relay (a stopped relay would stop publishing until it resumes). */
    int victim = zombie ? (owner + 1) % HOSTS : owner;
    const char *what = zombie ? "SIGSTOPped" : "SIGKILLed";
    long long killed = wall_ms();
    int st = 0;
    kill(w.pid[victim], zombie ? SIGSTOP : SIGKILL);
    if (!zombie) {
        st = th_host_wait(w.pid[victim], 10000);
        CU_ASSERT_TRUE(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        w.pid[victim] = -1;
    }
    long long at_kill = effects(&w);
    printf("\n  host %d %s with %lld of %d effects committed, %d produced",
           victim, what, at_kill, EVENTS, atomic_load(&p.sent));
    CU_ASSERT_TRUE(at_kill > 0 && at_kill < EVENTS);

    /* The others take its partitions (and its relay) over. */
    unsigned others = ((1u << HOSTS) - 1) & ~(1u << victim);
    long long relay_at = -1, parts_at = -1;
    if (!zombie) {
        int to = wait_log(&w, others, "relay owns the outbox", killed,
                          RELAY_FAILOVER_MAX_MS + 2000, &relay_at);
        CU_ASSERT_TRUE(to >= 0 && relay_at - killed <= RELAY_FAILOVER_MAX_MS);
        printf("\n  relay taken over by host %d after %lld ms", to,
               to >= 0 ? relay_at - killed : -1);
    }
    int parts_to = wait_log(&w, others, "partitions assigned", killed,
                            PARTITION_FAILOVER_MAX_MS + 5000, &parts_at);
    CU_ASSERT_TRUE(parts_to >= 0 && parts_at - killed <= PARTITION_FAILOVER_MAX_MS);
    printf("\n  partitions reassigned after %lld ms",
           parts_to >= 0 ? parts_at - killed : -1);

    /* Back while the stream runs: restarted, or resumed with the events it
     * had taken and not finished, which its partitions' new owners have
     * been handling meanwhile. */
    long long back = wall_ms();
    long long at_back = effects(&w);
    if (zombie)
        kill(w.pid[victim], SIGCONT);
    else
        w.pid[victim] = th_host_spawn(w.dir[victim]);
    REQUIRE(w.pid[victim] > 0);
    long long rejoin_at = -1;
    CU_ASSERT_EQUAL(wait_log(&w, 1u << victim, "partitions assigned", back,
                             60000, &rejoin_at),
                    victim);
    printf("\n  %s with %lld effects committed, %d produced; it had"
           " partitions again after %lld ms",
           zombie ? "resumed" : "restarted", at_back, atomic_load(&p.sent),
           rejoin_at - back);

    pthread_join(p.thread, NULL);
    producing = false;
    CU_ASSERT_TRUE(p.ok);
    CU_ASSERT_EQUAL(atomic_load(&p.sent), EVENTS);
    long long v = th_wait_num(w.db, th_counter_drained_sql, EVENTS, 90000);
    CU_ASSERT_EQUAL(v, EVENTS);
    printf("\n  drained %lld ms after the first event was produced (%lld ms"
           " after the start)",
           yard_test_now_ms() - tp, yard_test_now_ms() - t0);

    /* Stopped together, as a fleet would be: one at a time, each leave
     * would stall the others' rebalance in turn. */
    long long ts = yard_test_now_ms();
    for (int i = 0; i < HOSTS; i++)
        kill(w.pid[i], SIGTERM);
    for (int i = 0; i < HOSTS; i++) {
        st = th_host_wait(w.pid[i], 30000);
        CU_ASSERT_TRUE(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
            printf("\n  host %d: wait status %d", i, st);
        w.pid[i] = -1;
    }
    printf("\n  all stopped %lld ms after SIGTERM", yard_test_now_ms() - ts);
    th_counter_check(w.db, th_broker_bootstrap(w.broker), w.run, EVENTS, KEYS,
                     PARTITIONS);
    printf("  total %lld ms\n", yard_test_now_ms() - t0);
out:
    if (producing)
        pthread_join(p.thread, NULL);
    world_teardown(&w);
}

static void test_kill_one_of_three(void) { scenario(false); }
static void test_stop_one_of_three(void) { scenario(true); }

int main(void)
{
    CU_TestInfo tests[] = {
        {"3 hosts, 6 partitions, one SIGKILLed and added back: effects once,"
         " per-key order of published events",
         test_kill_one_of_three},
        {"3 hosts, one SIGSTOPped past its session and resumed: same",
         test_stop_one_of_three},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("scaleout", suite_init, suite_clean, tests);
}
