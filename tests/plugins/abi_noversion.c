/* abi_noversion.c — an empty version string. */
#include "abi_common.h"

SY_PLUGIN_DESCRIPTOR(.name = "abi_noversion", .version = "",
                     .subscriptions = abi_subs,
                     .n_subscriptions = SY_COUNT(abi_subs), .init = abi_init);
