/* abi_initfail.c — a valid descriptor whose init() refuses to start. */
#include <stdio.h>

#include "abi_common.h"

static int initfail_init(sy_plugin *self, const sy_host_api *api,
                         void **state, char *err, size_t errlen)
{
    snprintf(err, errlen, "setting dsn is required");
    return -1;
}

/* fini() must never run after a failed init(): crash loudly if it does. */
static void initfail_fini(void *state) { __builtin_trap(); }

SY_PLUGIN_DESCRIPTOR(.name = "abi_initfail", .version = "2.0.0",
                     .subscriptions = abi_subs,
                     .n_subscriptions = SY_COUNT(abi_subs),
                     .init = initfail_init, .fini = initfail_fini);
