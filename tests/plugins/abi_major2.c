/* abi_major2.c — built for ABI major 2: the host must refuse it.  The
 * descriptor is written by hand because SY_PLUGIN_DESCRIPTOR always fills
 * in this SDK's major. */
#include "abi_common.h"

SY_EXPORT const sy_plugin_desc sy_plugin_descriptor = {
    .magic = SY_PLUGIN_MAGIC,
    .abi_major = 2,
    .abi_minor = 3,
    .size = (uint32_t)sizeof(sy_plugin_desc),
    .name = "abi_major2",
    .version = "1.0.0",
    .subscriptions = abi_subs,
    .n_subscriptions = SY_COUNT(abi_subs),
    .init = abi_init,
};
