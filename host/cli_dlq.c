/* cli_dlq.c — `switchyard dlq`: list, show, replay (cli_dlq.h). */
#include "cli_dlq.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "store.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_CONFIG = 3, EX_NONE = 4 };

#define MAX_IDS 1024
#define MAX_PARAMS 16
#define DEFAULT_LIMIT 100
#define ERRLEN 1024
/* A replay bigger than this would be refused by the broker (librdkafka's
 * default message.max.bytes is 1,000,000) and stop the relay behind it. */
#define REPLAY_MAX_VALUE 900000

static const char dlq_usage[] =
    "usage: switchyard dlq [--conf-dir DIR] list [FILTERS] [--json] [--limit N]\n"
    "       switchyard dlq [--conf-dir DIR] show ID [--json]\n"
    "       switchyard dlq [--conf-dir DIR] replay (ID... | FILTERS | --all)"
    " [--dry-run]\n"
    "\n"
    "FILTERS: --group G  --type T  --code C  --since T  --until T\n"
    "         --pending (not replayed)  --replayed\n"
    "  T is a timestamp (2026-11-22T06:00:00Z) or an age (30m, 2h, 7d).\n"
    "replay sends each dead letter back to its original topic with its\n"
    "original key, value and headers, marks it replayed and lets its group\n"
    "handle the event again; a dead letter is replayed at most once.\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage, 3 configuration error, 4 nothing\n"
    "matched\n";

typedef struct dlq_args {
    const char *conf_dir;
    const char *sub;
    const char *group, *type, *code, *since, *until;
    bool pending, replayed, all, json, dry_run, help;
    long limit;
    const char *ids[MAX_IDS];
    size_t n_ids;
} dlq_args;

static bool is_number(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int parse(int argc, char **argv, dlq_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = NULL;
        if (strcmp(s, "--conf-dir") == 0)
            slot = &a->conf_dir;
        else if (strcmp(s, "--group") == 0)
            slot = &a->group;
        else if (strcmp(s, "--type") == 0)
            slot = &a->type;
        else if (strcmp(s, "--code") == 0)
            slot = &a->code;
        else if (strcmp(s, "--since") == 0)
            slot = &a->since;
        else if (strcmp(s, "--until") == 0)
            slot = &a->until;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "switchyard dlq: %s needs a value\n", s);
                return -1;
            }
            *slot = argv[++i];
        } else if (strcmp(s, "--limit") == 0) {
            if (i + 1 >= argc || !is_number(argv[i + 1])) {
                fprintf(stderr, "switchyard dlq: --limit needs a number\n");
                return -1;
            }
            a->limit = atol(argv[++i]);
        } else if (strcmp(s, "--pending") == 0) {
            a->pending = true;
        } else if (strcmp(s, "--replayed") == 0) {
            a->replayed = true;
        } else if (strcmp(s, "--all") == 0) {
            a->all = true;
        } else if (strcmp(s, "--json") == 0) {
            a->json = true;
        } else if (strcmp(s, "--dry-run") == 0 || strcmp(s, "-n") == 0) {
            a->dry_run = true;
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = true;
        } else if (s[0] == '-') {
            fprintf(stderr, "switchyard dlq: unknown option '%s'\n", s);
            return -1;
        } else if (!a->sub) {
            a->sub = s;
        } else if (is_number(s) && a->n_ids < MAX_IDS) {
            a->ids[a->n_ids++] = s;
        } else {
            fprintf(stderr, "switchyard dlq: '%s' is not a dead letter id\n", s);
            return -1;
        }
    }
    if (a->help)
        return 0;
    if (!a->sub)
        return -1;
    if (a->pending && a->replayed) {
        fprintf(stderr, "switchyard dlq: --pending and --replayed exclude each "
                        "other\n");
        return -1;
    }
    return 0;
}

static bool has_filter(const dlq_args *a)
{
    return a->group || a->type || a->code || a->since || a->until ||
           a->pending || a->replayed;
}

/* The WHERE clause of a selection, with its parameters. */
typedef struct where {
    char sql[1024];
    const char *params[MAX_PARAMS];
    int n;
    char idlist[MAX_IDS * 24];
    char since[32], until[32]; /* ages as intervals */
} where;

static void add_cond(where *w, const char *fmt, const char *value)
{
    size_t len = strlen(w->sql);
    const char *glue = len ? " AND " : " WHERE ";
    char cond[256];
    if (value) {
        w->params[w->n++] = value;
        snprintf(cond, sizeof cond, fmt, w->n);
    } else {
        snprintf(cond, sizeof cond, "%s", fmt);
    }
    snprintf(w->sql + len, sizeof w->sql - len, "%s%s", glue, cond);
}

/* An age such as 30m, 2h, 7d or 90s as an interval ("30 min"), into buf;
 * false when s is not an age (then it is taken as a timestamp). */
static bool age_interval(const char *s, char *buf, size_t len)
{
    size_t digits = strspn(s, "0123456789");
    if (!digits || digits > 9 || !s[digits] || s[digits + 1] ||
        !strchr("smhd", s[digits]))
        return false;
    const char *unit = s[digits] == 's'   ? "sec"
                       : s[digits] == 'm' ? "min"
                       : s[digits] == 'h' ? "hour"
                                          : "day";
    snprintf(buf, len, "%.*s %s", (int)digits, s, unit);
    return true;
}

static void build_where(const dlq_args *a, where *w)
{
    memset(w, 0, sizeof *w);
    if (a->n_ids) {
        size_t pos = 0;
        for (size_t i = 0; i < a->n_ids; i++)
            pos += (size_t)snprintf(w->idlist + pos, sizeof w->idlist - pos,
                                    "%s%s", i ? "," : "{", a->ids[i]);
        snprintf(w->idlist + pos, sizeof w->idlist - pos, "}");
        add_cond(w, "id = ANY($%d::bigint[])", w->idlist);
    }
    if (a->group)
        add_cond(w, "consumer_group = $%d", a->group);
    if (a->type)
        add_cond(w, "event_type = $%d", a->type);
    if (a->code)
        add_cond(w, "error_code = $%d", a->code);
    /* An age counts back from now; anything else is cast as a timestamp
     * (and a bad one gets PostgreSQL's own message). */
    if (a->since)
        add_cond(w,
                 age_interval(a->since, w->since, sizeof w->since)
                     ? "failed_at >= now() - $%d::interval"
                     : "failed_at >= $%d::timestamptz",
                 age_interval(a->since, w->since, sizeof w->since) ? w->since
                                                                   : a->since);
    if (a->until)
        add_cond(w,
                 age_interval(a->until, w->until, sizeof w->until)
                     ? "failed_at < now() - $%d::interval"
                     : "failed_at < $%d::timestamptz",
                 age_interval(a->until, w->until, sizeof w->until) ? w->until
                                                                   : a->until);
    if (a->pending)
        add_cond(w, "replayed_at IS NULL", NULL);
    if (a->replayed)
        add_cond(w, "replayed_at IS NOT NULL", NULL);
}

static PGresult *query(PGconn *c, const char *sql, const where *w)
{
    PGresult *r = PQexecParams(c, sql, w ? w->n : 0, NULL, w ? w->params : NULL,
                               NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char err[ERRLEN];
        yard_db_classify(c, r, err, sizeof err);
        fprintf(stderr, "switchyard dlq: %s\n", err);
        PQclear(r);
        return NULL;
    }
    return r;
}

static const char *val(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* A bytea column as JSON: a string when it is UTF-8 text, else an empty
 * object the caller fills with {"base64": ...}; null when NULL. */
static json_t *bytes_json(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    size_t n = 0;
    unsigned char *b =
        PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (!b)
        return json_null();
    json_t *s = memchr(b, 0, n) ? NULL : json_stringn((const char *)b, n);
    PQfreemem(b);
    if (s)
        return s;
    return json_object();
}

#define LIST_COLS                                                             \
    "id, to_char(failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"\
    " consumer_group, plugin, plugin_version, event_id, event_type,"          \
    " error_code, error_message, error_details::text, attempts, topic,"       \
    " kafka_partition, kafka_offset,"                                         \
    " to_char(replayed_at AT TIME ZONE 'UTC',"                                \
    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* One dead letter as JSON, in the {code, message, details} error
 * contract; absent values are null.  Columns in LIST_COLS order. */
static json_t *entry_json(const PGresult *r, int i)
{
    json_error_t je;
    const char *det = val(r, i, 9);
    json_t *details = det ? json_loads(det, 0, &je) : NULL;
    return json_pack(
        "{sI ss ss ss ss? ss? ss? s{ss ss so} si ss si sI ss?}", "id",
        (json_int_t)atoll(val(r, i, 0)), "failed_at", val(r, i, 1),
        "consumer_group", val(r, i, 2), "plugin", val(r, i, 3),
        "plugin_version", val(r, i, 4), "event_id", val(r, i, 5), "event_type",
        val(r, i, 6), "error", "code", val(r, i, 7), "message", val(r, i, 8),
        "details", details ? details : json_object(), "attempts",
        atoi(val(r, i, 10)), "topic", val(r, i, 11), "partition",
        atoi(val(r, i, 12)), "offset", (json_int_t)atoll(val(r, i, 13)),
        "replayed_at", val(r, i, 14));
}

static void print_json(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(j);
}

static int cmd_list(PGconn *c, const dlq_args *a)
{
    where w;
    build_where(a, &w);
    char sql[2048];
    long limit = a->limit >= 0 ? a->limit : DEFAULT_LIMIT;
    char lim[32] = "";
    if (limit > 0)
        snprintf(lim, sizeof lim, " LIMIT %ld", limit);
    snprintf(sql, sizeof sql,
             "SELECT " LIST_COLS " FROM yard_dead_letter%s ORDER BY id%s",
             w.sql, lim);
    PGresult *r = query(c, sql, &w);
    if (!r)
        return EX_FAIL;
    int n = PQntuples(r);
    if (a->json) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(arr, entry_json(r, i));
        print_json(arr);
    } else {
        printf("%-8s %-20s %-16s %-22s %4s %-36s %-24s %s\n", "ID", "FAILED_AT",
               "GROUP", "CODE", "ATT", "EVENT_ID", "TYPE", "REPLAYED_AT");
        for (int i = 0; i < n; i++) {
            const char *id = val(r, i, 5), *type = val(r, i, 6),
                       *rep = val(r, i, 14);
            /* Columns 0, 1, 2, 7 and 10 are NOT NULL in the table. */
            printf("%-8s %-20s %-16s %-22s %4s %-36s %-24s %s\n",
                   PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                   PQgetvalue(r, i, 7), PQgetvalue(r, i, 10), id ? id : "-",
                   type ? type : "-", rep ? rep : "-");
        }
        printf("%d dead letter(s)%s\n", n,
               limit > 0 && n == limit ? " (limit reached: --limit 0 for all)"
                                       : "");
    }
    PQclear(r);
    return EX_OK;
}

static int cmd_show(PGconn *c, const dlq_args *a)
{
    if (a->n_ids != 1 || has_filter(a) || a->all) {
        fprintf(stderr, "switchyard dlq show: give exactly one ID\n");
        return EX_USAGE;
    }
    where w;
    build_where(a, &w);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT " LIST_COLS ", original_key, original_value,"
             " original_headers::text, encode(original_value, 'base64'),"
             " encode(original_key, 'base64'),"
             " EXISTS (SELECT 1 FROM yard_inbox i WHERE"
             "  i.consumer_group = d.consumer_group AND i.event_id = d.event_id)"
             " FROM yard_dead_letter d%s",
             w.sql);
    PGresult *r = query(c, sql, &w);
    if (!r)
        return EX_FAIL;
    if (PQntuples(r) != 1) {
        fprintf(stderr, "switchyard dlq show: no dead letter %s\n", a->ids[0]);
        PQclear(r);
        return EX_NONE;
    }
    json_t *j = entry_json(r, 0);
    json_t *key = bytes_json(r, 0, 15), *value = bytes_json(r, 0, 16);
    if (json_is_object(key))
        json_object_set_new(key, "base64", json_string(val(r, 0, 19)));
    if (json_is_object(value))
        json_object_set_new(value, "base64", json_string(val(r, 0, 18)));
    json_error_t je;
    json_t *hdrs = json_loads(val(r, 0, 17), 0, &je);
    /* Parse a JSON value back so it prints as JSON, not as a string. */
    if (json_is_string(value)) {
        json_t *doc = json_loads(json_string_value(value), JSON_DECODE_ANY, &je);
        if (doc)
            json_object_set_new(j, "original_value_json", doc);
    }
    json_object_set_new(j, "original_key", key);
    json_object_set_new(j, "original_value", value);
    json_object_set_new(j, "original_headers", hdrs ? hdrs : json_array());
    json_object_set_new(j, "inbox_row", json_boolean(val(r, 0, 20)[0] == 't'));
    PQclear(r);
    if (a->json) {
        print_json(j);
        return EX_OK;
    }
    /* Human form: one "name: value" per line, JSON values compact. */
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        char *s = json_is_string(v)
                      ? strdup(json_string_value(v))
                      : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
                                          JSON_PRESERVE_ORDER);
        printf("%-20s %s\n", k, s ? s : "");
        free(s);
    }
    json_decref(j);
    return EX_OK;
}

/* Replay one dead letter in its own transaction.  Returns 1 when replayed
 * (or would be, dry run), 0 when it was replayed meanwhile, -1 on error. */
static int replay_one(PGconn *c, const char *id, bool dry_run)
{
    char err[ERRLEN];
    const char *p[1] = {id};
    if (yard_db_exec(c, "BEGIN", err, sizeof err))
        goto fail;
    /* The row lock serialises concurrent replays of one dead letter. */
    PGresult *r = PQexecParams(
        c,
        "SELECT consumer_group, event_id, topic, error_code,"
        " EXISTS (SELECT 1 FROM yard_inbox i WHERE"
        "  i.consumer_group = d.consumer_group AND i.event_id = d.event_id),"
        " coalesce(length(original_value), 0)"
        " FROM yard_dead_letter d WHERE id = $1::bigint AND replayed_at IS NULL"
        " FOR UPDATE",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        yard_db_classify(c, r, err, sizeof err);
        PQclear(r);
        goto fail;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        yard_db_exec(c, "ROLLBACK", NULL, 0);
        return 0;
    }
    const char *evid = val(r, 0, 1);
    if (atoll(val(r, 0, 5)) > REPLAY_MAX_VALUE) {
        snprintf(err, sizeof err, "value of %s bytes is too large to publish",
                 val(r, 0, 5));
        PQclear(r);
        goto fail;
    }
    printf("%s #%s: event %s (group %s, %s) -> topic %s%s\n",
           dry_run ? "would replay" : "replay", id, evid ? evid : "(undecodable)",
           val(r, 0, 0), val(r, 0, 3), val(r, 0, 2),
           val(r, 0, 4)[0] == 't' ? ", inbox row deleted" : "");
    PQclear(r);
    if (dry_run) {
        yard_db_exec(c, "ROLLBACK", NULL, 0);
        return 1;
    }
    /* Same key, value and headers (ce_id: the same event id); the relay
     * publishes it like any outbox row.  An undecodable message has no
     * event id: its outbox row gets one naming the dead letter. */
    static const char *const steps[] = {
        "INSERT INTO yard_outbox (topic, partition_key, event_id, headers,"
        " payload) SELECT topic, convert_from(original_key, 'UTF8'),"
        " coalesce(event_id, 'dlq-replay-' || id), original_headers ||"
        " jsonb_build_array(jsonb_build_array('yard_replay_of', id::text)),"
        " coalesce(original_value, ''::bytea)"
        " FROM yard_dead_letter WHERE id = $1::bigint",
        "DELETE FROM yard_inbox i USING yard_dead_letter d"
        " WHERE d.id = $1::bigint AND i.consumer_group = d.consumer_group"
        " AND i.event_id = d.event_id",
        "UPDATE yard_dead_letter SET replayed_at = now() WHERE id = $1::bigint",
    };
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        r = PQexecParams(c, steps[s], 1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            yard_db_classify(c, r, err, sizeof err);
            PQclear(r);
            goto fail;
        }
        PQclear(r);
    }
    if (yard_db_exec(c, "COMMIT", err, sizeof err))
        goto fail;
    return 1;
fail:
    yard_db_exec(c, "ROLLBACK", NULL, 0);
    fprintf(stderr, "switchyard dlq replay #%s: %s\n", id, err);
    return -1;
}

static int cmd_replay(PGconn *c, dlq_args *a)
{
    if (!a->n_ids && !has_filter(a) && !a->all) {
        fprintf(stderr, "switchyard dlq replay: give IDs, filters or --all\n");
        return EX_USAGE;
    }
    if (a->replayed) {
        fprintf(stderr, "switchyard dlq replay: a dead letter is replayed at "
                        "most once; --replayed selects none\n");
        return EX_USAGE;
    }
    a->pending = true;
    where w;
    build_where(a, &w);
    char sql[2048];
    snprintf(sql, sizeof sql, "SELECT id FROM yard_dead_letter%s ORDER BY id",
             w.sql);
    PGresult *r = query(c, sql, &w);
    if (!r)
        return EX_FAIL;
    int n = PQntuples(r);
    size_t done = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        int rc = replay_one(c, PQgetvalue(r, i, 0), a->dry_run);
        done += rc > 0;
        failed += rc < 0;
    }
    PQclear(r);
    /* Explicit IDs that were not pending: unknown or already replayed. */
    size_t missing = a->n_ids > (size_t)n ? a->n_ids - (size_t)n : 0;
    if (missing)
        fprintf(stderr, "switchyard dlq replay: %zu ID(s) unknown or already "
                        "replayed\n", missing);
    printf("%zu dead letter(s) %s%s\n", done,
           a->dry_run ? "would be replayed (dry run: nothing changed)"
                      : "replayed",
           failed ? ", some failed (see above)" : "");
    if (failed)
        return EX_FAIL;
    return missing || (a->n_ids && !done) ? EX_NONE : EX_OK;
}

int yard_cli_dlq(int argc, char **argv, const char *default_conf_dir)
{
    dlq_args a;
    memset(&a, 0, sizeof a);
    a.limit = -1;
    if (parse(argc, argv, &a)) {
        fputs(dlq_usage, stderr);
        return EX_USAGE;
    }
    if (a.help || strcmp(a.sub, "help") == 0) {
        fputs(dlq_usage, stdout);
        return EX_OK;
    }
    bool list = strcmp(a.sub, "list") == 0, show = strcmp(a.sub, "show") == 0,
         replay = strcmp(a.sub, "replay") == 0;
    if (!list && !show && !replay) {
        fprintf(stderr, "switchyard dlq: unknown command '%s'\n\n%s", a.sub,
                dlq_usage);
        return EX_USAGE;
    }
    if ((a.all || a.dry_run) && !replay) {
        fprintf(stderr, "switchyard dlq: --all and --dry-run are for replay\n");
        return EX_USAGE;
    }
    yard_config *cfg = NULL;
    yard_diag d = YARD_DIAG_INIT;
    const char *dir = a.conf_dir ? a.conf_dir : default_conf_dir;
    int rc = yard_config_load(dir, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    yard_diag_clear(&d);
    if (rc)
        return EX_CONFIG;
    PGconn *c = NULL;
    char err[ERRLEN];
    rc = yard_db_connect(cfg->postgres_dsn, &c, err, sizeof err);
    yard_config_free(cfg);
    if (rc) {
        fprintf(stderr, "switchyard dlq: %s\n", err);
        return EX_FAIL;
    }
    int ex = list ? cmd_list(c, &a) : show ? cmd_show(c, &a) : cmd_replay(c, &a);
    PQfinish(c);
    return ex;
}
