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

/*
 * Hot reload (SIGHUP, `switchyard reload`): re-read conf.d and apply it.
 * Plugins added are loaded and started; removed or disabled ones drained
 * and unloaded; ones whose .so content or conf section changed upgraded
 * (the new version is loaded and initialised beside the old one, the old
 * one drained, then swapped; the consumer and its group membership are kept
 * unless the subscriptions or the group changed); unchanged ones untouched.
 * Live host settings (log_level, log_format, shutdown_timeout_ms, [retry]
 * through the plugins' policies) take effect; others are logged as needing
 * a restart.  Anything refused (a conf.d error, a plugin failing its file,
 * ABI or init checks) leaves what runs as it was and is reported.
 *
 * Writes a one-line result into `result` (also kept for status).  Returns 0
 * when everything applied, YARD_EEXIST when another reload is running (it
 * is refused, not queued), or the first failure's code.  Any thread.
 */
int yard_host_reload(yard_host *h, char *result, size_t len);

/* The host's state as a JSON object (malloc'd, caller frees; NULL when out
 * of memory): plugins (name, version, abi, generation, loaded_at, handled,
 * last_reload) and the last reload's result.  Any thread. */
char *yard_host_status_json(yard_host *h);

/* Open every enabled plugin of cfg without running plugin code (ABI and
 * file checks).  One message per refused plugin goes into diag.  Returns
 * the number refused. */
size_t yard_host_check_plugins(const yard_config *cfg, yard_diag *diag);

#endif
