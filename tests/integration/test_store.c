/*
 * The store against a real PostgreSQL: migrations applied exactly once
 * even when several hosts start at the same moment, and failures sorted
 * into the classes the engine acts on.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pgtmp.h"
#include "store.h"
#include "testutil.h"

#define HOSTS 6

static yard_pgtmp *pg;

static int suite_init(void)
{
    char err[1024];
    yard_pgtmp_opts o = {0};
    if (yard_pgtmp_start(&o, &pg, err, sizeof err)) {
        fprintf(stderr, "PostgreSQL: %s\n", err);
        return -1;
    }
    return 0;
}

static int suite_clean(void)
{
    yard_pgtmp_stop(pg);
    return 0;
}

typedef struct starter {
    pthread_barrier_t *go;
    int rc;
    char err[512];
} starter;

static void *start_host(void *arg)
{
    starter *s = arg;
    PGconn *c = NULL;
    s->rc = yard_db_connect(yard_pgtmp_dsn(pg), &c, s->err, sizeof s->err);
    pthread_barrier_wait(s->go);
    if (!s->rc)
        s->rc = yard_store_migrate(c, "host", yard_host_migrations,
                                   yard_host_migrations_count, s->err,
                                   sizeof s->err);
    PQfinish(c);
    return NULL;
}

static void test_migrations_once_under_concurrent_start(void)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, HOSTS);
    pthread_t t[HOSTS];
    starter s[HOSTS];
    for (int i = 0; i < HOSTS; i++) {
        s[i] = (starter){.go = &go};
        pthread_create(&t[i], NULL, start_host, &s[i]);
    }
    for (int i = 0; i < HOSTS; i++) {
        pthread_join(t[i], NULL);
        if (s[i].rc)
            fprintf(stderr, "host %d: %s\n", i, s[i].err);
        CU_ASSERT_EQUAL(s[i].rc, 0);
    }
    pthread_barrier_destroy(&go);
    PGconn *c = th_connect(yard_pgtmp_dsn(pg), "postgres");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(th_sql_num(c, "SELECT count(*) FROM yard_migration"
                                  " WHERE component = 'host'"),
                    (long long)yard_host_migrations_count);
    CU_ASSERT_EQUAL(th_sql_num(c, "SELECT count(*) FROM pg_tables WHERE"
                                  " tablename IN ('yard_inbox', 'yard_outbox',"
                                  " 'yard_dead_letter')"),
                    3);
    /* Applying again is a no-op. */
    char err[512];
    CU_ASSERT_EQUAL(yard_store_migrate(c, "host", yard_host_migrations,
                                       yard_host_migrations_count, err,
                                       sizeof err),
                    0);
    /* A plugin's migration: once, under its own component name. */
    CU_ASSERT_EQUAL(yard_store_migrate_one(c, "demo", 1,
                                           "CREATE TABLE demo_t (x int)", err,
                                           sizeof err),
                    0);
    CU_ASSERT_EQUAL(yard_store_migrate_one(c, "demo", 1,
                                           "CREATE TABLE demo_t (x int)", err,
                                           sizeof err),
                    0);
    /* A failing one names itself and leaves no record. */
    CU_ASSERT_EQUAL(yard_store_migrate_one(c, "demo", 2, "CREATE TABLE (", err,
                                           sizeof err),
                    YARD_EDB);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "demo#2"));
    CU_ASSERT_EQUAL(th_sql_num(c, "SELECT count(*) FROM yard_migration"
                                  " WHERE component = 'demo'"),
                    1);
    PQfinish(c);
}

static void test_error_classes(void)
{
    char err[512];
    PGconn *c = NULL, *killer = NULL;
    CU_ASSERT_EQUAL_FATAL(yard_db_connect(yard_pgtmp_dsn(pg), &c, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(yard_db_connect(yard_pgtmp_dsn(pg), &killer, err, sizeof err), 0);
    /* The statement's own failure. */
    CU_ASSERT_EQUAL(yard_db_exec(c, "SELECT 1/0", err, sizeof err), YARD_EDB);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "22012"));
    /* A statement timeout is the event's failure, not the connection's. */
    CU_ASSERT_EQUAL(yard_db_exec(c, "SET statement_timeout = 50; SELECT pg_sleep(2)",
                                 err, sizeof err),
                    YARD_EDB);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "57014"));
    yard_db_exec(c, "RESET statement_timeout", NULL, 0);
    /* A serialization failure asks for an immediate retry. */
    CU_ASSERT_EQUAL(yard_db_exec(c,
                                 "DO $$ BEGIN RAISE EXCEPTION 'x' USING"
                                 " ERRCODE = '40001'; END $$",
                                 err, sizeof err),
                    YARD_EDBRETRY);
    /* A terminated backend is a lost connection. */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", PQbackendPID(c));
    CU_ASSERT_TRUE(th_sql(killer, sql));
    CU_ASSERT_EQUAL(yard_db_exec(c, "SELECT 1", err, sizeof err), YARD_EDBCONN);
    PQfinish(c);
    PQfinish(killer);
    /* Unreachable server: the message names it, never a password. */
    CU_ASSERT_EQUAL(yard_db_connect("host=127.0.0.1 port=1 password=hunter2"
                                    " connect_timeout=2",
                                    &c, err, sizeof err),
                    YARD_EDBCONN);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot connect"));
    CU_ASSERT_PTR_NULL(strstr(err, "hunter2"));
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"migrations apply once with six hosts starting together",
         test_migrations_once_under_concurrent_start},
        {"failures sorted into statement, retry and connection classes",
         test_error_classes},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("store", suite_init, suite_clean, tests);
}
