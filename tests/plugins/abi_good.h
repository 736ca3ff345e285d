/*
 * abi_good.h — the state abi_good's init() stores, shared with
 * test_plugin_abi.c so the test can read what the plugin did.
 */
#ifndef ABI_GOOD_H
#define ABI_GOOD_H

#include <switchyard/sdk.h>

#define ABI_GOOD_TEXT_MAX 64

typedef struct abi_good_state {
    char text[ABI_GOOD_TEXT_MAX]; /* "hello <setting greeting>" */
    int order_calls;              /* subscription 0 ("order.*") ran */
    int status_calls;             /* subscription 1 ("*.status_changed") ran */
    const sy_host_api *api;       /* for fini()'s log line */
    sy_plugin *self;
} abi_good_state;

#endif
