/*
 * mock.c — the embedded Kafka broker: librdkafka's mock cluster (see mock.h).
 *
 * The cluster hangs off a producer handle that never produces: librdkafka
 * needs an rd_kafka_t for the cluster's bookkeeping and thread.  The handle
 * has no bootstrap servers, so it makes no connections of its own; its
 * log lines go to the host log at debug level.
 */
#include "mock.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

enum {
    MOCK_MAX_BROKERS = 9,
    MOCK_MAX_PARTITIONS = 10000,
    MOCK_MAX_RTT_MS = 600000,     /* ten minutes of delay is plenty */
    MOCK_MAX_ERROR_COUNT = 100000,
    MOCK_MAX_WORDS = 8,           /* more than any command takes */
    MOCK_LINE_MAX = 1024,
};

struct yard_mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int brokers;
    char *bootstraps;
};

/* librdkafka's own chatter is for debugging the mock, not for operators. */
static void mock_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                        const char *buf)
{
    (void)rk;
    (void)level;
    yard_log(YARD_LOG_DEBUG, "librdkafka (mock)", "facility", fac, "detail",
             buf, NULL);
}

int yard_mock_start(int brokers, yard_mock **out, char *err, size_t errlen)
{
    if (!out)
        return yard_errf(err, errlen, YARD_EINVAL, "mock: no output handle");
    *out = NULL;
    if (brokers < 1 || brokers > MOCK_MAX_BROKERS)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "mock: broker count %d out of range 1..%d", brokers,
                         MOCK_MAX_BROKERS);

    yard_mock *m = calloc(1, sizeof(*m));
    if (!m)
        return yard_errf(err, errlen, YARD_ENOMEM, "mock: out of memory");
    m->brokers = brokers;

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, mock_log_cb);
    /* No bootstrap.servers: the handle never reaches for a real cluster.
     * The mock's connections take their socket options from this handle:
     * without TCP_NODELAY a response written while the previous one is
     * unacknowledged waits for the peer's delayed ACK (~40 ms), so a
     * producer round touching two partitions took 45 ms.  Kafka brokers
     * set TCP_NODELAY on their sockets too. */
    if (rd_kafka_conf_set(conf, "client.id", "switchyard-mock", errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "socket.nagle.disable", "true", errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        free(m);
        return yard_errf(err, errlen, YARD_EKAFKA, "mock: %s", errstr);
    }
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!m->rk) {
        rd_kafka_conf_destroy(conf);
        free(m);
        return yard_errf(err, errlen, YARD_EKAFKA,
                         "mock: cannot create client handle: %s", errstr);
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        rd_kafka_destroy(m->rk);
        free(m);
        return yard_errf(err, errlen, YARD_EKAFKA,
                         "mock: cannot create a cluster of %d brokers",
                         brokers);
    }
    const char *bs = rd_kafka_mock_cluster_bootstraps(m->mc);
    m->bootstraps = strdup(bs ? bs : "");
    if (!m->bootstraps) {
        yard_mock_stop(m);
        return yard_errf(err, errlen, YARD_ENOMEM, "mock: out of memory");
    }
    char nb[16];
    snprintf(nb, sizeof nb, "%d", brokers);
    yard_log(YARD_LOG_DEBUG, "mock cluster started", "brokers", nb,
             "bootstraps", m->bootstraps, NULL);
    *out = m;
    return 0;
}

const char *yard_mock_bootstraps(const yard_mock *m)
{
    return m ? m->bootstraps : NULL;
}

int yard_mock_topic_create(yard_mock *m, const char *topic, int partitions,
                           char *err, size_t errlen)
{
    if (!m || !topic || !*topic)
        return yard_errf(err, errlen, YARD_EINVAL, "mock: no topic name");
    if (partitions < 1 || partitions > MOCK_MAX_PARTITIONS)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "mock: partition count %d out of range 1..%d",
                         partitions, MOCK_MAX_PARTITIONS);
    rd_kafka_resp_err_t e =
        rd_kafka_mock_topic_create(m->mc, topic, partitions, 1);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return yard_errf(err, errlen, YARD_EKAFKA,
                         "mock: cannot create topic \"%s\": %s", topic,
                         rd_kafka_err2str(e));
    return 0;
}

/* Whole-word integer in [lo, hi]; false on junk, overflow or range. */
static bool parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return false;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Request types a fault test is likely to name; numbers work for any. */
static const struct {
    const char *name;
    int16_t key;
} api_keys[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static bool parse_api_key(const char *s, int16_t *out)
{
    long v;
    if (parse_int(s, 0, INT16_MAX, &v)) {
        *out = (int16_t)v;
        return true;
    }
    for (size_t i = 0; i < sizeof api_keys / sizeof api_keys[0]; i++) {
        if (strcasecmp(s, api_keys[i].name) == 0) {
            *out = api_keys[i].key;
            return true;
        }
    }
    return false;
}

/* A number, or a librdkafka error name with or without its
 * "RD_KAFKA_RESP_ERR_" prefix (NOT_LEADER_FOR_PARTITION, _TRANSPORT). */
static bool parse_err_code(const char *s, rd_kafka_resp_err_t *out)
{
    long v;
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    if (parse_int(s, INT_MIN, INT_MAX, &v)) {
        for (size_t i = 0; i < n; i++) {
            if (descs[i].name && (long)descs[i].code == v) {
                *out = descs[i].code;
                return true;
            }
        }
        return false;
    }
    static const char prefix[] = "RD_KAFKA_RESP_ERR_";
    if (strncasecmp(s, prefix, sizeof prefix - 1) == 0)
        s += sizeof prefix - 1;
    for (size_t i = 0; i < n; i++) {
        if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
            *out = descs[i].code;
            return true;
        }
    }
    return false;
}

static int bad_word(char *err, size_t errlen, const char *what,
                    const char *word)
{
    return yard_errf(err, errlen, YARD_EINVAL, "bad %s \"%s\"", what, word);
}

/* Broker ids run 1..brokers. */
static int parse_broker(const yard_mock *m, const char *w, int32_t *id,
                        char *err, size_t errlen)
{
    long v;
    if (!parse_int(w, 1, m->brokers, &v))
        return yard_errf(err, errlen, YARD_EINVAL,
                         "bad broker id \"%s\" (brokers are 1..%d)", w,
                         m->brokers);
    *id = (int32_t)v;
    return 0;
}

/* The cluster refused a well-formed command: say which, and why. */
static int kafka_fail(char *err, size_t errlen, char **w, size_t n,
                      rd_kafka_resp_err_t e)
{
    char cmd[MOCK_LINE_MAX] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && len < sizeof cmd; i++)
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, "%s%s",
                                i ? " " : "", w[i]);
    return yard_errf(err, errlen, YARD_EKAFKA, "%s: %s", cmd,
                     rd_kafka_err2str(e));
}

static int cmd_error(yard_mock *m, char **w, char *err, size_t errlen)
{
    int16_t api;
    rd_kafka_resp_err_t code;
    long cnt;
    if (!parse_api_key(w[1], &api))
        return bad_word(err, errlen, "API key", w[1]);
    if (!parse_err_code(w[2], &code))
        return bad_word(err, errlen, "error code", w[2]);
    if (!parse_int(w[3], 1, MOCK_MAX_ERROR_COUNT, &cnt))
        return bad_word(err, errlen, "count", w[3]);
    rd_kafka_resp_err_t *codes = malloc((size_t)cnt * sizeof(*codes));
    if (!codes)
        return yard_errf(err, errlen, YARD_ENOMEM, "error: out of memory");
    for (long i = 0; i < cnt; i++)
        codes[i] = code;
    rd_kafka_mock_push_request_errors_array(m->mc, api, (size_t)cnt, codes);
    free(codes);
    return 0;
}

int yard_mock_command(yard_mock *m, const char *line, char *err,
                      size_t errlen)
{
    if (!m || !line)
        return yard_errf(err, errlen, YARD_EINVAL, "no command");
    size_t len = strlen(line);
    if (len >= MOCK_LINE_MAX)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "command longer than %d bytes", MOCK_LINE_MAX - 1);
    char buf[MOCK_LINE_MAX];
    memcpy(buf, line, len + 1);

    char *w[MOCK_MAX_WORDS];
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " \t\r\n", &save); t;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == MOCK_MAX_WORDS)
            return yard_errf(err, errlen, YARD_EINVAL, "unexpected word \"%s\"",
                             t);
        w[n++] = t;
    }
    if (n == 0)
        return yard_errf(err, errlen, YARD_EINVAL, "empty command");

    static const struct {
        const char *name;
        size_t words; /* including the command word */
        const char *usage;
    } cmds[] = {
        {"topic", 3, "topic NAME PARTITIONS"},
        {"down", 2, "down BROKER_ID"},
        {"up", 2, "up BROKER_ID"},
        {"leader", 4, "leader TOPIC PARTITION BROKER"},
        {"rtt", 3, "rtt BROKER_ID MS"},
        {"error", 4, "error APIKEY ERRCODE COUNT"},
    };
    size_t c;
    for (c = 0; c < sizeof cmds / sizeof cmds[0]; c++)
        if (strcmp(w[0], cmds[c].name) == 0)
            break;
    if (c == sizeof cmds / sizeof cmds[0])
        return yard_errf(err, errlen, YARD_EINVAL,
                         "unknown command \"%s\" (topic, down, up, leader, "
                         "rtt, error)",
                         w[0]);
    if (n > cmds[c].words)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "unexpected word \"%s\" (usage: %s)",
                         w[cmds[c].words], cmds[c].usage);
    if (n < cmds[c].words)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "\"%s\" needs %zu arguments (usage: %s)", w[0],
                         cmds[c].words - 1, cmds[c].usage);

    long v;
    int32_t id;
    int rc;
    rd_kafka_resp_err_t e;
    switch (c) {
    case 0: /* topic */
        if (!parse_int(w[2], 1, MOCK_MAX_PARTITIONS, &v))
            return bad_word(err, errlen, "partition count", w[2]);
        return yard_mock_topic_create(m, w[1], (int)v, err, errlen);
    case 1: /* down */
    case 2: /* up */
        if ((rc = parse_broker(m, w[1], &id, err, errlen)) != 0)
            return rc;
        e = c == 1 ? rd_kafka_mock_broker_set_down(m->mc, id)
                   : rd_kafka_mock_broker_set_up(m->mc, id);
        return e ? kafka_fail(err, errlen, w, n, e) : 0;
    case 3: /* leader */
        if (!parse_int(w[2], 0, MOCK_MAX_PARTITIONS - 1, &v))
            return bad_word(err, errlen, "partition", w[2]);
        /* -1 leaves the partition without a leader. */
        if (strcmp(w[3], "-1") == 0)
            id = -1;
        else if ((rc = parse_broker(m, w[3], &id, err, errlen)) != 0)
            return rc;
        e = rd_kafka_mock_partition_set_leader(m->mc, w[1], (int32_t)v, id);
        return e ? kafka_fail(err, errlen, w, n, e) : 0;
    case 4: /* rtt */
        if ((rc = parse_broker(m, w[1], &id, err, errlen)) != 0)
            return rc;
        if (!parse_int(w[2], 0, MOCK_MAX_RTT_MS, &v))
            return bad_word(err, errlen, "delay (ms)", w[2]);
        e = rd_kafka_mock_broker_set_rtt(m->mc, id, (int)v);
        return e ? kafka_fail(err, errlen, w, n, e) : 0;
    default: /* error */
        return cmd_error(m, w, err, errlen);
    }
}

void yard_mock_stop(yard_mock *m)
{
    if (!m)
        return;
    if (m->mc)
        rd_kafka_mock_cluster_destroy(m->mc);
    if (m->rk)
        rd_kafka_destroy(m->rk);
    free(m->bootstraps);
    free(m);
}
