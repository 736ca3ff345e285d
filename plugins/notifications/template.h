/*
 * template.h — the notifications plugin's text templates.
 *
 * A template is text with placeholders:
 *   {field}        the payload member `field`
 *   {a.b}          member `b` of object member `a`; a number indexes an
 *                  array: {services.0.service_type}
 *   {{             a literal "{"
 *   \n             a newline (an INI value is one line)
 * A string value is inserted as is, a number or boolean as JSON writes it,
 * an object or array as compact JSON.  A member that is absent or null has
 * no value: rendering fails and names the placeholder.
 *
 * Functions are pure: callable from any thread.
 */
#ifndef NTF_TEMPLATE_H
#define NTF_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

/* ntf_render()'s failures. */
#define NTF_RENDER_MISSING (-1) /* a placeholder without a value */
#define NTF_RENDER_NOMEM (-2)

/* Is `tmpl` well formed?  0, or -1 with the reason in err. */
int ntf_template_check(const char *tmpl, char *err, size_t errlen);

/*
 * Render a checked template against `payload`.  0 and *out, a malloc'd
 * string the caller frees; or NTF_RENDER_MISSING with the placeholder named
 * in err, or NTF_RENDER_NOMEM.
 */
int ntf_render(const char *tmpl, const json_t *payload, char **out, char *err,
               size_t errlen);

/* The value at the dotted path of `len` bytes, or NULL when it is absent.
 * Borrowed from `payload`. */
const json_t *ntf_lookup(const json_t *payload, const char *path, size_t len);

#endif
