/* abi_nodesc.c — exports a symbol, but not the descriptor. */
#include <switchyard/sdk.h>

SY_EXPORT int sy_plugin_descriptor_v0 = 1;

SY_EXPORT int abi_nodesc_answer(void);
int abi_nodesc_answer(void) { return 42; }
