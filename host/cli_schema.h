/*
 * cli_schema.h — `switchyard schema`: lint, check, validate, catalog.
 *
 *   switchyard schema [--schema-dir DIR] [--plugin-dir DIR] lint
 *       every file of the schema directory parses and its names resolve;
 *       every subscription of every plugin in the plugin directory has a
 *       schema (a wildcard pattern must match at least one).  Plugins
 *       declare what they subscribe to, not what they emit (the ABI has no
 *       such list), so emitted types are checked at run time by emit().
 *   switchyard schema [--schema-dir DIR] check OLD.avsc NEW.avsc
 *       BACKWARD compatibility of NEW against OLD; one line per violation.
 *   switchyard schema [--schema-dir DIR] validate TYPE[.vN] FILE|-
 *       validate a JSON payload against the type's (newest) schema.
 *   switchyard schema [--schema-dir DIR] [--plugin-dir DIR] catalog
 *       the event catalog in Markdown (docs/events.md is this output for
 *       schemas/ and the plugins built into build/plugins).
 *
 * Directories: --schema-dir, else [host] schema_dir of --conf-dir (or the
 * default configuration) when it loads, else ./schemas.  --plugin-dir:
 * every *.so in it is opened (ABI and descriptor checks, no plugin code is
 * called); without it, lint takes the enabled plugins of the
 * configuration, when one loads.
 *
 * Exit codes: 0 ok, 1 problems found (lint errors, incompatible, invalid
 * payload), 2 usage, 3 a schema file or the configuration does not load.
 */
#ifndef YARD_CLI_SCHEMA_H
#define YARD_CLI_SCHEMA_H

#include <stdio.h>

#include "err.h"
#include "schema.h"

/* argv[0] is "schema".  Output on stdout, errors on stderr. */
int yard_cli_schema(int argc, char **argv, const char *default_conf_dir);

/* What the catalog and lint know of a plugin: its descriptor's name,
 * version and subscription patterns.  Owned strings. */
typedef struct yard_catalog_plugin {
    char *name;
    char *version;
    char **patterns;
    size_t n_patterns;
} yard_catalog_plugin;

/* Open every *.so in dir (sorted by name) as yard_plugin_open() does, read
 * the descriptors and close them again.  A plugin that is refused is
 * reported in diag and skipped.  Returns 0 or YARD_EIO (dir unreadable) /
 * YARD_ENOMEM; free *out with yard_catalog_plugins_free(). */
int yard_catalog_plugins_load(const char *dir, yard_catalog_plugin **out,
                              size_t *n, yard_diag *diag);
void yard_catalog_plugins_free(yard_catalog_plugin *p, size_t n);

/* Write the Markdown catalog: per event type (sorted) its versions, schema
 * file, record, purpose, partition key rule, subscribing plugins and
 * fields; then the shared types.  Deterministic for equal inputs. */
void yard_schema_catalog(FILE *out, const yard_schema_registry *r,
                         const yard_catalog_plugin *plugins, size_t n);

/* For `switchyard check`: the schema files of dir that do not load (the
 * host would refuse to start), one diag line each; a missing directory is
 * fine (nothing is validated).  Returns their count. */
size_t yard_schema_dir_problems(const char *dir, yard_diag *diag);

/* Subscriptions without a schema: one diag line each.  Returns their
 * count. */
size_t yard_schema_lint_plugins(const yard_schema_registry *r,
                                const yard_catalog_plugin *plugins, size_t n,
                                yard_diag *problems);

#endif
