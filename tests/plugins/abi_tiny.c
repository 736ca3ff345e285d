/* abi_tiny.c — the exported symbol is 8 bytes: too small to even hold the
 * ABI block (magic, major, minor, size).  Reading past it would be a
 * global-buffer-overflow under ASan. */
#include <switchyard/sdk.h>

SY_EXPORT const uint32_t sy_plugin_descriptor[2] = {SY_PLUGIN_MAGIC,
                                                    SY_ABI_MAJOR};
