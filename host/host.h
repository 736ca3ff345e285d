/*
 * host.h — the whole runtime: database, plugins, engine, consumers, relay.
 *
 * Start order: migrations, plugins (ABI check, plugin migrations, init),
 * engine, relay, one consumer per enabled plugin.  Stop order is the
 * reverse, so that no event is left half done: consumers stop fetching,
 * the engine finishes what it holds, offsets are committed, the relay
 * publishes what is left, plugins are finalised and unloaded.
 */
#ifndef YARD_HOST_H
#define YARD_HOST_H

#include <stddef.h>

#include "config.h"

typedef struct yard_host yard_host;

/*
 * Start a host.  Takes ownership of cfg (freed by yard_host_stop(), or here
 * on failure).  Returns 0, or an error with a message that names the plugin
 * file, the database or the broker at fault.
 */
int yard_host_start(yard_config *cfg, yard_host **out, char *err,
                    size_t errlen);

/* Graceful stop, bounded by [host] shutdown_timeout_ms; frees.  NULL ok. */
void yard_host_stop(yard_host *h);

/* Open every enabled plugin of cfg without running plugin code (ABI and
 * file checks).  One message per refused plugin goes into diag.  Returns
 * the number refused. */
size_t yard_host_check_plugins(const yard_config *cfg, yard_diag *diag);

#endif
