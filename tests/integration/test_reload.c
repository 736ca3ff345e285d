/*
 * Hot reload (issue #4), with real parts: a throwaway PostgreSQL, the mock
 * cluster in its own process, the host as a child process, and the
 * "reloadable" test plugin built twice (reload_v1.so, reload_v2.so) and
 * swapped under a private plugin directory.
 *
 * One host runs through all tests (group joins are slow on the mock):
 *  1. a steady stream over 16 keys while SIGHUP swaps v1/v2 20 times:
 *     every event handled exactly once by exactly one version, per-key
 *     order kept, no dead letters, the consumer kept (no rebalance);
 *  2. bad reloads (ABI major, no descriptor, init failure, conf.d syntax
 *     error, world-writable .so, symlink out of the plugin dir): each is
 *     refused, reported in status, and the running version keeps handling;
 *  3. add a plugin, change only its settings, remove it: each does what it
 *     should, the untouched plugin's group is never rebalanced;
 *  4. 100 reload cycles: open fds and RSS stay bounded;
 *  5. a SIGHUP during a reload is refused, not queued;
 *  6. host settings: log_level changes live, workers is reported as
 *     needing a restart;
 *  7. `switchyard status [--json]` and `switchyard reload`;
 *  8. the host stops cleanly (exit 0; in a sanitizer build LeakSanitizer
 *     checks the whole run at exit).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "control.h"
#include "harness.h"
#include "pgtmp.h"
#include "testutil.h"

#define KEYS 16
#define PARTITIONS 8
#define TOPIC "reload.input"
#define RELOADS 20
#define STREAM_RATE 6000 /* events/s the producer aims at */
#define SLOW_RATE 500
#define CYCLES 100
#define WARMUP_CYCLES 10
#define FD_SLACK 2
#define RSS_GROWTH_MAX_KB (10 * 1024)

static yard_pgtmp *pg;
static PGconn *admin, *db;
static th_broker *broker;
static char *dir, *plugdir, *outside;
static char sock[512];
static char hostini[4096];
static pid_t host = -1;

/* ---- files ---------------------------------------------------------------- */

static bool copy_to(const char *src, const char *dst, mode_t mode)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = in >= 0 && out >= 0;
    char buf[65536];
    ssize_t n;
    while (ok && (n = read(in, buf, sizeof buf)) > 0)
        ok = write(out, buf, (size_t)n) == n;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return ok && chmod(dst, mode) == 0;
}

/* Put build/tests/plugins/<so> at plugdir/<name>, atomically (rename). */
static bool install_mode(const char *so, const char *name, mode_t mode)
{
    char src[1024], tmp[1024], dst[1024];
    snprintf(src, sizeof src, "%s/%s", YARD_TEST_PLUGIN_DIR, so);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", plugdir, name);
    snprintf(dst, sizeof dst, "%s/%s", plugdir, name);
    bool ok = copy_to(src, tmp, mode) && rename(tmp, dst) == 0;
    if (!ok)
        fprintf(stderr, "install %s as %s: %s\n", so, dst, strerror(errno));
    return ok;
}

static bool install(const char *so, const char *name)
{
    return install_mode(so, name, 0644);
}

static bool write_conf(const char *name, const char *text)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, ".%s.tmp", name);
    char from[1024], to[1024];
    snprintf(from, sizeof from, "%s/%s", dir, tmp);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    return yard_test_write(dir, tmp, text) == 0 && rename(from, to) == 0;
}

static void remove_conf(const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

/* ---- talking to the host ---------------------------------------------------- */

static json_t *status(void)
{
    char *reply = NULL, err[1024];
    if (yard_control_request(sock, "status", 10000, &reply, err, sizeof err)) {
        fprintf(stderr, "status: %s\n", err);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loads(reply, 0, &je);
    free(reply);
    return j;
}

static long long status_num(const char *key)
{
    json_t *s = status();
    long long v = s ? json_integer_value(json_object_get(s, key)) : -1;
    json_decref(s);
    return v;
}

/* The plugin's status object (a new reference), or NULL. */
static json_t *plugin_status(const char *name)
{
    json_t *s = status(), *p, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(s, "plugins"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
            found = json_incref(p);
    }
    json_decref(s);
    return found;
}

static void plugin_str(const char *name, const char *field, char *buf,
                       size_t len)
{
    json_t *p = plugin_status(name);
    const char *v = p ? json_string_value(json_object_get(p, field)) : NULL;
    snprintf(buf, len, "%s", v ? v : "");
    json_decref(p);
}

/* "reload" on the control socket: true when the host applied everything;
 * the result line in res. */
static bool reload_ctl(char *res, size_t len)
{
    char *reply = NULL, err[1024];
    res[0] = '\0';
    if (yard_control_request(sock, "reload", 120000, &reply, err, sizeof err)) {
        snprintf(res, len, "%s", err);
        return false;
    }
    json_t *j = json_loads(reply, 0, NULL);
    free(reply);
    bool ok = json_is_true(json_object_get(j, "ok"));
    const char *r = json_string_value(json_object_get(j, "result"));
    snprintf(res, len, "%s", r ? r : "");
    json_decref(j);
    return ok;
}

/* SIGHUP, then wait until status counts `want` reloads. */
static bool reload_hup(long long want)
{
    kill(host, SIGHUP);
    long long end = yard_test_now_ms() + 60000;
    while (yard_test_now_ms() < end) {
        if (status_num("reloads") >= want)
            return true;
        usleep(5000);
    }
    return false;
}

/* Lines of host.log containing both strings. */
static int log_count(const char *a, const char *b)
{
    char p[1024], line[4096];
    snprintf(p, sizeof p, "%s/host.log", dir);
    FILE *f = fopen(p, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, a) && (!b || strstr(line, b));
    if (f)
        fclose(f);
    return n;
}

/* ---- the stream --------------------------------------------------------------- */

typedef struct producer {
    pthread_t thread;
    atomic_bool stop;
    int rate;
    long long sent; /* events queued by this run */
    long long ms;   /* how long it ran */
    bool ok;
} producer;

static int seq_of_key[KEYS]; /* next seq per key, across the whole test */
static long long produced;   /* events produced and flushed, in total */

static void *produce_main(void *arg)
{
    producer *pr = arg;
    rd_kafka_t *p = th_producer(th_broker_bootstrap(broker));
    pr->ok = p != NULL;
    long long t0 = yard_test_now_ms();
    while (pr->ok && !atomic_load(&pr->stop)) {
        /* Keep to the schedule in 10 ms steps. */
        long long due = (yard_test_now_ms() - t0) * pr->rate / 1000;
        while (pr->sent < due && pr->ok) {
            long long i = produced + pr->sent;
            int k = (int)(i % KEYS);
            char id[32], key[16], payload[96];
            snprintf(id, sizeof id, "rl-%09lld", i);
            snprintf(key, sizeof key, "key-%02d", k);
            snprintf(payload, sizeof payload, "{\"key\":\"%s\",\"seq\":%d}", key,
                     seq_of_key[k]++);
            pr->ok = th_produce_ce(p, TOPIC, key, id, TOPIC, payload);
            pr->sent++;
        }
        rd_kafka_poll(p, 0);
        usleep(10000);
    }
    pr->ms = yard_test_now_ms() - t0;
    if (p) {
        pr->ok = pr->ok && th_flush(p);
        rd_kafka_destroy(p);
    }
    return NULL;
}

static void producer_start(producer *pr, int rate)
{
    memset(pr, 0, sizeof *pr);
    pr->rate = rate;
    pthread_create(&pr->thread, NULL, produce_main, pr);
}

static void producer_stop(producer *pr)
{
    atomic_store(&pr->stop, true);
    pthread_join(pr->thread, NULL);
    produced += pr->sent;
    CU_ASSERT_TRUE(pr->ok);
}

static long long main_effects(void)
{
    return th_sql_num(db, "SELECT count(*) FROM reload_effect WHERE "
                          "instance = 'main'");
}

/* Everything produced so far handled once, by one version, in key order. */
static void check_exactly_once(void)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM reload_effect WHERE instance = 'main'");
    CU_ASSERT_EQUAL(th_wait_num(db, sql, produced, 120000), produced);
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(DISTINCT event_id) FROM "
                                   "reload_effect WHERE instance = 'main'"),
                    produced);
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM reload_effect WHERE "
                                   "instance = 'main' AND version NOT IN "
                                   "('1.0.0', '2.0.0')"),
                    0);
    CU_ASSERT_EQUAL(
        th_sql_num(db, "SELECT count(*) FROM (SELECT seq, lag(seq) OVER"
                       " (PARTITION BY pkey ORDER BY id) AS p FROM reload_effect"
                       " WHERE instance = 'main') x"
                       " WHERE p IS NOT NULL AND seq <> p + 1"),
        0);
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM yard_dead_letter"), 0);
}

/* Do effects of 'main' keep coming? */
static bool still_handling(void)
{
    long long before = main_effects();
    long long end = yard_test_now_ms() + 15000;
    while (yard_test_now_ms() < end) {
        if (main_effects() > before)
            return true;
        usleep(50000);
    }
    return false;
}

/* ---- suite ------------------------------------------------------------------------ */

static int suite_init(void)
{
    char err[1024];
    yard_pgtmp_opts o = {0};
    if (yard_pgtmp_start(&o, &pg, err, sizeof err)) {
        fprintf(stderr, "PostgreSQL: %s\n", err);
        return -1;
    }
    admin = th_connect(yard_pgtmp_dsn(pg), "postgres");
    if (!admin || !th_sql(admin, "CREATE DATABASE reload"))
        return -1;
    db = th_connect(yard_pgtmp_dsn(pg), "reload");
    char t[64];
    snprintf(t, sizeof t, "%s:%d", TOPIC, PARTITIONS);
    const char *topics[] = {t, "dlq.main:1", "dlq.extra:1"};
    broker = th_broker_start(1, topics, 3);
    dir = yard_test_tmpdir("reload");
    outside = yard_test_tmpdir("outside");
    if (!db || !broker || !dir || !outside)
        return -1;
    char p[1024];
    snprintf(p, sizeof p, "%s/plugins", dir);
    mkdir(p, 0755);
    plugdir = strdup(p);
    snprintf(sock, sizeof sock, "%s/control.sock", dir);
    snprintf(hostini, sizeof hostini,
             "[host]\nworkers = 4\nbatch_size = 64\nplugin_dir = %s\n"
             "control_socket = %s\nshutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n\n"
             "[postgres]\ndsn = %s dbname=reload\n",
             plugdir, sock, th_broker_bootstrap(broker), yard_pgtmp_dsn(pg));
    if (yard_test_write(dir, "host.ini", hostini) ||
        !write_conf("50-main.ini",
                    "[plugin]\nname = main\npath = reload.so\n\n"
                    "[settings]\ninstance = main\n") ||
        !install("reload_v1.so", "reload.so"))
        return -1;
    /* A sanitizer build keeps up to 256 MiB of freed memory in quarantine,
     * which would hide real growth in the RSS check: keep it small. */
    {
        /* Appended: a later option wins, and the caller's stay in force. */
        const char *prev = getenv("ASAN_OPTIONS");
        char opts[512];
        snprintf(opts, sizeof opts, "%s%squarantine_size_mb=16",
                 prev ? prev : "", prev && *prev ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
    host = th_host_spawn(dir);
    if (host <= 0)
        return -1;
    /* Up when the control socket answers and the group is joined. */
    long long end = yard_test_now_ms() + 60000;
    while (yard_test_now_ms() < end && log_count("partitions assigned", NULL) < 1)
        usleep(50000);
    return log_count("partitions assigned", NULL) >= 1 && status_num("reloads") == 0
               ? 0
               : -1;
}

static int suite_clean(void)
{
    if (host > 0) {
        kill(host, SIGTERM);
        int st = th_host_wait(host, 60000);
        if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
            fprintf(stderr, "host did not stop cleanly (status %d)\n", st);
    }
    th_broker_stop(broker);
    PQfinish(db);
    PQfinish(admin);
    yard_pgtmp_stop(pg);
    if (dir && !getenv("YARD_TEST_KEEP")) {
        yard_test_rm_rf(dir);
        yard_test_rm_rf(outside);
    }
    free(dir);
    free(outside);
    free(plugdir);
    return 0;
}

/* ---- 1. the stream ------------------------------------------------------------------- */

static void test_stream_20_reloads(void)
{
    long long first_id = th_sql_num(db, "SELECT coalesce(max(id), 0) FROM reload_effect");
    producer pr;
    producer_start(&pr, STREAM_RATE);
    usleep(1000000);
    long long reload_ms_max = 0;
    for (int i = 0; i < RELOADS; i++) {
        CU_ASSERT_TRUE(install(i % 2 == 0 ? "reload_v2.so" : "reload_v1.so",
                               "reload.so"));
        long long t = yard_test_now_ms();
        CU_ASSERT_TRUE(reload_hup(i + 1));
        t = yard_test_now_ms() - t;
        if (t > reload_ms_max)
            reload_ms_max = t;
        char v[32];
        plugin_str("main", "version", v, sizeof v);
        CU_ASSERT_STRING_EQUAL(v, i % 2 == 0 ? "2.0.0" : "1.0.0");
        usleep(300000);
    }
    usleep(1000000);
    producer_stop(&pr);
    CU_ASSERT_EQUAL(status_num("reloads_failed"), 0);
    check_exactly_once();
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (extract(epoch FROM max(gap)) * 1000)::bigint FROM"
             " (SELECT at - lag(at) OVER (ORDER BY at) AS gap FROM reload_effect"
             " WHERE instance = 'main' AND id > %lld) x",
             first_id);
    long long gap = th_sql_num(db, sql);
    long long v1 = th_sql_num(db, "SELECT count(*) FROM reload_effect WHERE version = '1.0.0'");
    long long v2 = th_sql_num(db, "SELECT count(*) FROM reload_effect WHERE version = '2.0.0'");
    CU_ASSERT_TRUE(v1 > 0 && v2 > 0);
    /* The consumer was kept: its group was never rebalanced. */
    CU_ASSERT_EQUAL(log_count("partitions revoked", "group=main"), 0);
    CU_ASSERT_EQUAL(log_count("partitions assigned", "group=main"), 1);
    CU_ASSERT_EQUAL(log_count("consumer=kept", NULL), RELOADS);
    printf("\n  stream: %lld events in %lld ms = %.0f events/s (target %d), "
           "%d SIGHUP reloads v1<->v2 (slowest %lld ms), v1 handled %lld, v2 "
           "%lld; longest processing gap %lld ms\n",
           pr.sent, pr.ms, pr.ms ? pr.sent * 1000.0 / pr.ms : 0.0, STREAM_RATE,
           RELOADS, reload_ms_max, v1, v2, gap);
}

/* ---- 2. bad reloads -------------------------------------------------------------------- */

typedef struct bad_case {
    const char *what;
    const char *expect; /* in the reload result */
} bad_case;

static void expect_refused(const bad_case *c, const char *running_version)
{
    long long failed = status_num("reloads_failed");
    char res[4096];
    CU_ASSERT_FALSE(reload_ctl(res, sizeof res));
    if (!strstr(res, c->expect))
        printf("\n  %s: result \"%s\" lacks \"%s\"", c->what, res, c->expect);
    CU_ASSERT_PTR_NOT_NULL(strstr(res, c->expect));
    CU_ASSERT_EQUAL(status_num("reloads_failed"), failed + 1);
    /* Status names the error as the last reload's result. */
    json_t *s = status();
    json_t *last = json_object_get(s, "last_reload");
    CU_ASSERT_TRUE(json_is_false(json_object_get(last, "ok")));
    const char *r = json_string_value(json_object_get(last, "result"));
    CU_ASSERT_TRUE(r && strstr(r, c->expect));
    json_decref(s);
    char v[32];
    plugin_str("main", "version", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, running_version);
    CU_ASSERT_TRUE(still_handling());
    printf("\n  refused (%s): %.160s", c->what, res);
}

static void test_bad_reloads(void)
{
    char running[32];
    plugin_str("main", "version", running, sizeof running);
    const char *good = strcmp(running, "1.0.0") == 0 ? "reload_v1.so" : "reload_v2.so";
    const char *newer = strcmp(running, "1.0.0") == 0 ? "reload_v2.so" : "reload_v1.so";
    producer pr;
    producer_start(&pr, SLOW_RATE);

    bad_case abi = {"ABI major 2", "ABI major mismatch"};
    CU_ASSERT_TRUE(install("abi_major2.so", "reload.so"));
    expect_refused(&abi, running);

    bad_case nodesc = {"no descriptor", "no descriptor"};
    CU_ASSERT_TRUE(install("abi_nodesc.so", "reload.so"));
    expect_refused(&nodesc, running);

    bad_case initfail = {"init fails", "init failed: setting dsn is required"};
    CU_ASSERT_TRUE(install("abi_initfail.so", "reload.so"));
    expect_refused(&initfail, running);

    bad_case ww = {"world-writable", "group- or world-writable"};
    CU_ASSERT_TRUE(install_mode(newer, "reload.so", 0666));
    expect_refused(&ww, running);

    bad_case link = {"symlink out of plugin_dir", "outside the plugin directory"};
    char target[1024], lnk[1024], tmp[1024];
    snprintf(target, sizeof target, "%s/evil.so", outside);
    snprintf(lnk, sizeof lnk, "%s/reload.so", plugdir);
    snprintf(tmp, sizeof tmp, "%s/.link.tmp", plugdir);
    char src[1024];
    snprintf(src, sizeof src, "%s/%s", YARD_TEST_PLUGIN_DIR, newer);
    CU_ASSERT_TRUE(copy_to(src, target, 0644));
    unlink(tmp);
    CU_ASSERT_EQUAL(symlink(target, tmp), 0);
    CU_ASSERT_EQUAL(rename(tmp, lnk), 0);
    expect_refused(&link, running);

    /* Back to the running file: nothing to do for main. */
    CU_ASSERT_TRUE(install(good, "reload.so"));
    bad_case syntax = {"conf.d syntax error", "70-broken.ini:2"};
    CU_ASSERT_TRUE(write_conf("70-broken.ini",
                              "[plugin]\n[settings\npath = x.so\n"));
    expect_refused(&syntax, running);
    remove_conf("70-broken.ini");

    char res[4096];
    CU_ASSERT_TRUE(reload_ctl(res, sizeof res));
    CU_ASSERT_PTR_NOT_NULL(strstr(res, "0 upgraded"));
    printf("\n  then: %s", res);
    producer_stop(&pr);
    check_exactly_once();
    CU_ASSERT_EQUAL(log_count("partitions revoked", "group=main"), 0);
    printf("\n");
}

/* ---- 3. add, settings only, remove ------------------------------------------------------------ */

static long long extra_effects(const char *tag)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM reload_effect WHERE instance = 'extra'%s%s%s",
             tag ? " AND tag = '" : "", tag ? tag : "", tag ? "'" : "");
    return th_sql_num(db, sql);
}

static bool wait_extra(const char *tag)
{
    long long end = yard_test_now_ms() + 30000;
    long long before = extra_effects(tag);
    while (yard_test_now_ms() < end) {
        if (extra_effects(tag) > before)
            return true;
        usleep(100000);
    }
    return false;
}

static void test_add_settings_remove(void)
{
    producer pr;
    producer_start(&pr, SLOW_RATE);
    char res[4096], main_gen[32], gen[32];
    json_t *m = plugin_status("main");
    snprintf(main_gen, sizeof main_gen, "%lld",
             (long long)json_integer_value(json_object_get(m, "generation")));
    json_decref(m);

    /* Add. */
    CU_ASSERT_TRUE(install("reload_v1.so", "extra.so"));
    CU_ASSERT_TRUE(write_conf("60-extra.ini",
                              "[plugin]\nname = extra\npath = extra.so\n\n"
                              "[settings]\ninstance = extra\ntag = a\n"));
    CU_ASSERT_TRUE(reload_ctl(res, sizeof res));
    CU_ASSERT_PTR_NOT_NULL(strstr(res, "1 added"));
    printf("\n  add: %s", res);
    CU_ASSERT_TRUE(wait_extra("a"));

    /* Settings only: an upgrade that keeps the consumer. */
    CU_ASSERT_TRUE(write_conf("60-extra.ini",
                              "[plugin]\nname = extra\npath = extra.so\n\n"
                              "[settings]\ninstance = extra\ntag = b\n"));
    CU_ASSERT_TRUE(reload_ctl(res, sizeof res));
    CU_ASSERT_PTR_NOT_NULL(strstr(res, "1 upgraded"));
    printf("\n  settings: %s", res);
    char last[512];
    plugin_str("extra", "last_reload", last, sizeof last);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "consumer kept"));
    CU_ASSERT_TRUE(wait_extra("b"));
    CU_ASSERT_EQUAL(log_count("partitions revoked", "group=extra"), 0);

    /* Remove. */
    remove_conf("60-extra.ini");
    CU_ASSERT_TRUE(reload_ctl(res, sizeof res));
    CU_ASSERT_PTR_NOT_NULL(strstr(res, "1 removed"));
    printf("\n  remove: %s", res);
    json_t *gone = plugin_status("extra");
    CU_ASSERT_PTR_NULL(gone);
    json_decref(gone);
    long long after = extra_effects(NULL);
    CU_ASSERT_TRUE(still_handling());
    usleep(500000);
    CU_ASSERT_EQUAL(extra_effects(NULL), after);

    /* main was never touched: same generation, never rebalanced. */
    m = plugin_status("main");
    snprintf(gen, sizeof gen, "%lld",
             (long long)json_integer_value(json_object_get(m, "generation")));
    json_decref(m);
    CU_ASSERT_STRING_EQUAL(gen, main_gen);
    CU_ASSERT_EQUAL(log_count("partitions revoked", "group=main"), 0);
    CU_ASSERT_EQUAL(log_count("partitions assigned", "group=main"), 1);
    producer_stop(&pr);
    check_exactly_once();
    printf("\n");
}

/* ---- 4. no leaks across reloads ---------------------------------------------------------------- */

static long count_fds(void)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/fd", (int)host);
    DIR *d = opendir(p);
    long n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n - 2;
}

static long rss_kb(void)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)host);
    FILE *f = fopen(p, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static long threads(void)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)host);
    FILE *f = fopen(p, "r");
    long n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %ld", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

static void cycle(int i)
{
    CU_ASSERT_TRUE(install(i % 2 == 0 ? "reload_v2.so" : "reload_v1.so",
                           "reload.so"));
    char res[4096];
    bool ok = reload_ctl(res, sizeof res);
    if (!ok)
        printf("\n  cycle %d: %s", i, res);
    CU_ASSERT_TRUE(ok);
}

/* The host's connections to its database (asked on the test's own). */
static const char *const conns_sql =
    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'reload'"
    " AND pid <> pg_backend_pid()";

static void test_cycles_bounded(void)
{
    /* Under traffic; measured at quiet points (stream stopped and drained)
     * so that buffers in use for events do not count as growth. */
    producer pr;
    producer_start(&pr, SLOW_RATE);
    for (int i = 0; i < WARMUP_CYCLES; i++)
        cycle(i);
    producer_stop(&pr);
    check_exactly_once();
    long fd0 = count_fds(), rss0 = rss_kb(), th0 = threads();
    long long conns0 = th_sql_num(db, conns_sql);
    producer_start(&pr, SLOW_RATE);
    long long t = yard_test_now_ms();
    for (int i = 0; i < CYCLES; i++)
        cycle(WARMUP_CYCLES + i);
    t = yard_test_now_ms() - t;
    producer_stop(&pr);
    check_exactly_once();
    long fd1 = count_fds(), rss1 = rss_kb(), th1 = threads();
    long long conns1 = th_sql_num(db, conns_sql);
    printf("\n  %d reload cycles in %lld ms: fds %ld -> %ld, threads %ld -> "
           "%ld, RSS %ld kB -> %ld kB (%+ld kB), host DB connections %lld -> "
           "%lld\n",
           CYCLES, t, fd0, fd1, th0, th1, rss0, rss1, rss1 - rss0, conns0,
           conns1);
    CU_ASSERT_EQUAL(conns1, conns0);
    CU_ASSERT_TRUE(fd1 >= fd0 - FD_SLACK && fd1 <= fd0 + FD_SLACK);
    CU_ASSERT_EQUAL(th1, th0);
    CU_ASSERT_TRUE(rss1 - rss0 < RSS_GROWTH_MAX_KB);
    CU_ASSERT_EQUAL(log_count("partitions revoked", "group=main"), 0);
}

/* ---- 5. overlapping reloads ---------------------------------------------------------------------- */

static void *reload_thread(void *arg)
{
    reload_ctl(arg, 4096);
    return NULL;
}

/* A reload from the control socket is draining a backlog when SIGHUP asks
 * for another: the second is refused (and logged), not queued. */
static void test_overlap_refused(void)
{
    producer pr;
    producer_start(&pr, STREAM_RATE);
    int refused = 0, tries = 0;
    for (; tries < 10 && !refused; tries++) {
        usleep(1000000); /* let a backlog build up */
        char v[32];
        plugin_str("main", "version", v, sizeof v);
        CU_ASSERT_TRUE(install(strcmp(v, "1.0.0") == 0 ? "reload_v2.so"
                                                        : "reload_v1.so",
                               "reload.so"));
        int before = log_count("reload refused: another reload is running", NULL);
        static char res[4096];
        pthread_t t;
        pthread_create(&t, NULL, reload_thread, res);
        usleep(20000);
        kill(host, SIGHUP);
        pthread_join(t, NULL);
        usleep(200000); /* the SIGHUP reload, if it ran after all */
        refused = log_count("reload refused: another reload is running", NULL) -
                  before;
    }
    producer_stop(&pr);
    printf("\n  overlapping SIGHUP refused after %d tries\n", tries);
    CU_ASSERT_TRUE(refused > 0);
    check_exactly_once();
}

/* ---- 6. host settings --------------------------------------------------------------------------- */

/* log_level changes live; workers needs a restart and says so. */
static void test_host_settings(void)
{
    producer pr;
    producer_start(&pr, SLOW_RATE);
    char text[4200], res[4096];
    snprintf(text, sizeof text, "%s", hostini);
    char *w = strstr(text, "workers = 4");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    memcpy(w, "workers = 2", 11);
    char *k = strstr(text, "[kafka]");
    memmove(k + 17, k, strlen(k) + 1);
    memcpy(k, "log_level = warn\n", 17);
    CU_ASSERT_TRUE(write_conf("host.ini", text));
    CU_ASSERT_TRUE(reload_ctl(res, sizeof res));
    CU_ASSERT_PTR_NOT_NULL(strstr(res, "1 setting(s) need a restart"));
    CU_ASSERT_EQUAL(log_count("cannot change while running", "workers"), 1);
    printf("\n  %s", res);
    /* Now at warn: an unchanged reload logs no info line. */
    int before = log_count("reload finished", NULL);
    CU_ASSERT_TRUE(reload_ctl(res, sizeof res));
    CU_ASSERT_EQUAL(log_count("reload finished", NULL), before);
    /* Still not applied: said again. */
    CU_ASSERT_EQUAL(log_count("cannot change while running", "workers"), 2);
    CU_ASSERT_TRUE(write_conf("host.ini", hostini));
    CU_ASSERT_TRUE(reload_ctl(res, sizeof res));
    CU_ASSERT_EQUAL(log_count("reload finished", NULL), before + 1);
    CU_ASSERT_PTR_NULL(strstr(res, "need a restart"));
    /* Topics are checked only at start: a new [topic NAME] waits for one. */
    CU_ASSERT_TRUE(write_conf("topics.ini", "[topic reload.extra]\n"
                                            "partitions = 2\n"));
    CU_ASSERT_TRUE(reload_ctl(res, sizeof res));
    CU_ASSERT_PTR_NOT_NULL(strstr(res, "1 setting(s) need a restart"));
    CU_ASSERT_EQUAL(log_count("cannot change while running", "[topic NAME]"),
                    1);
    remove_conf("topics.ini");
    CU_ASSERT_TRUE(reload_ctl(res, sizeof res));
    CU_ASSERT_PTR_NULL(strstr(res, "need a restart"));
    CU_ASSERT_TRUE(still_handling());
    producer_stop(&pr);
    check_exactly_once();
    printf("\n");
}

/* ---- 7. the command line ------------------------------------------------------------------------ */

/* Run `switchyard ARGS`, its stdout into out; returns the exit status. */
static int run_cli(const char *args, char *out, size_t len)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", YARD_SWITCHYARD_BIN, args);
    FILE *f = popen(cmd, "r");
    size_t n = f ? fread(out, 1, len - 1, f) : 0;
    out[n] = '\0';
    int st = f ? pclose(f) : -1;
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void)
{
    struct stat sb;
    CU_ASSERT_EQUAL(lstat(sock, &sb), 0);
    CU_ASSERT_TRUE(S_ISSOCK(sb.st_mode));
    CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);

    static char out[65536];
    char args[1200];
    /* The socket found through the configuration. */
    snprintf(args, sizeof args, "status --conf-dir %s", dir);
    CU_ASSERT_EQUAL(run_cli(args, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "main"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "reloads:"));
    printf("\n%s", out);

    snprintf(args, sizeof args, "status --json --socket %s", sock);
    CU_ASSERT_EQUAL(run_cli(args, out, sizeof out), 0);
    json_t *j = json_loads(out, 0, NULL);
    CU_ASSERT_TRUE(json_is_array(json_object_get(j, "plugins")));
    json_t *p = json_array_get(json_object_get(j, "plugins"), 0);
    const char *keys[] = {"name", "version", "abi", "generation", "loaded_at",
                          "handled", "last_reload"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CU_ASSERT_PTR_NOT_NULL(json_object_get(p, keys[i]));
    CU_ASSERT_TRUE(json_is_integer(json_object_get(j, "reloads_failed")));
    json_decref(j);

    long long before = status_num("reloads");
    snprintf(args, sizeof args, "reload --socket %s", sock);
    CU_ASSERT_EQUAL(run_cli(args, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "reload ok"));
    CU_ASSERT_EQUAL(status_num("reloads"), before + 1);

    /* A refused reload: exit status 1 and the reason. */
    CU_ASSERT_TRUE(write_conf("70-broken.ini", "[plugin]\npath =\n"));
    CU_ASSERT_EQUAL(run_cli(args, out, sizeof out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "70-broken.ini:2"));
    remove_conf("70-broken.ini");
    printf("  %s", out);
}

/* ---- 8. a clean stop ------------------------------------------------------------------------------ */

/* Exit status 0 after all of the above; with -DSWITCHYARD_SANITIZE=ON the
 * host's LeakSanitizer checks at exit and would fail the exit status and
 * write its report into host.log. */
static void test_clean_stop(void)
{
    kill(host, SIGTERM);
    int st = th_host_wait(host, 60000);
    host = -1;
    CU_ASSERT_TRUE(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_EQUAL(log_count("LeakSanitizer", NULL), 0);
    CU_ASSERT_EQUAL(log_count("AddressSanitizer", NULL), 0);
    struct stat sb;
    CU_ASSERT_NOT_EQUAL(lstat(sock, &sb), 0); /* the socket is removed */
    printf("\n  host exit status %d, sanitizer reports: %d\n",
           st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1,
           log_count("Sanitizer", NULL));
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"stream, 20 SIGHUP v1<->v2: once, one version, order kept",
         test_stream_20_reloads},
        {"bad reloads are refused and the old version keeps running",
         test_bad_reloads},
        {"add, settings-only change, remove; others undisturbed",
         test_add_settings_remove},
        {"100 reload cycles: fds, threads and RSS bounded", test_cycles_bounded},
        {"overlapping reloads are refused", test_overlap_refused},
        {"host settings: log_level live, workers needs a restart",
         test_host_settings},
        {"switchyard status [--json] and reload; socket mode 0600", test_cli},
        {"clean stop: exit 0, no sanitizer report", test_clean_stop},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("reload", suite_init, suite_clean, tests);
}
