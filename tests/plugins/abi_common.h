/*
 * abi_common.h — pieces shared by the deliberately broken test plugins:
 * one subscription and an init() that does nothing, so each plugin differs
 * from a valid one in exactly the field it is named after.
 */
#ifndef ABI_COMMON_H
#define ABI_COMMON_H

#include <switchyard/sdk.h>

__attribute__((unused)) static sy_result abi_handle(sy_ctx *ctx, const sy_event *ev, void *state)
{
    return SY_OK;
}

__attribute__((unused)) static int abi_init(sy_plugin *self, const sy_host_api *api, void **state,
                    char *err, size_t errlen)
{
    *state = NULL;
    return 0;
}

__attribute__((unused)) static const sy_subscription abi_subs[] = {{"order.*", abi_handle}};

#endif
