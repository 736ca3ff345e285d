/*
 * hop_a — first hop of the propagation test (tests/integration/
 * test_propagation.c).  For every "prop.input" event it emits one
 * "prop.middle" event without key or id, so the host derives the key from
 * the schema's x-partition-key and makes the id.  An input carrying
 * "bad_emit":true makes it emit a payload its schema refuses; it ignores
 * emit()'s error and answers OK, and the host must fail the event anyway.
 */
#include <stdio.h>
#include <string.h>

#include <switchyard/sdk.h>

static const sy_host_api *host;

/* The string value of "name" in a flat JSON object, copied into out. */
static const char *field(const char *json, const char *name, char *out,
                         size_t len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", name);
    const char *p = strstr(json, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e)
        return NULL;
    snprintf(out, len, "%.*s", (int)(e - p), p);
    return out;
}

static sy_result on_input(sy_ctx *ctx, const sy_event *ev, void *state)
{
    (void)state;
    char order[64], region[64], payload[256], err[512];
    if (!field(ev->payload, "order", order, sizeof order) ||
        !field(ev->payload, "region", region, sizeof region))
        return SY_REJECT;
    if (strstr(ev->payload, "\"bad_emit\":true"))
        snprintf(payload, sizeof payload, "{\"order\":\"%s\",\"hop\":\"one\"}",
                 order); /* no region, hop not an int */
    else
        snprintf(payload, sizeof payload,
                 "{\"order\":\"%s\",\"region\":\"%s\",\"hop\":1}", order, region);
    sy_emit out = SY_EMIT_INIT;
    out.type = "prop.middle";
    out.payload = payload;
    if (host->emit(ctx, &out, err, sizeof err))
        host->log(NULL, ctx, SY_LOG_WARN, "emit refused: %s", err);
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
    {"prop.input", on_input},
};

SY_PLUGIN_DESCRIPTOR(.name = "hop_a", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .init = init);
