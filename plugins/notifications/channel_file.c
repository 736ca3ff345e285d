/*
 * channel_file.c — the spool channel: one file per notification, written
 * atomically so that a reader never sees half a notification.
 *
 * The file is written under a temporary dot-name in the same directory,
 * fsync'd, renamed over its final name and the directory fsync'd: after a
 * crash the file is either complete or absent.  Its name is the
 * notification id, so delivering the same notification again replaces the
 * file instead of adding one.  A leftover ".*.tmp" after a crash is not a
 * notification; readers skip dot-files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"

#define SPOOL_DIR_MODE 0750
#define SPOOL_FILE_MODE 0640 /* mkostemps() makes 0600 */
#define NAME_MAX_LEN 200 /* encoded file name, well under NAME_MAX */
#define FILE_SUFFIX ".json"

typedef struct file_channel {
    ntf_channel base;
    char *dir;
} file_channel;

/* The notification id as a safe file name: [A-Za-z0-9_-] kept, "." kept
 * except in front, every other byte %XX.  -1 when too long. */
static int file_name(const char *id, char out[NAME_MAX_LEN + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *)id; *s; s++) {
        int keep = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                   (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
                   (*s == '.' && s != (const unsigned char *)id);
        if (o + 3 + sizeof FILE_SUFFIX > NAME_MAX_LEN + 1)
            return -1;
        if (keep) {
            out[o++] = (char)*s;
        } else {
            out[o++] = '%';
            out[o++] = hex[*s >> 4];
            out[o++] = hex[*s & 0xf];
        }
    }
    memcpy(out + o, FILE_SUFFIX, sizeof FILE_SUFFIX);
    return o ? 0 : -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static ntf_outcome file_deliver(const ntf_channel *ch, const ntf_notification *n,
                                char *err, size_t errlen)
{
    const file_channel *fc = (const file_channel *)ch;
    char name[NAME_MAX_LEN + 1];
    if (file_name(n->id, name)) {
        snprintf(err, errlen, "notification id of %zu bytes makes no file name",
                 strlen(n->id));
        return NTF_PERMANENT;
    }
    char *doc = ntf_document(n);
    char *final = NULL, *tmp = NULL;
    if (!doc || asprintf(&final, "%s/%s", fc->dir, name) < 0)
        final = NULL;
    if (final && asprintf(&tmp, "%s/.%s.XXXXXX.tmp", fc->dir, name) < 0)
        tmp = NULL;
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        free(doc);
        free(final);
        return NTF_TRANSIENT;
    }
    /* Disk full, permissions, a missing directory: an operator can fix
     * them, so they are transient (retried, then the DLQ). */
    const char *step = NULL;
    int fd = mkostemps(tmp, (int)strlen(".tmp"), O_CLOEXEC);
    if (fd < 0)
        step = "create";
    else if (write_all(fd, doc, strlen(doc)) || write_all(fd, "\n", 1))
        step = "write";
    else if (fchmod(fd, SPOOL_FILE_MODE) || fsync(fd))
        step = "fsync";
    int saved = errno;
    if (fd >= 0 && close(fd) && !step) {
        step = "close";
        saved = errno;
    }
    if (!step && rename(tmp, final)) {
        step = "rename";
        saved = errno;
    }
    if (step && fd >= 0)
        unlink(tmp);
    if (!step && fsync_dir(fc->dir)) {
        step = "fsync the directory of";
        saved = errno;
    }
    if (step)
        snprintf(err, errlen, "%s %s: %s", step, final, strerror(saved));
    free(doc);
    free(final);
    free(tmp);
    return step ? NTF_TRANSIENT : NTF_DELIVERED;
}

static void file_destroy(ntf_channel *ch)
{
    file_channel *fc = (file_channel *)ch;
    if (fc)
        free(fc->dir);
    free(fc);
}

ntf_channel *ntf_file_channel_new(const char *spool_dir, char *err,
                                  size_t errlen)
{
    struct stat st;
    if (mkdir(spool_dir, SPOOL_DIR_MODE) && errno != EEXIST) {
        snprintf(err, errlen, "spool_dir %s: cannot create it: %s", spool_dir,
                 strerror(errno));
        return NULL;
    }
    if (stat(spool_dir, &st) || !S_ISDIR(st.st_mode) ||
        access(spool_dir, W_OK | X_OK)) {
        snprintf(err, errlen, "spool_dir %s: not a writable directory",
                 spool_dir);
        return NULL;
    }
    file_channel *fc = calloc(1, sizeof *fc);
    if (!fc || !(fc->dir = strdup(spool_dir))) {
        free(fc);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    fc->base = (ntf_channel){.name = "file", .deliver = file_deliver,
                             .destroy = file_destroy};
    return &fc->base;
}
