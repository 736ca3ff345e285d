/*
 * crashrec.c — the crash record (see crashrec.h).
 */
#include "crashrec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "store.h"

#define SLOT_BYTES 4096 /* one page per worker: writers never share a line */
#define MAX_FILES 64    /* hosts sharing one state_dir */

/* "group\0id\0plugin\0", valid while `len` is non-zero. */
typedef struct slot {
    _Atomic uint32_t len;
    char text[SLOT_BYTES - sizeof(uint32_t)];
} slot;

typedef struct entry {
    char *group;
    char *id;
    unsigned crashes;
} entry;

struct yard_crashrec {
    int fd;
    slot *slots;
    unsigned n_slots;
    entry *loaded;
    size_t n_loaded;
};

static const char upsert_sql[] =
    "INSERT INTO yard_crash_record (consumer_group, event_id, plugin, crashes)"
    " VALUES ($1, $2, $3, 1) ON CONFLICT (consumer_group, event_id) DO UPDATE"
    " SET crashes = yard_crash_record.crashes + 1, plugin = EXCLUDED.plugin,"
    " last_crash_at = now() RETURNING crashes";

/* The first crash-record.N in dir that no running host holds, locked;
 * or a negative error class. */
static int open_free_file(const char *dir, char *path, size_t pathlen,
                          char *err, size_t errlen)
{
    for (int n = 0; n < MAX_FILES; n++) {
        snprintf(path, pathlen, "%s/crash-record.%d", dir, n);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return yard_errf(err, errlen, YARD_EIO, "crash record %s: %s", path,
                              strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (e != EWOULDBLOCK)
            return yard_errf(err, errlen, YARD_EIO, "crash record %s: flock: %s",
                              path, strerror(e));
    }
    return yard_errf(err, errlen, YARD_EIO,
                      "crash record: all %d files in %s are held by running hosts",
                      MAX_FILES, dir);
}

/* Count one slot's event in the table; logs it. */
static int settle_slot(PGconn *conn, const slot *s, char *err, size_t errlen)
{
    uint32_t len = atomic_load(&s->len);
    if (len == 0 || len > sizeof s->text)
        return 0;
    /* Three NUL-terminated strings inside `len` bytes, or garbage. */
    const char *group = s->text, *end = s->text + len;
    const char *id = memchr(group, '\0', (size_t)(end - group));
    const char *plugin = id ? memchr(id + 1, '\0', (size_t)(end - id - 1)) : NULL;
    if (!plugin || !memchr(plugin + 1, '\0', (size_t)(end - plugin - 1)))
        return 0;
    id++;
    plugin++;
    const char *params[] = {group, id, plugin};
    PGresult *r = PQexecParams(conn, upsert_sql, 3, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = yard_errf(err, errlen, YARD_EDB, "crash record: %s",
                       PQresultErrorMessage(r));
    else
        yard_log(YARD_LOG_WARN,
                 "event was inside a handler when the host died", "plugin",
                 plugin, "group", group, "event_id", id, "crashes",
                 PQgetvalue(r, 0, 0), NULL);
    PQclear(r);
    return rc;
}

static int load(yard_crashrec *rec, PGconn *conn, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, "SELECT consumer_group, event_id, crashes"
                               " FROM yard_crash_record");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = yard_errf(err, errlen, YARD_EDB, "crash record: %s",
                           PQresultErrorMessage(r));
        PQclear(r);
        return rc;
    }
    size_t n = (size_t)PQntuples(r);
    rec->loaded = n ? calloc(n, sizeof *rec->loaded) : NULL;
    if (n && !rec->loaded) {
        PQclear(r);
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        entry *e = &rec->loaded[rec->n_loaded];
        e->group = strdup(PQgetvalue(r, (int)i, 0));
        e->id = strdup(PQgetvalue(r, (int)i, 1));
        e->crashes = (unsigned)strtoul(PQgetvalue(r, (int)i, 2), NULL, 10);
        rec->n_loaded++;
        if (!e->group || !e->id) {
            PQclear(r);
            return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    return 0;
}

int yard_crashrec_open(const char *dir, unsigned slots, PGconn *conn,
                       yard_crashrec **out, char *err, size_t errlen)
{
    *out = NULL;
    char path[4096];
    int fd = open_free_file(dir, path, sizeof path, err, errlen);
    if (fd < 0)
        return fd;
    yard_crashrec *rec = calloc(1, sizeof *rec);
    if (!rec) {
        close(fd);
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    }
    rec->fd = fd;
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = yard_errf(err, errlen, YARD_EIO, "crash record %s: %s", path,
                       strerror(errno));
        goto fail;
    }
    /* What the previous owner left (it may have had more workers). */
    size_t old = (size_t)st.st_size / SLOT_BYTES;
    if (old) {
        slot *prev = mmap(NULL, old * SLOT_BYTES, PROT_READ, MAP_SHARED, fd, 0);
        if (prev == MAP_FAILED) {
            rc = yard_errf(err, errlen, YARD_EIO, "crash record %s: mmap: %s",
                           path, strerror(errno));
            goto fail;
        }
        for (size_t i = 0; i < old && !rc; i++)
            rc = settle_slot(conn, &prev[i], err, errlen);
        munmap(prev, old * SLOT_BYTES);
        if (rc)
            goto fail;
    }
    /* Counted: start from an empty file of our size. */
    rec->n_slots = slots ? slots : 1;
    size_t size = (size_t)rec->n_slots * SLOT_BYTES;
    if (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)size) != 0) {
        rc = yard_errf(err, errlen, YARD_EIO, "crash record %s: %s", path,
                       strerror(errno));
        goto fail;
    }
    rec->slots = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (rec->slots == MAP_FAILED) {
        rec->slots = NULL;
        rc = yard_errf(err, errlen, YARD_EIO, "crash record %s: mmap: %s", path,
                       strerror(errno));
        goto fail;
    }
    if ((rc = load(rec, conn, err, errlen)))
        goto fail;
    *out = rec;
    return 0;
fail:
    yard_crashrec_close(rec);
    return rc;
}

void yard_crashrec_close(yard_crashrec *r)
{
    if (!r)
        return;
    if (r->slots)
        munmap(r->slots, (size_t)r->n_slots * SLOT_BYTES);
    close(r->fd); /* drops the flock */
    for (size_t i = 0; i < r->n_loaded; i++) {
        free(r->loaded[i].group);
        free(r->loaded[i].id);
    }
    free(r->loaded);
    free(r);
}

void yard_crashrec_enter(yard_crashrec *r, unsigned slot_no, const char *group,
                         const char *id, const char *plugin)
{
    if (!r || slot_no >= r->n_slots)
        return;
    slot *s = &r->slots[slot_no];
    size_t g = strlen(group) + 1, i = strlen(id) + 1, p = strlen(plugin) + 1;
    if (g + i + p > sizeof s->text)
        return;
    memcpy(s->text, group, g);
    memcpy(s->text + g, id, i);
    memcpy(s->text + g + i, plugin, p);
    /* Release: a reader that sees len sees the text. */
    atomic_store_explicit(&s->len, (uint32_t)(g + i + p), memory_order_release);
}

void yard_crashrec_leave(yard_crashrec *r, unsigned slot_no)
{
    if (r && slot_no < r->n_slots)
        atomic_store_explicit(&r->slots[slot_no].len, 0, memory_order_relaxed);
}

unsigned yard_crashrec_crashes(const yard_crashrec *r, const char *group,
                               const char *id)
{
    /* Linear: the table holds the few events that were in a crash. */
    for (size_t i = 0; r && i < r->n_loaded; i++)
        if (strcmp(r->loaded[i].id, id) == 0 &&
            strcmp(r->loaded[i].group, group) == 0)
            return r->loaded[i].crashes;
    return 0;
}

bool yard_crashrec_any(const yard_crashrec *r) { return r && r->n_loaded > 0; }
