/* abi_nosubs.c — a valid descriptor that subscribes to nothing. */
#include "abi_common.h"

SY_PLUGIN_DESCRIPTOR(.name = "abi_nosubs", .version = "1.0.0",
                     .init = abi_init);
