/*
 * log.h — one log grammar for the whole host.
 *
 * One record per line on stderr: a short factual message, then key=value
 * context.  Format "logfmt" (default) or "json".  Payloads and secrets are
 * never logged at info level; callers pass ids, not data.
 * Thread-safe: each record is written with a single write(2).
 */
#ifndef YARD_LOG_H
#define YARD_LOG_H

#include <stdbool.h>

typedef enum yard_log_level {
    YARD_LOG_ERROR = 0,
    YARD_LOG_WARN = 1,
    YARD_LOG_INFO = 2,
    YARD_LOG_DEBUG = 3,
} yard_log_level;

/* Parse "error|warn|info|debug"; returns 0 or -1. */
int yard_log_level_parse(const char *s, yard_log_level *out);
void yard_log_set_level(yard_log_level level);
yard_log_level yard_log_get_level(void);
/* json = true for one JSON object per line. */
void yard_log_set_json(bool json);
bool yard_log_enabled(yard_log_level level);

/*
 * Log `msg` with context pairs given as a NULL-terminated list of
 * (key, value) strings; a NULL value skips its pair:
 *   yard_log(YARD_LOG_INFO, "plugin loaded", "plugin", name, "version", v, NULL);
 */
void yard_log(yard_log_level level, const char *msg, ...)
    __attribute__((sentinel));

/* printf-style message, no context pairs. */
void yard_logf(yard_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
