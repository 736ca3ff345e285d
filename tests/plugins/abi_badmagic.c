/* abi_badmagic.c — a descriptor-sized symbol whose magic is wrong. */
#include "abi_common.h"

#define ABI_BAD_MAGIC 0x12345678u

SY_EXPORT const sy_plugin_desc sy_plugin_descriptor = {
    .magic = ABI_BAD_MAGIC,
    .abi_major = SY_ABI_MAJOR,
    .abi_minor = SY_ABI_MINOR,
    .size = (uint32_t)sizeof(sy_plugin_desc),
    .name = "abi_badmagic",
    .version = "1.0.0",
    .subscriptions = abi_subs,
    .n_subscriptions = SY_COUNT(abi_subs),
    .init = abi_init,
};
