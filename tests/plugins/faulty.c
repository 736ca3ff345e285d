/*
 * faulty — the failure tests' plugin.  For every "<run>.input" event it
 * records one effect row (with the commit-side clock) unless the payload's
 * "mode" says otherwise:
 *   "mode":"reject"          answer REJECT (a poison pill)
 *   "mode":"reject_first"    REJECT in the first attempt, then OK (a
 *                            poison pill that a DLQ replay gets through)
 *   "mode":"retry","k":N     answer RETRY in the first N attempts, then OK
 *   "mode":"retry_always"    answer RETRY every time
 *   "mode":"emit_huge"       emit a 1 MB event; REJECT when emit refuses it
 *   "mode":"slow","ms":N     sleep N ms, then handle it
 *   "mode":"crash"           take the process down with SIGSEGV, every time
 * Attempts, not calls: the host may call a handler twice in one
 * attempt (a batch's fast path gives way to the careful one and is rolled
 * back), so calls less than ROUND_GAP_MS after the previous call of the
 * same event belong to the same attempt.  Tests set a retry backoff well
 * above ROUND_GAP_MS.  Handler calls of events with a mode are appended to
 * the file named by the `call_log` setting as "EVENT_ID ATTEMPT CALL
 * REALTIME_MS" lines, outside any transaction, so rolled-back calls are
 * counted too.  The counters per event id live in memory, under a mutex.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/sdk.h>

#define MAX_TRACKED 256
#define ROUND_GAP_MS 150
#define HUGE_EMIT_BYTES (1000 * 1000)

static const sy_host_api *host;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char id[96];
    unsigned calls, attempts;
    long long last_ms;
} tracked[MAX_TRACKED];
static size_t n_tracked;
static int log_fd = -1;

static const char *const migrations[] = {
    "CREATE TABLE faulty_effect (id bigserial PRIMARY KEY,"
    " event_id text NOT NULL, pkey text, payload jsonb NOT NULL,"
    " at timestamptz NOT NULL DEFAULT clock_timestamp())",
    NULL,
};

/* Count a call; returns the attempt it belongs to (1, 2, ...). */
static unsigned count_call(const char *id)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    pthread_mutex_lock(&mu);
    size_t i = 0;
    while (i < n_tracked && strcmp(tracked[i].id, id) != 0)
        i++;
    if (i == n_tracked && n_tracked < MAX_TRACKED)
        snprintf(tracked[n_tracked++].id, sizeof tracked[0].id, "%s", id);
    unsigned attempt = 0, call = 0;
    if (i < MAX_TRACKED) {
        if (!tracked[i].calls || now - tracked[i].last_ms >= ROUND_GAP_MS)
            tracked[i].attempts++;
        tracked[i].last_ms = now;
        call = ++tracked[i].calls;
        attempt = tracked[i].attempts;
    }
    pthread_mutex_unlock(&mu);
    char line[160];
    int len = snprintf(line, sizeof line, "%s %u %u %lld\n", id, attempt, call,
                       now);
    if (log_fd >= 0 && len > 0 && write(log_fd, line, (size_t)len) < 0)
        host->log(NULL, NULL, SY_LOG_WARN, "call log write failed");
    return attempt;
}

static sy_result on_input(sy_ctx *ctx, const sy_event *ev, void *state)
{
    (void)state;
    const char *mode = strstr(ev->payload, "\"mode\":\"");
    if (mode) {
        mode += 8;
        unsigned attempt = count_call(ev->id);
        if (strncmp(mode, "crash\"", 6) == 0)
            raise(SIGSEGV); /* what a stray pointer in a plugin does */
        if (strncmp(mode, "reject\"", 7) == 0)
            return SY_REJECT;
        if (strncmp(mode, "reject_first\"", 13) == 0 && attempt == 1)
            return SY_REJECT;
        if (strncmp(mode, "retry_always\"", 13) == 0)
            return SY_RETRY;
        if (strncmp(mode, "emit_huge\"", 10) == 0) {
            size_t n = HUGE_EMIT_BYTES;
            char *big = malloc(n + 1), err[256];
            if (!big)
                return SY_RETRY;
            memset(big, 'x', n);
            memcpy(big, "{\"pad\":\"", 8);
            memcpy(big + n - 2, "\"}", 2);
            big[n] = '\0';
            sy_emit out = SY_EMIT_INIT;
            out.type = "faulty.huge";
            out.payload = big;
            out.payload_len = n;
            int rc = host->emit(ctx, &out, err, sizeof err);
            free(big);
            if (rc) {
                host->log(NULL, ctx, SY_LOG_WARN, "emit refused: %s", err);
                return SY_REJECT;
            }
        }
        const char *k = strstr(ev->payload, "\"k\":");
        const char *ms = strstr(ev->payload, "\"ms\":");
        if (strncmp(mode, "slow\"", 5) == 0 && ms)
            usleep((useconds_t)atoi(ms + 5) * 1000);
        if (strncmp(mode, "retry\"", 6) == 0 && k &&
            attempt <= (unsigned)atoi(k + 4))
            return SY_RETRY;
    }
    char err[256];
    const char *p[3] = {ev->id, ev->key, ev->payload};
    if (host->sql(ctx,
                  "INSERT INTO faulty_effect (event_id, pkey, payload)"
                  " VALUES ($1, $2, $3::jsonb)",
                  3, p, NULL, err, sizeof err)) {
        host->log(NULL, ctx, SY_LOG_WARN, "effect insert failed: %s", err);
        return SY_RETRY;
    }
    return SY_OK;
}

static int init(sy_plugin *self, const sy_host_api *api, void **state,
                char *err, size_t errlen)
{
    host = api;
    *state = NULL;
    const char *path = api->config_get(self, "call_log");
    if (path) {
        log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            snprintf(err, errlen, "cannot open call_log %s", path);
            return -1;
        }
    }
    return 0;
}

static void fini(void *state)
{
    (void)state;
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
}

static const sy_subscription subs[] = {
    {"*.input", on_input},
};

SY_PLUGIN_DESCRIPTOR(.name = "faulty", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = init, .fini = fini);
