/*
 * err.h — the host's one error convention.
 *
 * Functions return 0 on success or a negative yard_err.  Constructors and
 * anything that can fail for a reason a person must read also take an
 * `err` buffer (char *err, size_t errlen) for the human message; the code is
 * for the program, the message for the operator.  Nothing below main()
 * prints and exits.
 */
#ifndef YARD_ERR_H
#define YARD_ERR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum yard_err {
    YARD_OK = 0,
    YARD_EINVAL = -1,   /* bad argument or bad input */
    YARD_ENOMEM = -2,   /* allocation failed */
    YARD_EIO = -3,      /* file or process operation failed (see errno) */
    YARD_ECONFIG = -4,  /* configuration error */
    YARD_EABI = -5,     /* plugin ABI mismatch or malformed descriptor */
    YARD_EPLUGIN = -6,  /* plugin init failed or plugin file refused */
    YARD_EDB = -7,      /* database error that is not a connection loss */
    YARD_EDBCONN = -8,  /* database connection lost: retry after reconnect */
    YARD_EKAFKA = -9,   /* broker or client error */
    YARD_ETIMEOUT = -10,
    YARD_EEXIST = -11,
    YARD_ENOENT = -12,
} yard_err;

/* Static string naming the code ("invalid argument", ...). */
const char *yard_err_str(int err);

/* snprintf into err/errlen when err is not NULL; returns `code`, so that
 * `return yard_errf(err, errlen, YARD_EINVAL, "...")` reads naturally. */
int yard_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * A list of diagnostics, for checks that report every problem rather than
 * the first (config files: "file:line: message").
 * Ownership: the list owns its strings; free with yard_diag_clear().
 */
typedef struct yard_diag {
    char **msgs;
    size_t n;
    size_t cap;
} yard_diag;

#define YARD_DIAG_INIT {NULL, 0, 0}

/* Append one formatted message.  Returns 0 or YARD_ENOMEM. */
int yard_diag_add(yard_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int yard_diag_vadd(yard_diag *d, const char *fmt, va_list ap);
/* Join all messages with "\n" into err (truncating). */
void yard_diag_join(const yard_diag *d, char *err, size_t errlen);
void yard_diag_clear(yard_diag *d);

#endif
