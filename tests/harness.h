/*
 * harness.h — real parts for integration tests: the test broker process,
 * the host as a child process, a producer and a reading consumer, and SQL
 * one-liners.
 */
#ifndef YARD_HARNESS_H
#define YARD_HARNESS_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* One throwaway PostgreSQL per test binary and a connection to its
 * "postgres" database; 0 or -1 (message on stderr).  Free with
 * th_pg_stop(), which accepts NULLs. */
struct yard_pgtmp;
int th_pg_start(struct yard_pgtmp **pg, PGconn **admin);
void th_pg_stop(struct yard_pgtmp *pg, PGconn *admin);

/* The mock cluster in its own process (tests/tools/testbroker.c). */
typedef struct th_broker th_broker;

/* Start it with topics "name:partitions"; NULL on failure (message on
 * stderr). */
th_broker *th_broker_start(int brokers, const char *const *topics, size_t n);
const char *th_broker_bootstrap(const th_broker *b);
/* Send one command line; true when it answered "ok". */
bool th_broker_cmd(th_broker *b, const char *line);
void th_broker_stop(th_broker *b);

/* Spawn `switchyard run --conf-dir DIR`, stderr to DIR/host.log (appended).
 * Returns the pid or -1. */
pid_t th_host_spawn(const char *conf_dir);
/* Wait for the child to exit, at most timeout_ms.  Returns its wait status,
 * or -1 when it did not exit in time (it is then SIGKILLed). */
int th_host_wait(pid_t pid, long long timeout_ms);

/* First column of the first row as a number; -1 on error (printed). */
long long th_sql_num(PGconn *c, const char *sql);
/* Run a statement; true on success (error printed). */
bool th_sql(PGconn *c, const char *sql);
/* A connection to database `db` of the server behind `dsn`. */
PGconn *th_connect(const char *dsn, const char *db);

/* A producer for tests (acks=all, idempotent). */
rd_kafka_t *th_producer(const char *bootstrap);
/* Produce a binary-mode CloudEvent; true on success (queued). */
bool th_produce_ce(rd_kafka_t *p, const char *topic, const char *key,
                   const char *id, const char *type, const char *payload);
/* Flush; true when every message was delivered. */
bool th_flush(rd_kafka_t *p);

/* Read every message of `topic` (partitions 0..n-1) from the beginning up
 * to the current end, calling fn for each.  Returns the count, -1 on
 * error. */
typedef void (*th_msg_fn)(void *arg, const rd_kafka_message_t *m);
long th_consume_all(const char *bootstrap, const char *topic, int partitions,
                    th_msg_fn fn, void *arg);
/* Value of header `name` as a NUL-terminated copy in buf, or NULL. */
const char *th_header(const rd_kafka_message_t *m, const char *name, char *buf,
                      size_t len);

/* Poll `sql` every 100 ms until it returns `want` or timeout; returns the
 * last value. */
long long th_wait_num(PGconn *c, const char *sql, long long want,
                      long long timeout_ms);
/* th_wait_num() on a printf-formatted query (at most 2047 bytes); when
 * the wait ends on another value, prints the query, the value and `want`
 * (the tests' WAIT_EQ macros assert on the result). */
long long th_wait_sqlf(PGconn *c, long long want, long long timeout_ms,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- the counter test plugin (tests/plugins/counter.c) -----------------
 * Event i of run R: id "R-evt-%06d", type and topic "R.input", key
 * "key-%02d" with i % keys, payload {"key", "seq": i / keys, "pad"}.  The
 * plugin records one counter_effect row per event and emits "R.done"
 * carrying {"source_id": id} under the same key. */

/* The id of event i of run R. */
void th_counter_id(const char *run, int i, char *buf, size_t len);
/* Produce event i; true when queued. */
bool th_counter_produce(rd_kafka_t *p, const char *run, int i, int keys);
/* Effects committed + 1,000,000 x rows left in the outbox: equals the
 * number of events once everything is handled and published. */
extern const char *const th_counter_drained_sql;
/* Assert (CUnit) what must hold once events 0..events-1 are all handled
 * and published: one effect per event, effects and committed outbox rows
 * in per-key order, one inbox row per event with its effect, outbox and
 * dead letters empty, and R.done (partitions 0..partitions-1) holding a
 * well-formed event for every input, the first copy of each in per-key
 * order.  Prints one summary line. */
void th_counter_check(PGconn *db, const char *bootstrap, const char *run,
                      int events, int keys, int partitions);

/* ---- a plain-socket HTTP client (for the host's /metrics, /healthz...) -- */

/* A loopback TCP port that was free a moment ago, or -1. */
int th_free_port(void);
/* A socket connected to 127.0.0.1:port with send/receive timeouts, or -1. */
int th_connect_to(int port, int timeout_s);
/* Send `req` as is and read the answer to EOF.  Returns the status code,
 * 0 when the server closed without an answer, -1 when it could not be
 * reached.  *body (malloc'd, caller frees) gets the body when asked. */
int th_http_raw(int port, const char *req, size_t reqlen, char **body);
/* GET path; like th_http_raw. */
int th_http_get(int port, const char *path, char **body);

/* ---- processes and topics ------------------------------------------------ */

/* Does any process have `needle` in its command line (/proc)? */
bool th_process_running(const char *needle);
/* Partitions of `topic` on the cluster, from all-topics metadata (naming
 * the topic would make the mock create it); 0 when absent, -1 on error. */
int th_topic_partitions(const char *bootstrap, const char *topic);

#endif
