/* abi_noinit.c — a descriptor without init(). */
#include "abi_common.h"

SY_PLUGIN_DESCRIPTOR(.name = "abi_noinit", .version = "1.0.0",
                     .subscriptions = abi_subs,
                     .n_subscriptions = SY_COUNT(abi_subs));
