/*
 * store.h — PostgreSQL: connections, error classes, migrations.
 *
 * Error classes follow what libpq 15 really reports: a lost connection can
 * come back as a fatal result with no SQLSTATE while PQstatus() still says
 * OK, so a NULL SQLSTATE, class 08, 57P01..57P03 or a bad connection all
 * mean "connection lost" (YARD_EDBCONN: reconnect, retry the transaction);
 * 40001 and 40P01 mean "retry at once" (YARD_EDBRETRY); anything else is the
 * statement's own failure (YARD_EDB).
 */
#ifndef YARD_STORE_H
#define YARD_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define YARD_EDBRETRY (-20) /* serialization failure or deadlock */

typedef struct yard_migration {
    int version;
    const char *name;
    const char *sql;
} yard_migration;

/* The host's own migrations, embedded from sql/ at build time. */
extern const yard_migration yard_host_migrations[];
extern const size_t yard_host_migrations_count;

/* Classify a failed result (res may be NULL).  Returns YARD_EDBCONN,
 * YARD_EDBRETRY or YARD_EDB.  Writes "SQLSTATE: message" into err. */
int yard_db_classify(PGconn *conn, const PGresult *res, char *err,
                     size_t errlen);

/* Connect, with a message naming the server (never the password) on
 * failure.  Returns 0 or YARD_EDBCONN.  *out owned by caller: PQfinish. */
int yard_db_connect(const char *dsn, PGconn **out, char *err, size_t errlen);

/* Run a command that returns no rows (several ;-separated statements are
 * allowed).  Returns 0 or a class from yard_db_classify. */
int yard_db_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

/*
 * Apply `migrations` of `component` ("host" or a plugin name) that are not
 * yet recorded in yard_migration, each in its own transaction, under an
 * advisory lock so that hosts starting at once apply each exactly once.
 * Versions must increase.  Returns 0 or an error with the migration's name.
 */
int yard_store_migrate(PGconn *conn, const char *component,
                       const yard_migration *migrations, size_t n, char *err,
                       size_t errlen);

/* One migration of a plugin: applies it unless already recorded.
 * Matches yard_migrate_fn (plugin.h) with arg = PGconn *. */
int yard_store_migrate_one(void *conn, const char *component, int version,
                           const char *sql, char *err, size_t errlen);

/* Read a server setting (SHOW name) into buf.  Returns 0 or an error. */
int yard_db_setting(PGconn *conn, const char *name, char *buf, size_t len);

#endif
