/* template.c — placeholders filled from an event payload (see template.h). */
#include "template.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 200 /* longest placeholder quoted in a message */

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Length of the placeholder path starting at s (after "{"), or 0 when the
 * text up to "}" is not a path: names of [A-Za-z0-9_] joined by dots. */
static size_t path_len(const char *s)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (name_char(s[i]))
            i++;
        if (i == start)
            return 0; /* empty name */
        if (s[i] == '}')
            return i;
        if (s[i] != '.')
            return 0;
        i++;
    }
}

int ntf_template_check(const char *tmpl, char *err, size_t errlen)
{
    for (const char *s = tmpl; *s; s++) {
        if (s[0] == '{' && s[1] == '{') {
            s++;
        } else if (*s == '{') {
            size_t n = path_len(s + 1);
            if (!n) {
                snprintf(err, errlen,
                         "bad placeholder at offset %zu: want {field} or "
                         "{a.b} (letters, digits, _), or {{ for a \"{\"",
                         (size_t)(s - tmpl));
                return -1;
            }
            s += n + 1;
        }
    }
    return 0;
}

const json_t *ntf_lookup(const json_t *payload, const char *path, size_t len)
{
    const json_t *v = payload;
    const char *end = path + len;
    while (v && path < end) {
        const char *dot = memchr(path, '.', (size_t)(end - path));
        size_t n = dot ? (size_t)(dot - path) : (size_t)(end - path);
        char name[PATH_MAX_LEN + 1];
        if (n > PATH_MAX_LEN)
            return NULL;
        memcpy(name, path, n);
        name[n] = '\0';
        if (json_is_array(v)) {
            char *rest;
            unsigned long i = strtoul(name, &rest, 10);
            v = *rest || !isdigit((unsigned char)*name) ? NULL
                                                         : json_array_get(v, i);
        } else {
            v = json_object_get(v, name);
        }
        path += n + (dot != NULL);
    }
    return json_is_null(v) ? NULL : v;
}

/* Append the text of one value. */
static int put_value(FILE *out, const json_t *v)
{
    if (json_is_string(v))
        return fwrite(json_string_value(v), 1, json_string_length(v), out) ==
                       json_string_length(v)
                   ? 0
                   : -1;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = text && fputs(text, out) >= 0 ? 0 : -1;
    free(text);
    return rc;
}

int ntf_render(const char *tmpl, const json_t *payload, char **out, char *err,
               size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NTF_RENDER_NOMEM;
    int rc = 0;
    size_t n;
    for (const char *s = tmpl; *s && rc == 0; s++) {
        if (s[0] == '{' && s[1] == '{') {
            rc = fputc('{', f) == EOF ? NTF_RENDER_NOMEM : 0;
            s++;
        } else if (s[0] == '\\' && s[1] == 'n') {
            rc = fputc('\n', f) == EOF ? NTF_RENDER_NOMEM : 0;
            s++;
        } else if (*s == '{' && (n = path_len(s + 1)) > 0) {
            const json_t *v = ntf_lookup(payload, s + 1, n);
            if (!v) {
                snprintf(err, errlen, "{%.*s} has no value in the payload",
                         (int)(n < PATH_MAX_LEN ? n : PATH_MAX_LEN), s + 1);
                rc = NTF_RENDER_MISSING;
            } else if (put_value(f, v)) {
                rc = NTF_RENDER_NOMEM;
            }
            s += n + 1;
        } else {
            rc = fputc(*s, f) == EOF ? NTF_RENDER_NOMEM : 0;
        }
    }
    if (fclose(f) && rc == 0)
        rc = NTF_RENDER_NOMEM;
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}
