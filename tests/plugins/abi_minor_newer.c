/* abi_minor_newer.c — built for a newer ABI minor than the host knows: the
 * host must refuse it (it may call entries the host does not have). */
#include "abi_common.h"

SY_EXPORT const sy_plugin_desc sy_plugin_descriptor = {
    .magic = SY_PLUGIN_MAGIC,
    .abi_major = SY_ABI_MAJOR,
    .abi_minor = SY_ABI_MINOR + 1,
    .size = (uint32_t)sizeof(sy_plugin_desc),
    .name = "abi_minor_newer",
    .version = "1.0.0",
    .subscriptions = abi_subs,
    .n_subscriptions = SY_COUNT(abi_subs),
    .init = abi_init,
};
