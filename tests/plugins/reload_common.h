/*
 * reload_common.h — the "reloadable" test plugin, built twice
 * (reload_v1.c, reload_v2.c) with only RELOAD_VERSION differing, so a test
 * can swap the .so under a running host.  For every "reload.input" event it
 * records one row naming the version (and the conf instance and setting
 * `tag`) that handled it, with the time it was handled.
 */
#ifndef RELOAD_COMMON_H
#define RELOAD_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/sdk.h>

static const sy_host_api *reload_host;

typedef struct reload_state {
    char instance[64];
    char tag[64];
} reload_state;

static const char *const reload_migrations[] = {
    "CREATE TABLE reload_effect ("
    " id bigserial PRIMARY KEY, event_id text NOT NULL, pkey text,"
    " seq int NOT NULL, version text NOT NULL, instance text NOT NULL,"
    " tag text, at timestamptz NOT NULL DEFAULT clock_timestamp())",
    NULL,
};

static sy_result reload_on_input(sy_ctx *ctx, const sy_event *ev, void *state)
{
    reload_state *st = state;
    char err[256];
    const char *p[6] = {ev->id, ev->key, ev->payload, RELOAD_VERSION,
                        st->instance, st->tag[0] ? st->tag : NULL};
    if (reload_host->sql(ctx,
                         "INSERT INTO reload_effect (event_id, pkey, seq,"
                         " version, instance, tag) VALUES ($1, $2,"
                         " ($3::jsonb->>'seq')::int, $4, $5, $6)",
                         6, p, NULL, err, sizeof err)) {
        reload_host->log(NULL, ctx, SY_LOG_WARN, "effect insert failed: %s",
                         err);
        return SY_RETRY;
    }
    return SY_OK;
}

static int reload_init(sy_plugin *self, const sy_host_api *api, void **state,
                       char *err, size_t errlen)
{
    reload_host = api;
    reload_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *inst = api->config_get(self, "instance");
    const char *tag = api->config_get(self, "tag");
    snprintf(st->instance, sizeof st->instance, "%s", inst ? inst : "main");
    snprintf(st->tag, sizeof st->tag, "%s", tag ? tag : "");
    *state = st;
    return 0;
}

static void reload_fini(void *state) { free(state); }

static const sy_subscription reload_subs[] = {
    {"reload.input", reload_on_input},
};

SY_PLUGIN_DESCRIPTOR(.name = "reloadable", .version = RELOAD_VERSION,
                     .subscriptions = reload_subs,
                     .n_subscriptions = SY_COUNT(reload_subs),
                     .migrations = reload_migrations, .init = reload_init,
                     .fini = reload_fini);

#endif
