/*
 * hop_b — second hop of the propagation test: every "prop.middle" event
 * becomes one "prop.output" event (a type without a schema: not checked,
 * keyed like its cause).
 */
#include <stdio.h>
#include <string.h>

#include <switchyard/sdk.h>

static const sy_host_api *host;

static sy_result on_middle(sy_ctx *ctx, const sy_event *ev, void *state)
{
    (void)state;
    char payload[512], err[512];
    snprintf(payload, sizeof payload, "{\"hops\":2,\"from\":%s}", ev->payload);
    sy_emit out = SY_EMIT_INIT;
    out.type = "prop.output";
    out.payload = payload;
    if (host->emit(ctx, &out, err, sizeof err)) {
        host->log(NULL, ctx, SY_LOG_ERROR, "emit failed: %s", err);
        return SY_REJECT;
    }
    return SY_OK;
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

static const sy_subscription subs[] = {
    {"prop.middle", on_middle},
};

SY_PLUGIN_DESCRIPTOR(.name = "hop_b", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .init = init);
