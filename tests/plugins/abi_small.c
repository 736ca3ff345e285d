/* abi_small.c — the size field says less than ABI minor 0 defines. */
#include "abi_common.h"

#define ABI_SMALL_SHORTFALL 16

SY_EXPORT const sy_plugin_desc sy_plugin_descriptor = {
    .magic = SY_PLUGIN_MAGIC,
    .abi_major = SY_ABI_MAJOR,
    .abi_minor = SY_ABI_MINOR,
    .size = (uint32_t)(sizeof(sy_plugin_desc) - ABI_SMALL_SHORTFALL),
    .name = "abi_small",
    .version = "1.0.0",
    .subscriptions = abi_subs,
    .n_subscriptions = SY_COUNT(abi_subs),
    .init = abi_init,
};
