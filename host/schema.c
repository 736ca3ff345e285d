/* schema.c — Avro schema registry, validator and compatibility (schema.h). */
#include "schema.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 256
#define MAX_DEPTH 64 /* nesting bound of documents and schemas */

typedef enum kind {
    K_NULL,
    K_BOOLEAN,
    K_INT,
    K_LONG,
    K_FLOAT,
    K_DOUBLE,
    K_BYTES,
    K_STRING,
    K_RECORD,
    K_ENUM,
    K_ARRAY,
    K_MAP,
    K_UNION,
    K_FIXED,
} kind;

static const char *const kind_names[] = {
    "null", "boolean", "int",  "long",  "float", "double", "bytes",
    "string", "record", "enum", "array", "map",   "union",  "fixed",
};

typedef struct node node;

typedef struct field {
    char *name;
    char *doc;
    node *type;
    json_t *def; /* default (own reference) or NULL */
    char **aliases;
    size_t n_aliases;
} field;

struct node {
    kind k;
    char *fullname; /* named types */
    char *logical;  /* logicalType or NULL */
    field *fields;  /* record */
    size_t n_fields;
    char **symbols; /* enum */
    size_t n_symbols;
    node *items;     /* array items, map values */
    node **branches; /* union */
    size_t n_branches;
    size_t size; /* fixed */
    node *all_next; /* registry's list of every node, for freeing */
};

typedef struct named {
    char *fullname; /* not owned: the node's */
    node *n;
    const char *file; /* not owned */
} named;

typedef struct names {
    named *v;
    size_t n, cap;
} names;

struct yard_schema {
    char *type;
    int version;
    char *file;
    char *key_template;
    char *doc;
    node *root;
};

struct yard_schema_registry {
    node *all;         /* every node ever parsed */
    names common;      /* shared named types */
    yard_schema **v;   /* event-type schemas, sorted (type, version) */
    size_t n, cap;
    yard_schema **standalone; /* parse_file results */
    size_t n_standalone;
    char **files; /* names of the common files (for messages) */
    size_t n_files;
};

/* ---- parsing --------------------------------------------------------- */

typedef struct parser {
    yard_schema_registry *r;
    names local; /* named types of this file */
    const char *file;
    char *err;
    size_t errlen;
    int rc;
} parser;

static int perr(parser *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(parser *p, const char *path, const char *fmt, ...)
{
    if (p->rc)
        return p->rc;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    yard_errf(p->err, p->errlen, YARD_EINVAL, "%s: %s: %s", p->file,
              path && *path ? path : "(top)", msg);
    p->rc = YARD_EINVAL;
    return p->rc;
}

static node *node_new(parser *p, kind k)
{
    node *n = calloc(1, sizeof *n);
    if (!n) {
        if (!p->rc)
            p->rc = yard_errf(p->err, p->errlen, YARD_ENOMEM, "out of memory");
        return NULL;
    }
    n->k = k;
    n->all_next = p->r->all;
    p->r->all = n;
    return n;
}

static void node_free(node *n)
{
    free(n->fullname);
    free(n->logical);
    for (size_t i = 0; i < n->n_fields; i++) {
        free(n->fields[i].name);
        free(n->fields[i].doc);
        json_decref(n->fields[i].def);
        for (size_t j = 0; j < n->fields[i].n_aliases; j++)
            free(n->fields[i].aliases[j]);
        free(n->fields[i].aliases);
    }
    free(n->fields);
    for (size_t i = 0; i < n->n_symbols; i++)
        free(n->symbols[i]);
    free(n->symbols);
    free(n->branches);
    free(n);
}

static bool valid_name(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static bool valid_fullname(const char *s)
{
    char buf[NAME_MAX_LEN];
    if (!s || strlen(s) >= sizeof buf)
        return false;
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t;
         t = strtok_r(NULL, ".", &save))
        if (!valid_name(t))
            return false;
    return s[0] != '.' && s[strlen(s) - 1] != '.' && !strstr(s, "..");
}

static named *names_find(const names *ns, const char *fullname)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i].fullname, fullname) == 0)
            return &ns->v[i];
    return NULL;
}

static int names_add(names *ns, node *n, const char *file)
{
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        named *v = realloc(ns->v, cap * sizeof *v);
        if (!v)
            return YARD_ENOMEM;
        ns->v = v;
        ns->cap = cap;
    }
    ns->v[ns->n++] = (named){n->fullname, n, file};
    return 0;
}

static int kind_of_primitive(const char *s)
{
    for (int k = K_NULL; k <= K_STRING; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return k;
    return -1;
}

static node *lookup(parser *p, const char *name, const char *ns)
{
    char full[2 * NAME_MAX_LEN];
    if (!strchr(name, '.') && ns && *ns)
        snprintf(full, sizeof full, "%s.%s", ns, name);
    else
        snprintf(full, sizeof full, "%s", name);
    named *d = names_find(&p->local, full);
    if (!d)
        d = names_find(&p->r->common, full);
    if (!d && strcmp(full, name) != 0) { /* the null namespace */
        d = names_find(&p->local, name);
        if (!d)
            d = names_find(&p->r->common, name);
    }
    return d ? d->n : NULL;
}

static node *parse_type(parser *p, json_t *j, const char *ns, const char *path,
                        int depth);
static bool default_ok(const node *t, json_t *v, int depth);

/* Full name and namespace of a named type's definition. */
static int make_fullname(parser *p, json_t *j, const char *ns,
                         const char *path, char *full, size_t fulllen,
                         char *newns, size_t nslen)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name || !valid_fullname(name))
        return perr(p, path, "a named type needs a valid \"name\"");
    json_t *jns = json_object_get(j, "namespace");
    const char *sns = json_is_string(jns) ? json_string_value(jns) : ns;
    if (jns && !json_is_string(jns) && !json_is_null(jns))
        return perr(p, path, "\"namespace\" must be a string");
    if (strchr(name, '.')) {
        snprintf(full, fulllen, "%s", name);
    } else if (sns && *sns) {
        if (!valid_fullname(sns))
            return perr(p, path, "invalid namespace \"%s\"", sns);
        snprintf(full, fulllen, "%s.%s", sns, name);
    } else {
        snprintf(full, fulllen, "%s", name);
    }
    const char *dot = strrchr(full, '.');
    snprintf(newns, nslen, "%.*s", dot ? (int)(dot - full) : 0, full);
    if (names_find(&p->local, full) || names_find(&p->r->common, full))
        return perr(p, path, "type \"%s\" is defined twice", full);
    return 0;
}

static node *parse_named(parser *p, json_t *j, kind k, const char *ns,
                         const char *path, char *newns, size_t nslen)
{
    char full[2 * NAME_MAX_LEN];
    if (make_fullname(p, j, ns, path, full, sizeof full, newns, nslen))
        return NULL;
    node *n = node_new(p, k);
    if (!n || !(n->fullname = strdup(full)) ||
        names_add(&p->local, n, p->file)) {
        if (!p->rc)
            p->rc = yard_errf(p->err, p->errlen, YARD_ENOMEM, "out of memory");
        return NULL;
    }
    return n;
}

static int parse_fields(parser *p, node *n, json_t *jf, const char *ns,
                        const char *path, int depth)
{
    char sub[512];
    if (!json_is_array(jf))
        return perr(p, path, "a record needs a \"fields\" array");
    n->fields = calloc(json_array_size(jf) + 1, sizeof *n->fields);
    if (!n->fields)
        return p->rc = YARD_ENOMEM;
    size_t i;
    json_t *f;
    json_array_foreach(jf, i, f)
    {
        snprintf(sub, sizeof sub, "%s.fields[%zu]", path, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!json_is_object(f) || !valid_name(name))
            return perr(p, sub, "a field needs a valid \"name\"");
        for (size_t k = 0; k < n->n_fields; k++)
            if (strcmp(n->fields[k].name, name) == 0)
                return perr(p, sub, "field \"%s\" is declared twice", name);
        field *fd = &n->fields[n->n_fields];
        if (!(fd->name = strdup(name)))
            return p->rc = YARD_ENOMEM;
        n->n_fields++;
        const char *doc = json_string_value(json_object_get(f, "doc"));
        if (doc && !(fd->doc = strdup(doc)))
            return p->rc = YARD_ENOMEM;
        snprintf(sub, sizeof sub, "%s.fields[%zu](%s).type", path, i, name);
        json_t *jt = json_object_get(f, "type");
        if (!jt)
            return perr(p, sub, "field has no \"type\"");
        /* Seed 000 writes logicalType beside the type: move it in. */
        json_t *lt = json_object_get(f, "logicalType");
        json_t *tmp = NULL;
        if (json_is_string(lt) && json_is_string(jt))
            jt = tmp = json_pack("{sOsO}", "type", jt, "logicalType", lt);
        fd->type = parse_type(p, jt, ns, sub, depth + 1);
        json_decref(tmp);
        if (!fd->type)
            return p->rc;
        json_t *def = json_object_get(f, "default");
        if (def) {
            if (!default_ok(fd->type, def, 0))
                return perr(p, sub,
                            "default of field \"%s\" does not match its type",
                            name);
            fd->def = json_incref(def);
        }
        json_t *al = json_object_get(f, "aliases");
        if (json_is_array(al)) {
            fd->aliases = calloc(json_array_size(al) + 1, sizeof *fd->aliases);
            size_t ai;
            json_t *a;
            json_array_foreach(al, ai, a)
            {
                if (json_is_string(a) && fd->aliases)
                    fd->aliases[fd->n_aliases++] = strdup(json_string_value(a));
            }
        }
    }
    return 0;
}

static node *parse_object(parser *p, json_t *j, const char *ns,
                          const char *path, int depth)
{
    json_t *jt = json_object_get(j, "type");
    const char *t = json_string_value(jt);
    if (!t)
        return perr(p, path, "\"type\" must be a type name string"), NULL;
    const char *lt = json_string_value(json_object_get(j, "logicalType"));
    char newns[2 * NAME_MAX_LEN];
    char sub[512];
    int pk = kind_of_primitive(t);
    node *n = NULL;
    if (pk >= 0) {
        n = node_new(p, (kind)pk);
    } else if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0) {
        n = parse_named(p, j, K_RECORD, ns, path, newns, sizeof newns);
        if (n && parse_fields(p, n, json_object_get(j, "fields"), newns, path,
                              depth))
            return NULL;
    } else if (strcmp(t, "enum") == 0) {
        n = parse_named(p, j, K_ENUM, ns, path, newns, sizeof newns);
        json_t *sy = json_object_get(j, "symbols");
        if (n && (!json_is_array(sy) || json_array_size(sy) == 0))
            return perr(p, path, "an enum needs a non-empty \"symbols\" array"),
                   NULL;
        if (n) {
            n->symbols = calloc(json_array_size(sy), sizeof *n->symbols);
            size_t i;
            json_t *s;
            json_array_foreach(sy, i, s)
            {
                const char *v = json_string_value(s);
                if (!valid_name(v))
                    return perr(p, path, "enum symbol %zu is not a valid name", i),
                           NULL;
                for (size_t k = 0; k < n->n_symbols; k++)
                    if (strcmp(n->symbols[k], v) == 0)
                        return perr(p, path, "enum symbol \"%s\" repeated", v),
                               NULL;
                if (!n->symbols || !(n->symbols[n->n_symbols] = strdup(v)))
                    return p->rc = YARD_ENOMEM, NULL;
                n->n_symbols++;
            }
        }
    } else if (strcmp(t, "fixed") == 0) {
        n = parse_named(p, j, K_FIXED, ns, path, newns, sizeof newns);
        json_t *sz = json_object_get(j, "size");
        if (n && (!json_is_integer(sz) || json_integer_value(sz) < 0))
            return perr(p, path, "a fixed needs a \"size\""), NULL;
        if (n)
            n->size = (size_t)json_integer_value(sz);
    } else if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        bool arr = t[0] == 'a';
        n = node_new(p, arr ? K_ARRAY : K_MAP);
        json_t *it = json_object_get(j, arr ? "items" : "values");
        snprintf(sub, sizeof sub, "%s.%s", path, arr ? "items" : "values");
        if (n && !it)
            return perr(p, path, "%s needs \"%s\"", t, arr ? "items" : "values"),
                   NULL;
        if (n && !(n->items = parse_type(p, it, ns, sub, depth + 1)))
            return NULL;
    } else {
        /* {"type": "SomeNamedType"} */
        node *ref = lookup(p, t, ns);
        if (!ref)
            return perr(p, path, "unknown type name \"%s\"", t), NULL;
        return ref;
    }
    if (n && lt && !(n->logical = strdup(lt)))
        return p->rc = YARD_ENOMEM, NULL;
    return n;
}

static node *parse_type(parser *p, json_t *j, const char *ns, const char *path,
                        int depth)
{
    if (depth > MAX_DEPTH)
        return perr(p, path, "schema nested too deeply"), NULL;
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        int pk = kind_of_primitive(s);
        if (pk >= 0)
            return node_new(p, (kind)pk);
        node *ref = lookup(p, s, ns);
        if (!ref)
            return perr(p, path, "unknown type name \"%s\"", s), NULL;
        return ref;
    }
    if (json_is_object(j))
        return parse_object(p, j, ns, path, depth);
    if (json_is_array(j)) {
        node *n = node_new(p, K_UNION);
        if (!n)
            return NULL;
        n->branches = calloc(json_array_size(j) + 1, sizeof *n->branches);
        if (!n->branches)
            return p->rc = YARD_ENOMEM, NULL;
        if (json_array_size(j) == 0)
            return perr(p, path, "a union needs at least one branch"), NULL;
        size_t i;
        json_t *b;
        char sub[512];
        json_array_foreach(j, i, b)
        {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            node *t = parse_type(p, b, ns, sub, depth + 1);
            if (!t)
                return NULL;
            if (t->k == K_UNION)
                return perr(p, sub, "a union may not contain a union"), NULL;
            for (size_t k = 0; k < n->n_branches; k++) {
                const node *o = n->branches[k];
                bool same = o->k == t->k &&
                            (!o->fullname || !t->fullname ||
                             strcmp(o->fullname, t->fullname) == 0);
                if (same)
                    return perr(p, sub, "union has two %s branches",
                                t->fullname ? t->fullname : kind_names[t->k]),
                           NULL;
            }
            n->branches[n->n_branches++] = t;
        }
        return n;
    }
    return perr(p, path, "not a schema (expected a name, object or union)"),
           NULL;
}

/* ---- validation ------------------------------------------------------ */

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static const char *node_desc(const node *t, char *buf, size_t len)
{
    if (t->k == K_UNION) {
        size_t o = (size_t)snprintf(buf, len, "one of [");
        for (size_t i = 0; i < t->n_branches && o < len; i++) {
            const node *b = t->branches[i];
            o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
                                  b->fullname ? b->fullname : kind_names[b->k]);
        }
        if (o < len)
            snprintf(buf + o, len - o, "]");
        return buf;
    }
    if (t->k == K_RECORD)
        snprintf(buf, len, "object (record %s)", t->fullname);
    else if (t->k == K_ENUM)
        snprintf(buf, len, "string (enum %s)", t->fullname);
    else if (t->k == K_MAP)
        snprintf(buf, len, "object (map)");
    else if (t->k == K_FIXED)
        snprintf(buf, len, "string (fixed %s)", t->fullname);
    else if (t->k == K_BYTES)
        snprintf(buf, len, "string (bytes)");
    else if (t->logical)
        snprintf(buf, len, "%s (%s)", kind_names[t->k], t->logical);
    else
        snprintf(buf, len, "%s", kind_names[t->k]);
    return buf;
}

typedef struct vctx {
    unsigned flags;
    yard_schema_error *why; /* NULL: just answer yes/no */
    char path[256];
} vctx;

static int vfail(vctx *c, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int vfail(vctx *c, const char *rule, const char *fmt, ...)
{
    if (!c->why)
        return YARD_EINVAL;
    yard_schema_error *w = c->why;
    snprintf(w->path, sizeof w->path, "%s", c->path);
    w->rule = rule;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (snprintf(w->message, sizeof w->message, "%s: %s", c->path, msg) < 0)
        w->message[0] = '\0';
    return YARD_EINVAL;
}

static bool is_date(const char *s)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

static int validate(const node *t, const json_t *v, vctx *c, int depth);

/* Append ".name" / "[i]" to the path; returns the old length. */
static size_t path_push(vctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static size_t path_push(vctx *c, const char *fmt, ...)
{
    size_t old = strlen(c->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->path + old, sizeof c->path - old, fmt, ap);
    va_end(ap);
    return old;
}

static int validate_record(const node *t, const json_t *v, vctx *c, int depth)
{
    char d[256];
    if (!json_is_object(v))
        return vfail(c, "type", "expected %s, got %s", node_desc(t, d, sizeof d),
                     json_kind(v));
    for (size_t i = 0; i < t->n_fields; i++) {
        const field *f = &t->fields[i];
        const json_t *m = json_object_get(v, f->name);
        size_t old = path_push(c, ".%s", f->name);
        int rc = 0;
        if (!m) {
            if (!f->def)
                rc = vfail(c, "required", "missing required field (%s)",
                           node_desc(f->type, d, sizeof d));
        } else {
            rc = validate(f->type, m, c, depth + 1);
        }
        c->path[old] = '\0';
        if (rc)
            return rc;
    }
    if (c->flags & YARD_SCHEMA_ALLOW_EXTRA)
        return 0;
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m)
    {
        bool known = false;
        for (size_t i = 0; i < t->n_fields && !known; i++)
            known = strcmp(t->fields[i].name, k) == 0;
        /* Seed 000 asks every record to carry correlation_id, and a flat
         * record may name its type: envelope metadata, not data. */
        if (!known && strcmp(c->path, "$") == 0 && json_is_string(m) &&
            (strcmp(k, "correlation_id") == 0 || strcmp(k, "event_type") == 0))
            known = true;
        if (!known) {
            size_t old = path_push(c, ".%s", k);
            int rc = vfail(c, "unknown-field", "unknown field (record %s has "
                                               "no such field)",
                           t->fullname);
            c->path[old] = '\0';
            return rc;
        }
    }
    return 0;
}

static int validate(const node *t, const json_t *v, vctx *c, int depth)
{
    char d[256];
    if (depth > MAX_DEPTH)
        return vfail(c, "depth", "document nested too deeply");
    switch (t->k) {
    case K_NULL:
        if (json_is_null(v))
            return 0;
        break;
    case K_BOOLEAN:
        if (json_is_boolean(v))
            return 0;
        break;
    case K_INT:
    case K_LONG:
        if (json_is_integer(v)) {
            json_int_t x = json_integer_value(v);
            if (t->k == K_INT && (x < INT32_MIN || x > INT32_MAX))
                return vfail(c, "range", "%lld does not fit in an int (32 bits)",
                             (long long)x);
            return 0;
        }
        if (json_is_real(v))
            return vfail(c, "type", "expected %s, got a fractional number",
                         node_desc(t, d, sizeof d));
        break;
    case K_FLOAT:
    case K_DOUBLE:
        if (json_is_number(v))
            return 0;
        break;
    case K_BYTES:
        if (json_is_string(v))
            return 0;
        break;
    case K_STRING:
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            if (t->logical && strcmp(t->logical, "date") == 0 && !is_date(s))
                return vfail(c, "logicalType",
                             "\"%.40s\" is not a date (YYYY-MM-DD)", s);
            if (t->logical && strcmp(t->logical, "uuid") == 0 && !is_uuid(s))
                return vfail(c, "logicalType", "\"%.40s\" is not a UUID", s);
            return 0;
        }
        break;
    case K_FIXED:
        if (json_is_string(v)) {
            if (json_string_length(v) != t->size)
                return vfail(c, "size", "expected %zu bytes, got %zu", t->size,
                             json_string_length(v));
            return 0;
        }
        break;
    case K_ENUM:
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            for (size_t i = 0; i < t->n_symbols; i++)
                if (strcmp(t->symbols[i], s) == 0)
                    return 0;
            char list[256];
            size_t o = 0;
            for (size_t i = 0; i < t->n_symbols && o < sizeof list; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
                                      i ? ", " : "", t->symbols[i]);
            return vfail(c, "enum", "\"%.60s\" is not a symbol of enum %s (%s)",
                         s, t->fullname, list);
        }
        break;
    case K_ARRAY:
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                size_t old = path_push(c, "[%zu]", i);
                int rc = validate(t->items, e, c, depth + 1);
                c->path[old] = '\0';
                if (rc)
                    return rc;
            }
            return 0;
        }
        break;
    case K_MAP:
        if (json_is_object(v)) {
            const char *k;
            json_t *e;
            json_object_foreach((json_t *)v, k, e)
            {
                size_t old = path_push(c, ".%s", k);
                int rc = validate(t->items, e, c, depth + 1);
                c->path[old] = '\0';
                if (rc)
                    return rc;
            }
            return 0;
        }
        break;
    case K_RECORD:
        return validate_record(t, v, c, depth);
    case K_UNION: {
        const node *only = NULL;
        size_t non_null = 0;
        for (size_t i = 0; i < t->n_branches; i++) {
            const node *b = t->branches[i];
            vctx quiet = {c->flags, NULL, ""};
            if (validate(b, v, &quiet, depth + 1) == 0)
                return 0;
            if (b->k != K_NULL) {
                only = b;
                non_null++;
            }
        }
        /* ["null", T]: say what is wrong inside T. */
        if (non_null == 1 && !json_is_null(v))
            return validate(only, v, c, depth + 1);
        return vfail(c, json_is_null(v) ? "type" : "union",
                     "expected %s, got %s", node_desc(t, d, sizeof d),
                     json_kind(v));
    }
    }
    return vfail(c, "type", "expected %s, got %s", node_desc(t, d, sizeof d),
                 json_kind(v));
}

static bool default_ok(const node *t, json_t *v, int depth)
{
    /* Avro: a union's default matches its first branch. */
    if (t->k == K_UNION)
        t = t->branches[0];
    vctx c = {YARD_SCHEMA_ALLOW_EXTRA, NULL, "$"};
    return validate(t, v, &c, depth) == 0;
}

int yard_schema_validate(const yard_schema *s, const json_t *doc,
                         unsigned flags, yard_schema_error *why)
{
    yard_schema_error dummy;
    vctx c = {flags, why ? why : &dummy, "$"};
    memset(c.why, 0, sizeof *c.why);
    return validate(s->root, doc, &c, 0);
}

int yard_schema_validate_text(const yard_schema *s, const char *text,
                              size_t len, unsigned flags,
                              yard_schema_error *why)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!doc) {
        if (why) {
            snprintf(why->path, sizeof why->path, "$");
            why->rule = "json";
            snprintf(why->message, sizeof why->message,
                     "$: not JSON: %s (line %d column %d)", jerr.text,
                     jerr.line, jerr.column);
        }
        return YARD_EINVAL;
    }
    int rc = yard_schema_validate(s, doc, flags, why);
    json_decref(doc);
    return rc;
}

/* ---- registry -------------------------------------------------------- */

yard_schema_registry *yard_schema_registry_new(void)
{
    return calloc(1, sizeof(yard_schema_registry));
}

static void schema_free(yard_schema *s)
{
    if (!s)
        return;
    free(s->type);
    free(s->file);
    free(s->key_template);
    free(s->doc);
    free(s);
}

void yard_schema_registry_free(yard_schema_registry *r)
{
    if (!r)
        return;
    for (node *n = r->all; n;) {
        node *next = n->all_next;
        node_free(n);
        n = next;
    }
    for (size_t i = 0; i < r->n; i++)
        schema_free(r->v[i]);
    for (size_t i = 0; i < r->n_standalone; i++)
        schema_free(r->standalone[i]);
    for (size_t i = 0; i < r->n_files; i++)
        free(r->files[i]);
    free(r->files);
    free(r->standalone);
    free(r->v);
    free(r->common.v);
    free(r);
}

/* "projects.service_order.created.v1.avsc" -> type and version. */
static bool split_file_name(const char *base, char *type, size_t tlen,
                            int *version)
{
    size_t n = strlen(base);
    if (n < 9 || strcmp(base + n - 5, ".avsc") != 0)
        return false;
    const char *v = NULL;
    for (const char *q = base + n - 5; q > base; q--)
        if (*q == '.' && q[1] == 'v') {
            v = q;
            break;
        }
    if (!v || v == base)
        return false;
    char *end;
    long ver = strtol(v + 2, &end, 10);
    if (end != base + n - 5 || ver < 1 || ver > 100000 ||
        !isdigit((unsigned char)v[2]) || (size_t)(v - base) >= tlen)
        return false;
    snprintf(type, tlen, "%.*s", (int)(v - base), base);
    *version = (int)ver;
    return true;
}

static int schema_cmp(const void *a, const void *b)
{
    const yard_schema *x = *(yard_schema *const *)a;
    const yard_schema *y = *(yard_schema *const *)b;
    int c = strcmp(x->type, y->type);
    return c ? c : x->version - y->version;
}

/* Parse `text` as file `name`.  common: merge its named types into the
 * registry's.  Otherwise the top-level record becomes *out. */
static int parse_doc(yard_schema_registry *r, const char *name, bool common,
                     const char *text, node **root, json_t **docp, char *err,
                     size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!doc)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "%s:%d:%d: not JSON: %s", name, jerr.line, jerr.column,
                         jerr.text);
    parser p = {.r = r, .file = name, .err = err, .errlen = errlen};
    node *n = parse_type(&p, doc, NULL, "$", 0);
    if (n && !common && n->k != K_RECORD)
        perr(&p, "$", "an event schema must be a record, not %s",
             kind_names[n->k]);
    if (n && common && !n->fullname)
        perr(&p, "$", "a common/ file must define a named type");
    if (!p.rc && common) {
        for (size_t i = 0; i < p.local.n; i++)
            if (names_add(&r->common, p.local.v[i].n, name)) {
                p.rc = yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
                break;
            }
    }
    free(p.local.v);
    if (p.rc) {
        json_decref(doc);
        return p.rc;
    }
    *root = n;
    *docp = doc;
    return 0;
}

static yard_schema *schema_make(const char *name, const char *type, int version,
                                node *root, json_t *doc)
{
    yard_schema *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->type = strdup(type);
    s->file = strdup(name);
    s->version = version;
    s->root = root;
    const char *kt = json_string_value(json_object_get(doc, "x-partition-key"));
    const char *d = json_string_value(json_object_get(doc, "doc"));
    s->key_template = kt ? strdup(kt) : NULL;
    s->doc = d ? strdup(d) : NULL;
    if (!s->type || !s->file || (kt && !s->key_template) || (d && !s->doc)) {
        schema_free(s);
        return NULL;
    }
    return s;
}

int yard_schema_registry_add(yard_schema_registry *r, const char *name,
                             bool is_common, const char *text, char *err,
                             size_t errlen)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (!is_common && strncmp(name, "common/", 7) == 0)
        is_common = true;
    char type[256];
    int version = 0;
    if (!is_common && !split_file_name(base, type, sizeof type, &version))
        return yard_errf(err, errlen, YARD_EINVAL,
                         "%s: name must be TYPE.vN.avsc (e.g. "
                         "projects.service_order.created.v1.avsc)",
                         name);
    if (!is_common && yard_schema_find(r, type, version))
        return yard_errf(err, errlen, YARD_EEXIST,
                         "%s: %s version %d is defined twice", name, type,
                         version);
    node *root = NULL;
    json_t *doc = NULL;
    int rc = parse_doc(r, name, is_common, text, &root, &doc, err, errlen);
    if (rc)
        return rc;
    if (is_common) {
        char **f = realloc(r->files, (r->n_files + 1) * sizeof *f);
        if (f) {
            r->files = f;
            r->files[r->n_files] = strdup(name);
            r->n_files += r->files[r->n_files] != NULL;
        }
        json_decref(doc);
        return 0;
    }
    const char *xt = json_string_value(json_object_get(doc, "x-event-type"));
    if (xt && strcmp(xt, type) != 0) {
        yard_errf(err, errlen, YARD_EINVAL,
                  "%s: $.x-event-type: \"%s\" does not match the file "
                  "name's type \"%s\"",
                  name, xt, type);
        json_decref(doc);
        return YARD_EINVAL;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        yard_schema **v = realloc(r->v, cap * sizeof *v);
        if (!v) {
            json_decref(doc);
            return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
        }
        r->v = v;
        r->cap = cap;
    }
    yard_schema *s = schema_make(name, type, version, root, doc);
    json_decref(doc);
    if (!s)
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    r->v[r->n++] = s;
    qsort(r->v, r->n, sizeof *r->v, schema_cmp);
    return 0;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        yard_errf(err, errlen, YARD_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.avsc names in dir; returns count or -1 (errno). */
static long list_avsc(const char *dir, char ***out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char **v = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".avsc"))
            continue;
        char **nv = realloc(v, (n + 1) * sizeof *v);
        if (!nv)
            break;
        v = nv;
        if ((v[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    return (long)n;
}

static int load_dir(yard_schema_registry *r, const char *dir, const char *sub,
                    bool common, yard_diag *diag, size_t *bad)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
    char **files = NULL;
    long n = list_avsc(path, &files);
    if (n < 0)
        return errno == ENOENT ? YARD_ENOENT : YARD_EIO;
    for (long i = 0; i < n; i++) {
        char file[4096], rel[512], err[1024];
        if (snprintf(file, sizeof file, "%s/%s", path, files[i]) >=
                (int)sizeof file ||
            snprintf(rel, sizeof rel, "%s%s%s", sub ? sub : "", sub ? "/" : "",
                     files[i]) >= (int)sizeof rel) {
            (*bad)++;
            free(files[i]);
            continue;
        }
        char *text = read_file(file, err, sizeof err);
        int rc = text ? yard_schema_registry_add(r, rel, common, text, err,
                                                 sizeof err)
                      : YARD_EIO;
        free(text);
        if (rc) {
            (*bad)++;
            if (diag)
                yard_diag_add(diag, "%s/%s", dir, err);
        }
        free(files[i]);
    }
    free(files);
    return 0;
}

int yard_schema_registry_load(const char *dir, bool missing_ok,
                              yard_schema_registry **out, yard_diag *diag)
{
    *out = NULL;
    yard_schema_registry *r = yard_schema_registry_new();
    if (!r)
        return YARD_ENOMEM;
    size_t bad = 0;
    int rc = load_dir(r, dir, "common", true, diag, &bad);
    if (rc == YARD_EIO && diag)
        yard_diag_add(diag, "%s/common: %s", dir, strerror(errno));
    rc = load_dir(r, dir, NULL, false, diag, &bad);
    if (rc == YARD_ENOENT && missing_ok) {
        *out = r;
        return 0;
    }
    if (rc) {
        if (diag)
            yard_diag_add(diag, "%s: cannot read the schema directory: %s", dir,
                          strerror(errno));
        yard_schema_registry_free(r);
        return YARD_EIO;
    }
    *out = r;
    return bad ? YARD_ECONFIG : 0;
}

int yard_schema_registry_parse_file(yard_schema_registry *r, const char *path,
                                    const yard_schema **out, char *err,
                                    size_t errlen)
{
    *out = NULL;
    char *text = read_file(path, err, errlen);
    if (!text)
        return YARD_EIO;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char type[256];
    int version = 0;
    if (!split_file_name(base, type, sizeof type, &version)) {
        snprintf(type, sizeof type, "%s", base);
        version = 0;
    }
    node *root = NULL;
    json_t *doc = NULL;
    int rc = parse_doc(r, path, false, text, &root, &doc, err, errlen);
    free(text);
    if (rc)
        return rc;
    yard_schema **v =
        realloc(r->standalone, (r->n_standalone + 1) * sizeof *v);
    yard_schema *s = v ? schema_make(path, type, version, root, doc) : NULL;
    json_decref(doc);
    if (v)
        r->standalone = v;
    if (!s)
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    r->standalone[r->n_standalone++] = s;
    *out = s;
    return 0;
}

const yard_schema *yard_schema_find(const yard_schema_registry *r,
                                    const char *type, int version)
{
    if (!r || !type)
        return NULL;
    const yard_schema *best = NULL;
    for (size_t i = 0; i < r->n; i++) {
        const yard_schema *s = r->v[i];
        if (strcmp(s->type, type) != 0)
            continue;
        if (version ? s->version == version
                    : (!best || s->version > best->version))
            best = s;
    }
    return best;
}

const yard_schema *yard_schema_for_event(const yard_schema_registry *r,
                                         const char *type, const char *version)
{
    int v = version ? atoi(version) : 0;
    const yard_schema *s = v > 0 ? yard_schema_find(r, type, v) : NULL;
    return s ? s : yard_schema_find(r, type, 0);
}

size_t yard_schema_count(const yard_schema_registry *r) { return r ? r->n : 0; }
const yard_schema *yard_schema_at(const yard_schema_registry *r, size_t i)
{
    return r && i < r->n ? r->v[i] : NULL;
}
size_t yard_schema_common_count(const yard_schema_registry *r)
{
    return r ? r->common.n : 0;
}
const char *yard_schema_common_file(const yard_schema_registry *r, size_t i)
{
    return r && i < r->n_files ? r->files[i] : NULL;
}
const char *yard_schema_type(const yard_schema *s) { return s->type; }
int yard_schema_version(const yard_schema *s) { return s->version; }
const char *yard_schema_file(const yard_schema *s) { return s->file; }
const char *yard_schema_fullname(const yard_schema *s)
{
    return s->root->fullname;
}
const char *yard_schema_doc(const yard_schema *s) { return s->doc; }
const char *yard_schema_key_template(const yard_schema *s)
{
    return s->key_template;
}

static void type_text(const node *t, char *buf, size_t len)
{
    char d[256];
    switch (t->k) {
    case K_ARRAY:
    case K_MAP: {
        char in[200];
        type_text(t->items, in, sizeof in);
        snprintf(buf, len, "%s<%s>", t->k == K_ARRAY ? "array" : "map", in);
        return;
    }
    case K_UNION: {
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < t->n_branches && o < len; i++) {
            char in[200];
            type_text(t->branches[i], in, sizeof in);
            o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? " | " : "",
                                  in);
        }
        return;
    }
    case K_RECORD:
    case K_ENUM:
    case K_FIXED: {
        const char *dot = strrchr(t->fullname, '.');
        snprintf(buf, len, "%s %s", kind_names[t->k],
                 dot ? dot + 1 : t->fullname);
        if (t->k == K_ENUM) {
            size_t o = strlen(buf);
            o += (size_t)snprintf(buf + o, len - o, " (");
            for (size_t i = 0; i < t->n_symbols && o < len; i++)
                o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
                                      t->symbols[i]);
            if (o < len)
                snprintf(buf + o, len - o, ")");
        }
        return;
    }
    default:
        snprintf(buf, len, "%s", node_desc(t, d, sizeof d));
    }
}

json_t *yard_schema_describe_fields(const yard_schema *s)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < s->root->n_fields; i++) {
        const field *f = &s->root->fields[i];
        char t[512];
        type_text(f->type, t, sizeof t);
        json_array_append_new(arr, json_pack("{ssssss*sb}", "name", f->name,
                                             "type", t, "doc", f->doc,
                                             "optional", f->def != NULL));
    }
    return arr;
}

/* ---- compatibility --------------------------------------------------- */

typedef struct compat {
    yard_diag *out;
    size_t n;
    /* record pairs already compared (recursive types) */
    const node *seen_w[64], *seen_r[64];
    size_t n_seen;
} compat;

static void violation(compat *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void violation(compat *c, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->n++;
    if (c->out)
        yard_diag_add(c->out, "%s: %s", path, msg);
}

static const char *short_name(const node *t)
{
    if (!t->fullname)
        return kind_names[t->k];
    const char *dot = strrchr(t->fullname, '.');
    return dot ? dot + 1 : t->fullname;
}

static int num_rank(kind k)
{
    switch (k) {
    case K_INT: return 1;
    case K_LONG: return 2;
    case K_FLOAT: return 3;
    case K_DOUBLE: return 4;
    default: return 0;
    }
}

/* Can a value written as w be read as r, without reporting? */
static bool readable(const node *w, const node *r);

static void compare(compat *c, const node *w, const node *r, const char *path);

static bool readable(const node *w, const node *r)
{
    compat quiet = {0};
    compare(&quiet, w, r, "");
    return quiet.n == 0;
}

static bool same_logical(const node *w, const node *r)
{
    if (!w->logical || !r->logical)
        return w->logical == r->logical;
    return strcmp(w->logical, r->logical) == 0;
}

static void compare_record(compat *c, const node *w, const node *r,
                           const char *path)
{
    for (size_t i = 0; i < c->n_seen; i++)
        if (c->seen_w[i] == w && c->seen_r[i] == r)
            return;
    if (c->n_seen < 64) {
        c->seen_w[c->n_seen] = w;
        c->seen_r[c->n_seen++] = r;
    }
    char sub[512];
    for (size_t i = 0; i < r->n_fields; i++) {
        const field *rf = &r->fields[i];
        const field *wf = NULL;
        for (size_t k = 0; k < w->n_fields && !wf; k++)
            if (strcmp(w->fields[k].name, rf->name) == 0)
                wf = &w->fields[k];
        snprintf(sub, sizeof sub, "%s.%s", path, rf->name);
        if (!wf) {
            const field *renamed = NULL;
            for (size_t a = 0; a < rf->n_aliases && !renamed; a++)
                for (size_t k = 0; k < w->n_fields && !renamed; k++)
                    if (strcmp(w->fields[k].name, rf->aliases[a]) == 0)
                        renamed = &w->fields[k];
            if (renamed)
                violation(c, sub, "field renamed from \"%s\" (renaming is not "
                                  "allowed)",
                          renamed->name);
            else if (!rf->def)
                violation(c, sub, "field added without a default (old events "
                                  "do not have it)");
            continue;
        }
        if (wf->def && !rf->def)
            violation(c, sub, "field lost its default (old events may omit it)");
        compare(c, wf->type, rf->type, sub);
    }
    for (size_t k = 0; k < w->n_fields; k++) {
        const field *wf = &w->fields[k];
        bool kept = false;
        for (size_t i = 0; i < r->n_fields && !kept; i++) {
            kept = strcmp(r->fields[i].name, wf->name) == 0;
            for (size_t a = 0; a < r->fields[i].n_aliases && !kept; a++)
                kept = strcmp(r->fields[i].aliases[a], wf->name) == 0;
        }
        if (!kept) {
            snprintf(sub, sizeof sub, "%s.%s", path, wf->name);
            violation(c, sub, "field removed (or renamed)");
        }
    }
}

static void compare(compat *c, const node *w, const node *r, const char *path)
{
    char wd[256], rd[256];
    if (w->k == K_UNION) {
        /* Every branch the writer could have used must stay readable. */
        for (size_t i = 0; i < w->n_branches; i++) {
            const node *b = w->branches[i];
            bool ok = false;
            if (r->k == K_UNION) {
                for (size_t k = 0; k < r->n_branches && !ok; k++)
                    ok = readable(b, r->branches[k]);
            } else {
                ok = readable(b, r);
            }
            if (!ok)
                violation(c, path, "union branch %s removed or changed (now %s)",
                          node_desc(b, wd, sizeof wd),
                          node_desc(r, rd, sizeof rd));
        }
        return;
    }
    if (r->k == K_UNION) {
        /* T -> [.., T, ..]: the branch of the same kind/name reads it. */
        for (size_t k = 0; k < r->n_branches; k++) {
            const node *b = r->branches[k];
            if (b->k == w->k && (!b->fullname || !w->fullname ||
                                 strcmp(b->fullname, w->fullname) == 0)) {
                compare(c, w, b, path);
                return;
            }
        }
        for (size_t k = 0; k < r->n_branches; k++)
            if (readable(w, r->branches[k]))
                return;
        violation(c, path, "type changed from %s to %s",
                  node_desc(w, wd, sizeof wd), node_desc(r, rd, sizeof rd));
        return;
    }
    if (w->k != r->k) {
        if (num_rank(w->k) && num_rank(r->k) && num_rank(w->k) < num_rank(r->k) &&
            same_logical(w, r))
            return; /* widening */
        violation(c, path, "type changed from %s to %s",
                  node_desc(w, wd, sizeof wd), node_desc(r, rd, sizeof rd));
        return;
    }
    if (!same_logical(w, r)) {
        violation(c, path, "logicalType changed from %s to %s",
                  w->logical ? w->logical : "none",
                  r->logical ? r->logical : "none");
        return;
    }
    if (w->fullname && r->fullname && strcmp(short_name(w), short_name(r)) != 0) {
        violation(c, path, "%s renamed from %s to %s", kind_names[w->k],
                  w->fullname, r->fullname);
        return;
    }
    char sub[512];
    switch (w->k) {
    case K_RECORD: compare_record(c, w, r, path); break;
    case K_ENUM:
        for (size_t i = 0; i < w->n_symbols; i++) {
            if (i < r->n_symbols && strcmp(w->symbols[i], r->symbols[i]) == 0)
                continue;
            bool present = false;
            for (size_t k = 0; k < r->n_symbols && !present; k++)
                present = strcmp(w->symbols[i], r->symbols[k]) == 0;
            if (present)
                violation(c, path, "enum symbol %s moved (new symbols go at "
                                   "the end)",
                          w->symbols[i]);
            else
                violation(c, path, "enum symbol %s removed", w->symbols[i]);
        }
        break;
    case K_ARRAY:
    case K_MAP:
        snprintf(sub, sizeof sub, "%s%s", path, w->k == K_ARRAY ? "[]" : "{}");
        compare(c, w->items, r->items, sub);
        break;
    case K_FIXED:
        if (w->size != r->size)
            violation(c, path, "fixed size changed from %zu to %zu", w->size,
                      r->size);
        break;
    default: break;
    }
}

size_t yard_schema_check_compat(const yard_schema *older,
                                const yard_schema *newer, yard_diag *out)
{
    compat c = {.out = out};
    compare(&c, older->root, newer->root, short_name(newer->root));
    return c.n;
}

/* ---- partition keys -------------------------------------------------- */

int yard_schema_partition_key(const yard_schema *s, const json_t *payload,
                              char *out, size_t outlen)
{
    const char *t = s ? s->key_template : NULL;
    if (!t || !json_is_object(payload))
        return YARD_ENOENT;
    size_t o = 0;
    while (*t) {
        char piece[256];
        const char *val;
        size_t vlen;
        if (*t == '{') {
            const char *end = strchr(t, '}');
            if (!end || (size_t)(end - t - 1) >= sizeof piece)
                return YARD_EINVAL;
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(end - t - 1), t + 1);
            json_t *v = json_object_get(payload, name);
            if (!v || json_is_null(v) || json_is_object(v) || json_is_array(v))
                return YARD_ENOENT;
            if (json_is_string(v)) {
                val = json_string_value(v);
                vlen = json_string_length(v);
            } else {
                char *txt = json_dumps(v, JSON_ENCODE_ANY);
                if (!txt)
                    return YARD_ENOMEM;
                snprintf(piece, sizeof piece, "%s", txt);
                free(txt);
                val = piece;
                vlen = strlen(piece);
            }
            t = end + 1;
        } else {
            val = t;
            vlen = strcspn(t, "{");
            t += vlen;
        }
        if (o + vlen + 1 > outlen)
            return YARD_EINVAL;
        memcpy(out + o, val, vlen);
        o += vlen;
    }
    if (!outlen)
        return YARD_EINVAL;
    out[o] = '\0';
    return 0;
}
