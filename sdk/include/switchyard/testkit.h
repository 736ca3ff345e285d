/*
 * <switchyard/testkit.h> — run one plugin in a real host from a test.
 *
 * sy_testkit_start() starts, inside the test process, a throwaway
 * PostgreSQL server, an embedded Kafka mock cluster on loopback, and the
 * Switchyard host with your plugin loaded from its .so and configured by
 * its conf.d file — the same machinery as `switchyard run`: inbox,
 * transactions, outbox, relay, retries, dead letters.  A test then sends
 * events, waits for them to be handled, reads what the plugin emitted and
 * queries its tables.
 *
 * Link with `pkg-config --static --libs switchyard-testkit` (a static
 * library holding the host).  Needs the PostgreSQL server binaries
 * (Debian: postgresql; or SWITCHYARD_PG_BINDIR).  When run as root the
 * database runs as the postgres user.
 *
 * Threads: one test thread per kit.  Every function returns 0 or a
 * negative value with a message in err (err may be NULL).
 */
#ifndef SWITCHYARD_TESTKIT_H
#define SWITCHYARD_TESTKIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sy_testkit sy_testkit;

/*
 * Start the stack and a host running one plugin.  plugin_so is the built
 * .so; ini_path is the plugin's conf.d file, used as it is (its [plugin]
 * path is resolved against the .so's directory; its name gives the
 * plugin's default name).  Host settings are the kit's (one worker,
 * retries after 10..100 ms, at most 3 attempts, log_level warn, the HTTP
 * endpoint on an ephemeral loopback port); override any with SWITCHYARD_<SECTION>_<KEY> in the
 * environment.  Topics of the plugin's literal subscriptions are created
 * before the host starts.
 */
int sy_testkit_start(const char *plugin_so, const char *ini_path,
                     sy_testkit **out, char *err, size_t errlen);

/* Stop the host and remove the database and the broker.  NULL ok. */
void sy_testkit_stop(sy_testkit *tk);

/* bootstrap.servers and the libpq DSN of the kit's stack (owned by tk). */
const char *sy_testkit_brokers(const sy_testkit *tk);
const char *sy_testkit_dsn(const sy_testkit *tk);

/*
 * Publish one event as a binary-mode CloudEvent on the topic named by its
 * type: ce_id = id (NULL: a generated one, copied into id_out when it is
 * not NULL, 64 bytes), key as the Kafka key (NULL: none).  Returns when
 * the broker has it.
 */
int sy_testkit_send(sy_testkit *tk, const char *type, const char *key,
                    const char *id, const char *payload, char *id_out,
                    char *err, size_t errlen);

/*
 * Wait until the plugin has finished with event `id`: handled (returns 0),
 * or dead-lettered (returns 1; its error is in err).  Negative on timeout.
 */
int sy_testkit_wait(sy_testkit *tk, const char *id, int timeout_ms, char *err,
                    size_t errlen);

/*
 * The next event of type `type` the host published (in partition order;
 * each event is returned once per kit).  Copies its payload into payload
 * (NUL-terminated, truncated to len) and its key into key (may be NULL).
 * Negative on timeout.
 */
int sy_testkit_expect(sy_testkit *tk, const char *type, int timeout_ms,
                      char *payload, size_t len, char *key, size_t keylen,
                      char *err, size_t errlen);

/* Run one SQL statement on the host's database; the first column of the
 * first row goes into out as text ("" for none or NULL). */
int sy_testkit_sql(sy_testkit *tk, const char *sql, char *out, size_t len,
                   char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
