/* abi_func.c — exports a function named like the descriptor. */
#include <switchyard/sdk.h>

SY_EXPORT void sy_plugin_descriptor(void);
void sy_plugin_descriptor(void) {}
