/*
 * bench_sink — the benchmark's handler: one domain row and one emitted
 * event per input, the work issue scenario H1 measures.  Built twice, as
 * 1.0.0 and (BENCH_SINK_VERSION) 1.0.1: H4 swaps them under load.
 */
#include <stdio.h>
#include <string.h>

#include <switchyard/sdk.h>

#ifndef BENCH_SINK_VERSION
#define BENCH_SINK_VERSION "1.0.0"
#endif

static const sy_host_api *host;

static const char *const migrations[] = {
    "CREATE TABLE bench_effect (event_id text NOT NULL, pkey text,"
    " payload jsonb NOT NULL)",
    NULL,
};

static sy_result on_event(sy_ctx *ctx, const sy_event *ev, void *state)
{
    (void)state;
    char err[256];
    const char *p[3] = {ev->id, ev->key, ev->payload};
    if (host->sql(ctx,
                  "INSERT INTO bench_effect (event_id, pkey, payload)"
                  " VALUES ($1, $2, $3::jsonb)",
                  3, p, NULL, err, sizeof err))
        return SY_RETRY;
    char payload[128];
    snprintf(payload, sizeof payload, "{\"source_id\":\"%s\"}", ev->id);
    sy_emit out = SY_EMIT_INIT;
    out.type = "bench.done";
    out.payload = payload;
    return host->emit(ctx, &out, err, sizeof err) ? SY_REJECT : SY_OK;
}

static int init(sy_plugin *self, const sy_host_api *api, void **state,
                char *err, size_t errlen)
{
    (void)self;
    (void)err;
    (void)errlen;
    host = api;
    *state = NULL;
    return 0;
}

static const sy_subscription subs[] = {{"bench.input", on_event}};

SY_PLUGIN_DESCRIPTOR(.name = "bench_sink", .version = BENCH_SINK_VERSION,
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = init);
