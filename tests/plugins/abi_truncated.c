/* abi_truncated.c — a correct ABI block whose size field claims a whole
 * descriptor, exported as a 16-byte symbol.  The host must trust the ELF
 * symbol size, not the field. */
#include <switchyard/sdk.h>

typedef struct abi_head {
    uint32_t magic, abi_major, abi_minor, size;
} abi_head;

SY_EXPORT const abi_head sy_plugin_descriptor = {
    SY_PLUGIN_MAGIC, SY_ABI_MAJOR, SY_ABI_MINOR,
    (uint32_t)sizeof(sy_plugin_desc)};
