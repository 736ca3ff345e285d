/* abi_nohandler.c — the second subscription has no handler. */
#include "abi_common.h"

static const sy_subscription subs[] = {
    {"order.*", abi_handle},
    {"invoice.*", NULL},
};

SY_PLUGIN_DESCRIPTOR(.name = "abi_nohandler", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .init = abi_init);
