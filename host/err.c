/* err.c — error codes and diagnostic lists (see err.h). */
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *yard_err_str(int err)
{
    switch ((yard_err)err) {
    case YARD_OK: return "success";
    case YARD_EINVAL: return "invalid argument";
    case YARD_ENOMEM: return "out of memory";
    case YARD_EIO: return "input/output error";
    case YARD_ECONFIG: return "configuration error";
    case YARD_EABI: return "plugin ABI mismatch";
    case YARD_EPLUGIN: return "plugin refused";
    case YARD_EDB: return "database error";
    case YARD_EDBCONN: return "database connection lost";
    case YARD_EKAFKA: return "broker error";
    case YARD_ETIMEOUT: return "timed out";
    case YARD_EEXIST: return "already exists";
    case YARD_ENOENT: return "not found";
    }
    return "unknown error";
}

int yard_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int yard_diag_vadd(yard_diag *d, const char *fmt, va_list ap)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **m = realloc(d->msgs, cap * sizeof(*m));
        if (!m)
            return YARD_ENOMEM;
        d->msgs = m;
        d->cap = cap;
    }
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return YARD_ENOMEM;
    d->msgs[d->n++] = s;
    return 0;
}

int yard_diag_add(yard_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = yard_diag_vadd(d, fmt, ap);
    va_end(ap);
    return rc;
}

void yard_diag_join(const yard_diag *d, char *err, size_t errlen)
{
    if (!err || !errlen)
        return;
    size_t used = 0;
    err[0] = '\0';
    for (size_t i = 0; i < d->n && used + 1 < errlen; i++) {
        int w = snprintf(err + used, errlen - used, "%s%s", i ? "\n" : "",
                         d->msgs[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

void yard_diag_clear(yard_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->msgs[i]);
    free(d->msgs);
    d->msgs = NULL;
    d->n = d->cap = 0;
}
