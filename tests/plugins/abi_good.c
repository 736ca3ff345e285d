/*
 * abi_good.c — a valid test plugin: two subscriptions, one migration, and an
 * init()/fini() pair whose state the test can see.  init() reads the
 * "greeting" setting and bumps a counter through the host API table, and
 * fini() logs through it, so the test observes both ends of the lifecycle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/sdk.h>

#include "abi_good.h"

typedef abi_good_state good_state;

static sy_result on_order(sy_ctx *ctx, const sy_event *ev, void *state)
{
    ((good_state *)state)->order_calls++;
    return SY_OK;
}

static sy_result on_status(sy_ctx *ctx, const sy_event *ev, void *state)
{
    ((good_state *)state)->status_calls++;
    return SY_OK;
}

static int good_init(sy_plugin *self, const sy_host_api *api, void **state,
                     char *err, size_t errlen)
{
    good_state *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *greeting = api->config_get(self, "greeting");
    snprintf(s->text, sizeof s->text, "hello %s", greeting ? greeting : "?");
    s->api = api;
    s->self = self;
    api->metric_add(self, "inits", 1);
    *state = s;
    return 0;
}

static void good_fini(void *state)
{
    good_state *s = state;
    s->api->log(s->self, NULL, SY_LOG_INFO, "fini %s", s->text);
    free(s);
}

static const sy_subscription subs[] = {
    {"order.*", on_order},
    {"*.status_changed", on_status},
};

static const char *const migrations[] = {
    "CREATE TABLE abi_good_items (id bigint PRIMARY KEY)",
    NULL,
};

SY_PLUGIN_DESCRIPTOR(.name = "abi_good", .version = "1.2.3",
                     .subscriptions = subs,
                     .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = good_init,
                     .fini = good_fini);
