/* abi_badname.c — a name outside [a-z0-9_-]+. */
#include "abi_common.h"

SY_PLUGIN_DESCRIPTOR(.name = "Bad Name", .version = "1.0.0",
                     .subscriptions = abi_subs,
                     .n_subscriptions = SY_COUNT(abi_subs), .init = abi_init);
