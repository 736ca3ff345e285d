/* store.c — PostgreSQL connections, error classes, migrations (store.h). */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Advisory lock key taken while migrating ("yardmigr" as an integer). */
#define MIGRATION_LOCK_KEY 0x796172646d696772LL

int yard_db_classify(PGconn *conn, const PGresult *res, char *err,
                     size_t errlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = conn ? PQerrorMessage(conn) : "no connection";
    char clean[512];
    snprintf(clean, sizeof clean, "%s", msg);
    clean[strcspn(clean, "\n")] = '\0';
    yard_errf(err, errlen, 0, "%s: %s", state ? state : "no SQLSTATE", clean);

    if (!conn || PQstatus(conn) != CONNECTION_OK || !state)
        return YARD_EDBCONN;
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
        strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
        return YARD_EDBCONN;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return YARD_EDBRETRY;
    return YARD_EDB;
}

/* Server notices ("relation ... already exists, skipping") belong in our
 * log at debug level, not on stderr. */
static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", message);
    msg[strcspn(msg, "\n")] = '\0';
    yard_log(YARD_LOG_DEBUG, msg, "component", "postgres", NULL);
}

int yard_db_connect(const char *dsn, PGconn **out, char *err, size_t errlen)
{
    *out = NULL;
    PGconn *c = PQconnectdb(dsn ? dsn : "");
    if (!c)
        return yard_errf(err, errlen, YARD_EDBCONN, "out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
        /* PQerrorMessage names host and port, never the password. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        msg[strcspn(msg, "\n")] = '\0';
        PQfinish(c);
        return yard_errf(err, errlen, YARD_EDBCONN,
                         "cannot connect to PostgreSQL: %s", msg);
    }
    PQsetNoticeProcessor(c, notice_to_log, NULL);
    *out = c;
    return 0;
}

int yard_db_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = yard_db_classify(conn, r, err, errlen);
    PQclear(r);
    return rc;
}

int yard_db_setting(PGconn *conn, const char *name, char *buf, size_t len)
{
    const char *params[1] = {name};
    PGresult *r = PQexecParams(conn, "SELECT current_setting($1)", 1, NULL,
                               params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
    else
        rc = yard_db_classify(conn, r, NULL, 0);
    PQclear(r);
    return rc;
}

static int ensure_migration_table(PGconn *conn, char *err, size_t errlen)
{
    /* CREATE IF NOT EXISTS can still race on the catalog; the lock
     * serialises hosts starting together. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(%lld); "
             "CREATE TABLE IF NOT EXISTS yard_migration ("
             " component text NOT NULL, version integer NOT NULL,"
             " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
             " PRIMARY KEY (component, version)); COMMIT",
             MIGRATION_LOCK_KEY);
    int rc = yard_db_exec(conn, sql, err, errlen);
    if (rc)
        yard_db_exec(conn, "ROLLBACK", NULL, 0);
    return rc;
}

/* Apply one migration unless recorded.  The advisory lock is held for the
 * whole transaction, so a second host waits and then sees the record. */
static int apply_one(PGconn *conn, const char *component,
                     const yard_migration *m, char *err, size_t errlen)
{
    char lock[128];
    snprintf(lock, sizeof lock, "BEGIN; SELECT pg_advisory_xact_lock(%lld)",
             MIGRATION_LOCK_KEY);
    int rc = yard_db_exec(conn, lock, err, errlen);
    if (rc)
        goto fail;

    char ver[16];
    snprintf(ver, sizeof ver, "%d", m->version);
    const char *p[3] = {component, ver, m->name};
    PGresult *r = PQexecParams(conn,
                               "SELECT 1 FROM yard_migration WHERE component = $1"
                               " AND version = $2::integer",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = yard_db_classify(conn, r, err, errlen);
        PQclear(r);
        goto fail;
    }
    bool applied = PQntuples(r) > 0;
    PQclear(r);
    if (applied)
        return yard_db_exec(conn, "COMMIT", err, errlen);

    char detail[400];
    rc = yard_db_exec(conn, m->sql, detail, sizeof detail);
    if (rc) {
        yard_errf(err, errlen, rc, "migration %s of %s failed: %s", m->name,
                  component, detail);
        goto fail;
    }
    r = PQexecParams(conn,
                     "INSERT INTO yard_migration (component, version, name)"
                     " VALUES ($1, $2::integer, $3)",
                     3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = yard_db_classify(conn, r, err, errlen);
        PQclear(r);
        goto fail;
    }
    PQclear(r);
    return yard_db_exec(conn, "COMMIT", err, errlen);

fail:
    yard_db_exec(conn, "ROLLBACK", NULL, 0);
    return rc;
}

int yard_store_migrate(PGconn *conn, const char *component,
                       const yard_migration *migrations, size_t n, char *err,
                       size_t errlen)
{
    int rc = ensure_migration_table(conn, err, errlen);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && migrations[i].version <= migrations[i - 1].version)
            return yard_errf(err, errlen, YARD_EINVAL,
                             "migration %s of %s: versions must increase",
                             migrations[i].name, component);
        rc = apply_one(conn, component, &migrations[i], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int yard_store_migrate_one(void *conn, const char *component, int version,
                           const char *sql, char *err, size_t errlen)
{
    char name[64];
    snprintf(name, sizeof name, "%s#%d", component, version);
    yard_migration m = {version, name, sql};
    int rc = ensure_migration_table(conn, err, errlen);
    return rc ? rc : apply_one(conn, component, &m, err, errlen);
}
