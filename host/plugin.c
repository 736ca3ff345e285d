/*
 * plugin.c — loading, checking and unloading plugin shared objects (see
 * plugin.h).
 *
 * The order of yard_plugin_open() is the security argument: resolve and
 * check the file (inside plugin_dir, regular, not writable by others, owned
 * by root or the host), copy it from the very open file that was checked
 * into a private per-generation file, dlopen the copy, then read the
 * descriptor's ABI block field by field — bounded by the symbol's ELF size —
 * before any plugin function is called.
 */
#include "plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "pattern.h"

/* The handle a plugin holds.  It is embedded first in yard_plugin, so a
 * sy_plugin pointer and its yard_plugin pointer are the same address; the
 * owner pointer makes the way back explicit instead of a cast. */
struct sy_plugin {
    struct yard_plugin *owner;
};

/* A plugin's own counter (sy_host_api.metric_add). */
typedef struct plugin_metric {
    char *name;
    double value;
} plugin_metric;

struct yard_plugin {
    struct sy_plugin self; /* must stay first: see yard_plugin_self() */
    const yard_plugin_conf *conf; /* caller's; outlives the plugin */
    void *handle;                 /* dlopen() of copy_path */
    const sy_plugin_desc *desc;   /* inside the loaded image */
    void *state;                  /* what init() stored */
    uint64_t generation;
    char *copy_path; /* <runtime_dir>/<name>.<generation>.so, ours */
    bool copied;     /* copy_path exists and must be unlinked */
    uint64_t file_hash;
    bool started; /* init() returned 0: fini() is owed */

    pthread_mutex_t metrics_mu; /* guards metrics, n_metrics, warned */
    plugin_metric *metrics;
    size_t n_metrics;
    bool metric_warned; /* one warning per plugin for rejected names */
};

_Static_assert(offsetof(struct yard_plugin, self) == 0,
               "sy_plugin must be the first member of yard_plugin");

/* The bytes of magic, abi_major, abi_minor and size: what must be readable
 * before anything else in the descriptor can be trusted. */
#define DESC_HEAD_SIZE (offsetof(sy_plugin_desc, size) + sizeof(uint32_t))

/* Bytes of the descriptor defined by ABI minor m: a plugin built for m sets
 * `size` to at least desc_size_by_minor[m].  A new minor appends fields and
 * a row here (the assert below fires until it does). */
#define DESC_END(field)                                                     \
    (offsetof(sy_plugin_desc, field) + sizeof(((sy_plugin_desc *)0)->field))
static const size_t desc_size_by_minor[SY_ABI_MINOR + 1] = {
    [0] = DESC_END(fini),
};
_Static_assert(SY_ABI_MINOR == 0 && DESC_END(fini) == sizeof(sy_plugin_desc),
               "new ABI minor: add its row to desc_size_by_minor");

/* ELF32_ST_TYPE or ELF64_ST_TYPE, whichever this process is. */
#define SYM_TYPE(info) _ElfW(ELF, __ELF_NATIVE_CLASS, ST_TYPE)(info)

#define COPY_CHUNK 65536
#define COPY_MODE 0500 /* the private copy: readable by the host only */
#define MSG_NAME_MAX 64 /* plugin-supplied strings quoted in messages */
#define PLUGIN_ERR_MAX 512 /* buffer handed to init() and migrate() */
#define METRICS_MAX 256 /* distinct counters per plugin */
#define METRIC_NAME_MAX 64

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

static const char hint_descriptor[] =
    "hint: declare it with SY_PLUGIN_DESCRIPTOR(...) from <switchyard/sdk.h>";
static const char hint_rebuild[] =
    "hint: rebuild the plugin against this host's <switchyard/sdk.h>";

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV64_PRIME;
    }
    return h;
}

/* Copy a plugin-supplied string into out for a message: bounded, and
 * anything that is not printable ASCII shown as '?'. */
static const char *printable(const char *s, char *out, size_t outlen)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = '\0';
    return out;
}

static bool name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* Is `file` (resolved) strictly inside `dir` (resolved)? */
static bool path_inside(const char *dir, const char *file)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return file[0] == '/' && file[1] != '\0';
    return strncmp(file, dir, n) == 0 && file[n] == '/' && file[n + 1] != '\0';
}

/*
 * Resolve conf->path, check it lies inside plugin_dir, open it and check
 * what was opened: regular file, not group- or world-writable, owned by
 * root or host_uid.  The checks run on the open descriptor, so the bytes
 * copied are the bytes checked.  *fd_out is the open file on success.
 */
static int open_trusted(const yard_plugin_conf *conf,
                        const yard_plugin_open_opts *opts, int *fd_out,
                        char *err, size_t errlen)
{
    const char *file = conf->path;
    char real_file[PATH_MAX], real_dir[PATH_MAX];

    if (!opts->plugin_dir)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "%s: no plugin directory to check the file against",
                         file);
    if (!realpath(file, real_file))
        return yard_errf(err, errlen, YARD_EIO, "%s: cannot resolve: %s", file,
                         strerror(errno));
    if (!realpath(opts->plugin_dir, real_dir))
        return yard_errf(err, errlen, YARD_EIO,
                         "%s: cannot resolve plugin directory %s: %s", file,
                         opts->plugin_dir, strerror(errno));
    if (!path_inside(real_dir, real_file))
        return yard_errf(err, errlen, YARD_EPLUGIN,
                         "%s: refused: resolves to %s, outside the plugin "
                         "directory %s; hint: install the plugin file itself "
                         "in %s (symlinks may not lead out of it)",
                         file, real_file, real_dir, real_dir);

    int fd = open(real_file,
                  O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return yard_errf(err, errlen, YARD_EIO, "%s: cannot open %s: %s",
                         file, real_file, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = yard_errf(err, errlen, YARD_EIO, "%s: cannot stat: %s", file,
                       strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = yard_errf(err, errlen, YARD_EPLUGIN,
                       "%s: refused: not a regular file", file);
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        rc = yard_errf(err, errlen, YARD_EPLUGIN,
                       "%s: refused: group- or world-writable (mode %04o); "
                       "hint: chmod go-w %s",
                       file, (unsigned)(st.st_mode & 07777), file);
    else if (st.st_uid != 0 && st.st_uid != opts->host_uid)
        rc = yard_errf(err, errlen, YARD_EPLUGIN,
                       "%s: refused: owned by uid %lu, not by root or the "
                       "host's uid %lu; hint: chown root %s",
                       file, (unsigned long)st.st_uid,
                       (unsigned long)opts->host_uid, file);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

/* Without trust checks: open conf->path as given; still a regular file. */
static int open_untrusted(const yard_plugin_conf *conf, int *fd_out,
                          char *err, size_t errlen)
{
    int fd = open(conf->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return yard_errf(err, errlen, YARD_EIO, "%s: cannot open: %s",
                         conf->path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return yard_errf(err, errlen, YARD_EPLUGIN,
                         "%s: refused: not a regular file", conf->path);
    }
    *fd_out = fd;
    return 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy src into a new file dst (mode COPY_MODE), hashing the bytes.  A
 * stale dst (left by a crash) is replaced; on failure dst is removed. */
static int copy_file(int src, const char *file, const char *dst,
                     uint64_t *hash, char *err, size_t errlen)
{
    if (unlink(dst) != 0 && errno != ENOENT)
        return yard_errf(err, errlen, YARD_EIO,
                         "%s: cannot remove stale copy %s: %s", file, dst,
                         strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                   COPY_MODE);
    if (out < 0)
        return yard_errf(err, errlen, YARD_EIO, "%s: cannot create copy %s: %s",
                         file, dst, strerror(errno));
    unsigned char *buf = malloc(COPY_CHUNK);
    if (!buf) {
        close(out);
        unlink(dst);
        return yard_errf(err, errlen, YARD_ENOMEM, "%s: out of memory", file);
    }
    uint64_t h = FNV64_OFFSET;
    int rc = 0;
    for (;;) {
        ssize_t r = read(src, buf, COPY_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = yard_errf(err, errlen, YARD_EIO, "%s: cannot read: %s", file,
                           strerror(errno));
            break;
        }
        if (r == 0)
            break;
        h = fnv1a(h, buf, (size_t)r);
        if (write_all(out, buf, (size_t)r) != 0) {
            rc = yard_errf(err, errlen, YARD_EIO, "%s: cannot write %s: %s",
                           file, dst, strerror(errno));
            break;
        }
    }
    free(buf);
    if (close(out) != 0 && rc == 0)
        rc = yard_errf(err, errlen, YARD_EIO, "%s: cannot write %s: %s", file,
                       dst, strerror(errno));
    if (rc != 0) {
        unlink(dst);
        return rc;
    }
    *hash = h;
    return 0;
}

static void plugin_free(yard_plugin *p)
{
    if (p->handle)
        dlclose(p->handle);
    if (p->copied)
        unlink(p->copy_path);
    free(p->copy_path);
    for (size_t i = 0; i < p->n_metrics; i++)
        free(p->metrics[i].name);
    free(p->metrics);
    pthread_mutex_destroy(&p->metrics_mu);
    free(p);
}

/* A malformed-descriptor refusal: file, what is wrong, the usual hint. */
#define MALFORMED(fmt, ...)                                                 \
    yard_errf(err, errlen, YARD_EABI, "%s: malformed descriptor: " fmt "; %s", \
              file, __VA_ARGS__, hint_descriptor)

/*
 * Find and check the descriptor in the loaded image without calling into
 * it.  Reads are bounded by the symbol's ELF size: the ABI head first, the
 * rest only once the head says how large the struct is.
 */
static int check_descriptor(yard_plugin *p, char *err, size_t errlen)
{
    const char *file = p->conf->path;
    char shown[MSG_NAME_MAX + 1];

    dlerror();
    void *sym = dlsym(p->handle, SY_PLUGIN_SYMBOL);
    if (!sym)
        return yard_errf(err, errlen, YARD_EABI,
                         "%s: no descriptor: symbol %s not exported; %s", file,
                         SY_PLUGIN_SYMBOL, hint_descriptor);

    /* dlsym() on a handle also searches the object's dependencies: the
     * symbol must be defined by the plugin itself. */
    struct link_map *own = NULL, *defining = NULL;
    Dl_info info;
    const ElfW(Sym) *elf = NULL;
    if (dlinfo(p->handle, RTLD_DI_LINKMAP, &own) != 0 ||
        !dladdr1(sym, &info, (void **)&defining, RTLD_DL_LINKMAP) ||
        !dladdr1(sym, &info, (void **)&elf, RTLD_DL_SYMENT) || !elf ||
        !info.dli_sname || strcmp(info.dli_sname, SY_PLUGIN_SYMBOL) != 0 ||
        info.dli_saddr != sym)
        return MALFORMED("cannot find the ELF symbol entry of %s",
                         SY_PLUGIN_SYMBOL);
    if (defining != own)
        return yard_errf(err, errlen, YARD_EABI,
                         "%s: no descriptor: symbol %s is not defined by the "
                         "plugin but by %s; %s",
                         file, SY_PLUGIN_SYMBOL,
                         defining && defining->l_name ? defining->l_name : "?",
                         hint_descriptor);
    if (SYM_TYPE(elf->st_info) != STT_OBJECT)
        return MALFORMED("symbol %s is not a data object", SY_PLUGIN_SYMBOL);
    size_t sym_size = (size_t)elf->st_size;
    if (sym_size < DESC_HEAD_SIZE)
        return MALFORMED("symbol %s is %zu bytes, too small for the ABI "
                         "block: host has %zu, plugin has %zu",
                         SY_PLUGIN_SYMBOL, sym_size, DESC_HEAD_SIZE, sym_size);

    const sy_plugin_desc *d = sym;
    if (d->magic != SY_PLUGIN_MAGIC)
        return MALFORMED("bad magic: host has 0x%08x, plugin has 0x%08x",
                         (unsigned)SY_PLUGIN_MAGIC, (unsigned)d->magic);
    if (d->abi_major != SY_ABI_MAJOR)
        return yard_errf(err, errlen, YARD_EABI,
                         "%s: refused: ABI major mismatch: host has ABI %u.%u, "
                         "plugin has ABI %u.%u; %s",
                         file, SY_ABI_MAJOR, SY_ABI_MINOR,
                         (unsigned)d->abi_major, (unsigned)d->abi_minor,
                         hint_rebuild);
    if (d->abi_minor > SY_ABI_MINOR)
        return yard_errf(err, errlen, YARD_EABI,
                         "%s: refused: plugin needs a newer host: host has "
                         "ABI %u.%u, plugin has ABI %u.%u; hint: upgrade the "
                         "host, or rebuild the plugin against this host's "
                         "<switchyard/sdk.h>",
                         file, SY_ABI_MAJOR, SY_ABI_MINOR,
                         (unsigned)d->abi_major, (unsigned)d->abi_minor);
    size_t need = desc_size_by_minor[d->abi_minor];
    if (d->size < need)
        return MALFORMED("size field too small for ABI %u.%u: host has %zu, "
                         "plugin has %u",
                         (unsigned)d->abi_major, (unsigned)d->abi_minor, need,
                         (unsigned)d->size);
    if (sym_size < d->size)
        return MALFORMED("symbol %s is %zu bytes but its size field says %u",
                         SY_PLUGIN_SYMBOL, sym_size, (unsigned)d->size);

    /* From here the whole minor-0 struct is known to be readable. */
    if (!d->name || !*d->name)
        return MALFORMED("field name is %s", d->name ? "empty" : "NULL");
    if (!name_ok(d->name))
        return MALFORMED("field name \"%s\" is not [a-z0-9_-]+",
                         printable(d->name, shown, sizeof shown));
    if (!d->version || !*d->version)
        return MALFORMED("field version is %s", d->version ? "empty" : "NULL");
    if (d->n_subscriptions == 0 || !d->subscriptions)
        return MALFORMED("field subscriptions is empty (%s, n_subscriptions "
                         "%zu); a plugin must subscribe to something",
                         d->subscriptions ? "set" : "NULL",
                         d->n_subscriptions);
    for (size_t i = 0; i < d->n_subscriptions; i++) {
        const sy_subscription *s = &d->subscriptions[i];
        if (!s->pattern || !*s->pattern)
            return MALFORMED("field subscriptions[%zu].pattern is %s", i,
                             s->pattern ? "empty" : "NULL");
        if (!s->handler)
            return MALFORMED("field subscriptions[%zu].handler is NULL "
                             "(pattern \"%s\")",
                             i, printable(s->pattern, shown, sizeof shown));
    }
    if (!d->init)
        return MALFORMED("field init is %s", "NULL");
    p->desc = d;
    return 0;
}

int yard_plugin_open(const yard_plugin_conf *conf,
                     const yard_plugin_open_opts *opts, yard_plugin **out,
                     char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!conf || !conf->path || !*conf->path || !conf->name || !opts ||
        !opts->runtime_dir || !out)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "plugin open: missing path, name, options or "
                         "runtime directory");
    const char *file = conf->path;
    /* The name becomes part of a file name in the runtime directory. */
    if (!*conf->name || conf->name[0] == '.' || strchr(conf->name, '/'))
        return yard_errf(err, errlen, YARD_EINVAL,
                         "%s: plugin name \"%s\" cannot name a file", file,
                         conf->name);

    int fd = -1;
    int rc = opts->skip_trust_checks
                 ? open_untrusted(conf, &fd, err, errlen)
                 : open_trusted(conf, opts, &fd, err, errlen);
    if (rc != 0)
        return rc;

    yard_plugin *p = calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        return yard_errf(err, errlen, YARD_ENOMEM, "%s: out of memory", file);
    }
    p->self.owner = p;
    p->conf = conf;
    p->generation = opts->generation;
    pthread_mutex_init(&p->metrics_mu, NULL);

    if (asprintf(&p->copy_path, "%s/%s.%llu.so", opts->runtime_dir,
                 conf->name, (unsigned long long)opts->generation) < 0) {
        p->copy_path = NULL;
        close(fd);
        plugin_free(p);
        return yard_errf(err, errlen, YARD_ENOMEM, "%s: out of memory", file);
    }
    rc = copy_file(fd, file, p->copy_path, &p->file_hash, err, errlen);
    close(fd);
    if (rc != 0) {
        plugin_free(p);
        return rc;
    }
    p->copied = true;

    dlerror();
    p->handle = dlopen(p->copy_path, RTLD_NOW | RTLD_LOCAL);
    if (!p->handle) {
        const char *why = dlerror();
        why = why ? why : "unknown dlopen error";
        rc = yard_errf(err, errlen, YARD_EPLUGIN, "%s: cannot load: %s%s",
                       file, why,
                       strstr(why, "undefined symbol")
                           ? "; hint: a plugin may use only the host API "
                             "table and system libraries"
                           : "");
        plugin_free(p);
        return rc;
    }
    rc = check_descriptor(p, err, errlen);
    if (rc != 0) {
        plugin_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int yard_plugin_start(yard_plugin *p, const sy_host_api *api,
                      yard_migrate_fn migrate, void *migrate_arg, char *err,
                      size_t errlen)
{
    if (!p || !api)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "plugin start: missing plugin or host API");
    const sy_plugin_desc *d = p->desc;
    const char *file = p->conf->path;
    if (p->started)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "plugin %s (%s): already started", d->name, file);

    char perr[PLUGIN_ERR_MAX];
    if (migrate && d->migrations) {
        for (size_t i = 0; d->migrations[i]; i++) {
            if (i >= INT_MAX - 1)
                return yard_errf(err, errlen, YARD_EPLUGIN,
                                 "plugin %s (%s): too many migrations",
                                 d->name, file);
            int version = (int)i + 1;
            perr[0] = '\0';
            int mrc = migrate(migrate_arg, d->name, version, d->migrations[i],
                              perr, sizeof perr);
            if (mrc != 0) {
                perr[sizeof perr - 1] = '\0';
                return yard_errf(err, errlen, mrc < 0 ? mrc : YARD_EPLUGIN,
                                 "plugin %s (%s): migration %d failed: %s",
                                 d->name, file, version,
                                 perr[0] ? perr : "(no message)");
            }
        }
    }

    memset(perr, 0, sizeof perr);
    void *state = NULL;
    int irc = d->init(yard_plugin_self(p), api, &state, perr, sizeof perr);
    if (irc != 0) {
        perr[sizeof perr - 1] = '\0';
        return yard_errf(err, errlen, YARD_EPLUGIN,
                         "plugin %s (%s): init failed: %s", d->name, file,
                         perr[0] ? perr : "(init returned an error without a "
                                          "message)");
    }
    p->state = state;
    p->started = true;
    return 0;
}

void yard_plugin_close(yard_plugin *p)
{
    if (!p)
        return;
    if (p->started && p->desc->fini)
        p->desc->fini(p->state);
    p->started = false;
    p->state = NULL;
    plugin_free(p);
}

const sy_plugin_desc *yard_plugin_desc(const yard_plugin *p)
{
    return p->desc;
}

const yard_plugin_conf *yard_plugin_conf_of(const yard_plugin *p)
{
    return p->conf;
}

const char *yard_plugin_name(const yard_plugin *p) { return p->conf->name; }
void *yard_plugin_state(const yard_plugin *p) { return p->state; }
uint64_t yard_plugin_generation(const yard_plugin *p) { return p->generation; }
uint64_t yard_plugin_file_hash(const yard_plugin *p) { return p->file_hash; }

int yard_file_hash(const char *path, uint64_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return YARD_EIO;
    unsigned char *buf = malloc(COPY_CHUNK);
    if (!buf) {
        close(fd);
        return YARD_ENOMEM;
    }
    uint64_t h = FNV64_OFFSET;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, COPY_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = YARD_EIO;
            break;
        }
        if (r == 0)
            break;
        h = fnv1a(h, buf, (size_t)r);
    }
    free(buf);
    close(fd);
    if (rc == 0)
        *out = h;
    return rc;
}

sy_handler_fn yard_plugin_route(const yard_plugin *p, const char *type)
{
    if (!p || !type)
        return NULL;
    const sy_plugin_desc *d = p->desc;
    for (size_t i = 0; i < d->n_subscriptions; i++)
        if (yard_pattern_match(d->subscriptions[i].pattern, type))
            return d->subscriptions[i].handler;
    return NULL;
}

static bool metric_name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return n > 0 && n <= METRIC_NAME_MAX;
}

/* Called with metrics_mu held. */
static void metric_warn_locked(yard_plugin *p, const char *why)
{
    if (p->metric_warned)
        return;
    p->metric_warned = true;
    yard_log(YARD_LOG_WARN, "plugin counter ignored", "plugin", p->conf->name,
             "reason", why, "detail", "further ignored counters not logged",
             NULL);
}

void yard_plugin_metric_add(yard_plugin *p, const char *name, double value)
{
    if (!p)
        return;
    bool bad_name = !name || !metric_name_ok(name);
    pthread_mutex_lock(&p->metrics_mu);
    if (bad_name) {
        metric_warn_locked(p, "name is not [a-z0-9_]{1,64}");
        goto out;
    }
    if (!isfinite(value)) {
        metric_warn_locked(p, "value is not finite");
        goto out;
    }
    for (size_t i = 0; i < p->n_metrics; i++) {
        if (strcmp(p->metrics[i].name, name) == 0) {
            p->metrics[i].value += value;
            goto out;
        }
    }
    if (p->n_metrics >= METRICS_MAX) {
        metric_warn_locked(p, "too many distinct counters");
        goto out;
    }
    plugin_metric *m =
        realloc(p->metrics, (p->n_metrics + 1) * sizeof *p->metrics);
    if (!m)
        goto out;
    p->metrics = m;
    char *copy = strdup(name);
    if (!copy)
        goto out;
    m[p->n_metrics].name = copy;
    m[p->n_metrics].value = value;
    p->n_metrics++;
out:
    pthread_mutex_unlock(&p->metrics_mu);
}

void yard_plugin_metric_each(const yard_plugin *p,
                             void (*fn)(void *arg, const char *name,
                                        double value),
                             void *arg)
{
    if (!p || !fn)
        return;
    /* The lock is state of the plugin object, not of its value. */
    pthread_mutex_t *mu = (pthread_mutex_t *)&p->metrics_mu;
    pthread_mutex_lock(mu);
    for (size_t i = 0; i < p->n_metrics; i++)
        fn(arg, p->metrics[i].name, p->metrics[i].value);
    pthread_mutex_unlock(mu);
}

sy_plugin *yard_plugin_self(yard_plugin *p) { return p ? &p->self : NULL; }

yard_plugin *yard_plugin_from_self(const sy_plugin *self)
{
    return self ? self->owner : NULL;
}
