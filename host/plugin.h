/*
 * plugin.h — loading, checking and unloading plugin shared objects.
 *
 * Loading is two steps so that a reload can build the new generation beside
 * the old one: yard_plugin_open() checks the file and the descriptor
 * without running plugin code; yard_plugin_start() applies the plugin's
 * migrations (through the caller's callback) and calls its init().
 *
 * Each open copies the .so into the host's private runtime directory under a
 * per-generation name before dlopen(), because dlopen() caches by path and an
 * upgraded file at the same path would otherwise return the old image.
 */
#ifndef YARD_PLUGIN_H
#define YARD_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <switchyard/sdk.h>

#include "config.h"

/* The host's view of a loaded plugin; it is also the opaque sy_plugin
 * handle the plugin sees (yard_plugin_self()). */
typedef struct yard_plugin yard_plugin;

typedef struct yard_plugin_open_opts {
    const char *plugin_dir;  /* the .so must resolve inside this directory */
    const char *runtime_dir; /* private dir for per-generation copies */
    uint64_t generation;     /* part of the copy's name */
    uid_t host_uid;          /* besides root, the owner a .so may have */
    bool skip_trust_checks;  /* tests of the ABI checks alone */
} yard_plugin_open_opts;

/*
 * Check `conf->path` (inside plugin_dir after resolving symlinks, a regular
 * file, not group- or world-writable, owned by root or host_uid), copy and
 * dlopen it with RTLD_NOW|RTLD_LOCAL, and check its descriptor: symbol
 * present and large enough, magic, ABI major equal, minor not newer than
 * the host's, size at least what its minor requires, name and version set,
 * subscriptions non-empty with a pattern and handler each, init present.
 * No plugin function is called (dlopen() itself runs only the object's ELF
 * constructors, which the file checks above are there to trust).
 *
 * The copy is <runtime_dir>/<conf->name>.<generation>.so, mode 0500, removed
 * by yard_plugin_close(); a stale file of that name is replaced, so the
 * caller keeps generations unique per name among open plugins.
 * `opts` is read only during the call.
 *
 * On failure returns YARD_EABI (descriptor) or YARD_EPLUGIN (file) or
 * YARD_EIO and writes a message naming the file and, for ABI mismatches,
 * "host has X, plugin has Y" with a hint.  `conf` must outlive the plugin.
 */
int yard_plugin_open(const yard_plugin_conf *conf,
                     const yard_plugin_open_opts *opts, yard_plugin **out,
                     char *err, size_t errlen);

/* Apply migrations: called once per entry of desc->migrations, in order,
 * with version i+1 and `plugin` = desc->name (the plugin's own tables, the
 * same for every conf instance of it); the callback decides whether it was
 * applied before.  Returns 0, or non-zero with a message in err. */
typedef int (*yard_migrate_fn)(void *arg, const char *plugin, int version,
                               const char *sql, char *err, size_t errlen);

/*
 * Run migrations through `migrate` (may be NULL when the plugin has none
 * or the caller has no database), then call the plugin's init() with `api`.
 * `api` must outlive the plugin.  Returns 0; the callback's own negative
 * code (YARD_EPLUGIN if it returned a positive one) when a migration fails,
 * with its message; or YARD_EPLUGIN with the plugin's own message when
 * init() fails.  Migrations stop at the first failure; init() is then not
 * called.  After a failed init() the plugin is not started (no fini()) and
 * may only be closed.
 */
int yard_plugin_start(yard_plugin *p, const sy_host_api *api,
                      yard_migrate_fn migrate, void *migrate_arg, char *err,
                      size_t errlen);

/* fini() (if started), dlclose(), remove the private copy, free.  The caller
 * guarantees no handler of this plugin is running.  Accepts NULL. */
void yard_plugin_close(yard_plugin *p);

const sy_plugin_desc *yard_plugin_desc(const yard_plugin *p);
const yard_plugin_conf *yard_plugin_conf_of(const yard_plugin *p);
const char *yard_plugin_name(const yard_plugin *p); /* conf name */
void *yard_plugin_state(const yard_plugin *p);       /* from init() */
uint64_t yard_plugin_generation(const yard_plugin *p);
/* Identity of the file's content, for "did the .so change?" on reload: the
 * 64-bit FNV-1a hash of its bytes (not a cryptographic hash).  The plugin's
 * is computed from the bytes it copied, so it equals yard_file_hash() of
 * the same content.  yard_file_hash returns 0 or YARD_EIO/YARD_ENOMEM. */
uint64_t yard_plugin_file_hash(const yard_plugin *p);
int yard_file_hash(const char *path, uint64_t *out);

/* The handler of the first subscription matching `type`, or NULL. */
sy_handler_fn yard_plugin_route(const yard_plugin *p, const char *type);

/* The plugin's own counters (sy_host_api.metric_add).  Thread-safe; names
 * are copied.  Names that are not [a-z0-9_]{1,64}, non-finite values and
 * counters beyond 256 per plugin are ignored (one warning per plugin).
 * metric_each calls fn under the counters' lock, in creation order: fn must
 * not add to the same plugin's counters. */
void yard_plugin_metric_add(yard_plugin *p, const char *name, double value);
void yard_plugin_metric_each(const yard_plugin *p,
                             void (*fn)(void *arg, const char *name,
                                        double value),
                             void *arg);

/* sy_plugin <-> yard_plugin: they are the same object. */
sy_plugin *yard_plugin_self(yard_plugin *p);
yard_plugin *yard_plugin_from_self(const sy_plugin *self);

#endif
