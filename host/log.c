/* log.c — logfmt/JSON records on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static _Atomic int g_level = YARD_LOG_INFO;
static _Atomic bool g_json = false;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int yard_log_level_parse(const char *s, yard_log_level *out)
{
    for (int i = 0; i <= YARD_LOG_DEBUG; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (yard_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = YARD_LOG_WARN;
        return 0;
    }
    return -1;
}

void yard_log_set_level(yard_log_level level) { g_level = (int)level; }
yard_log_level yard_log_get_level(void) { return (yard_log_level)g_level; }
void yard_log_set_json(bool json) { g_json = json; }
bool yard_log_enabled(yard_log_level level) { return (int)level <= g_level; }

/* Append s to buf at *pos, escaped for the active format. */
static void put_escaped(char *buf, size_t *pos, const char *s, bool quote)
{
    size_t p = *pos;
    const size_t lim = LOG_LINE_MAX - 8;
    bool json = g_json;
    bool need_quote = quote || json || strpbrk(s, " =\"") || !*s;
    if (need_quote && p < lim)
        buf[p++] = '"';
    for (; *s && p < lim; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[p++] = '\\';
            buf[p++] = (char)c;
        } else if (c == '\n') {
            buf[p++] = '\\';
            buf[p++] = 'n';
        } else if (c < 0x20) {
            p += (size_t)snprintf(buf + p, LOG_LINE_MAX - p, "\\u%04x", c);
        } else {
            buf[p++] = (char)c;
        }
    }
    if (need_quote && p < lim)
        buf[p++] = '"';
    *pos = p;
}

static void put_raw(char *buf, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n >= LOG_LINE_MAX - 8)
        n = LOG_LINE_MAX - 8 - *pos;
    memcpy(buf + *pos, s, n);
    *pos += n;
}

/* Mask what follows "password" (password=..., "password":"...") and the
 * password of URI user info (scheme://user:password@host) in place, so
 * that a connection string that reaches a log line carries no secret. */
static void redact(char *buf, size_t len)
{
    static const char *const ends = " \t\"'\\&,;}";
    for (size_t i = 0; i + 8 <= len; i++) {
        if (strncasecmp(buf + i, "password", 8) != 0)
            continue;
        size_t p = i + 8;
        while (p < len && (buf[p] == ' ' || buf[p] == '"' || buf[p] == '\\'))
            p++;
        if (p >= len || (buf[p] != '=' && buf[p] != ':'))
            continue;
        p++;
        while (p < len && (buf[p] == ' ' || buf[p] == '"' || buf[p] == '\\' ||
                           buf[p] == '\''))
            p++;
        for (; p < len && !strchr(ends, buf[p]); p++)
            buf[p] = '*';
        i = p;
    }
    for (char *s = buf; (s = strstr(s, "://")) != NULL && s < buf + len;) {
        s += 3;
        char *at = s, *colon = NULL;
        while (at < buf + len && *at != '@' && *at != '/' && !strchr(ends, *at)) {
            if (*at == ':' && !colon)
                colon = at;
            at++;
        }
        if (at < buf + len && *at == '@' && colon)
            for (char *q = colon + 1; q < at; q++)
                *q = '*';
    }
}

static void emit(yard_log_level level, const char *msg, va_list *pairs)
{
    char buf[LOG_LINE_MAX];
    size_t pos = 0;
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000);
    bool json = g_json;

    if (json) {
        put_raw(buf, &pos, "{\"time\":\"");
        put_raw(buf, &pos, ts);
        put_raw(buf, &pos, "\",\"level\":\"");
        put_raw(buf, &pos, level_names[level]);
        put_raw(buf, &pos, "\",\"msg\":");
    } else {
        put_raw(buf, &pos, "time=");
        put_raw(buf, &pos, ts);
        put_raw(buf, &pos, " level=");
        put_raw(buf, &pos, level_names[level]);
        put_raw(buf, &pos, " msg=");
    }
    put_escaped(buf, &pos, msg, true);
    if (pairs) {
        const char *k;
        while ((k = va_arg(*pairs, const char *)) != NULL) {
            const char *v = va_arg(*pairs, const char *);
            if (!v)
                continue;
            if (json) {
                put_raw(buf, &pos, ",");
                put_escaped(buf, &pos, k, true);
                put_raw(buf, &pos, ":");
            } else {
                put_raw(buf, &pos, " ");
                put_raw(buf, &pos, k);
                put_raw(buf, &pos, "=");
            }
            put_escaped(buf, &pos, v, false);
        }
    }
    if (json)
        buf[pos++] = '}';
    buf[pos] = '\0';
    redact(buf, pos);
    buf[pos++] = '\n';
    /* One write per record keeps lines whole across threads. */
    ssize_t w = write(STDERR_FILENO, buf, pos);
    (void)w;
}

void yard_log(yard_log_level level, const char *msg, ...)
{
    if (!yard_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, msg);
    emit(level, msg, &ap);
    va_end(ap);
}

void yard_logf(yard_log_level level, const char *fmt, ...)
{
    if (!yard_log_enabled(level))
        return;
    char msg[LOG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg, NULL);
}
