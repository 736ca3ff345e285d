/* control.c — the control socket, server and client (see control.h). */
#include "control.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "log.h"

#define ACCEPT_POLL_MS 200   /* how soon yard_control_stop() is noticed */
#define COMMAND_MAX 64       /* one short command line */
#define CLIENT_READ_MS 2000  /* a client that sends nothing is dropped */
#define REPLY_CHUNK 4096
#define SOCKET_MODE 0600

struct yard_control {
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    yard_control_fn fn;
    void *arg;
    pthread_t thread;
    atomic_bool stop;
};

static int fill_addr(struct sockaddr_un *a, const char *path, char *err,
                     size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "control socket path %s is longer than %zu bytes",
                         path, sizeof a->sun_path - 1);
    memcpy(a->sun_path, path, strlen(path) + 1);
    return 0;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read one command line, bounded in size and time. */
static bool read_command(int fd, char *buf, size_t len)
{
    size_t used = 0;
    long long end = yard_mono_ms() + CLIENT_READ_MS;
    while (used + 1 < len) {
        long long left = end - yard_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t r = recv(fd, buf + used, len - 1 - used, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        used += (size_t)r;
        if (memchr(buf, '\n', used))
            break;
    }
    buf[used] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return used > 0;
}

static void serve(yard_control *c, int fd)
{
    char cmd[COMMAND_MAX];
    if (!read_command(fd, cmd, sizeof cmd))
        return;
    char *reply = c->fn(c->arg, cmd);
    if (reply) {
        write_all(fd, reply, strlen(reply));
        write_all(fd, "\n", 1);
    }
    free(reply);
}

static void *control_main(void *arg)
{
    yard_control *c = arg;
    pthread_setname_np(pthread_self(), "yard-control");
    while (!atomic_load(&c->stop)) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, ACCEPT_POLL_MS) <= 0)
            continue;
        int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve(c, fd);
        close(fd);
    }
    return NULL;
}

/* Is a host answering on `path`? */
static bool socket_alive(const struct sockaddr_un *a)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool alive = connect(fd, (const struct sockaddr *)a, sizeof *a) == 0;
    close(fd);
    return alive;
}

int yard_control_start(const char *path, yard_control_fn fn, void *arg,
                       yard_control **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_un a;
    int rc = fill_addr(&a, path, err, errlen);
    if (rc)
        return rc;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return yard_errf(err, errlen, YARD_EEXIST,
                             "control socket %s: exists and is not a socket",
                             path);
        if (socket_alive(&a))
            return yard_errf(err, errlen, YARD_EEXIST,
                             "control socket %s: another host is answering "
                             "on it",
                             path);
        unlink(path); /* left by a host that died */
    }
    yard_control *c = calloc(1, sizeof *c);
    if (!c)
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    c->fn = fn;
    c->arg = arg;
    memcpy(c->path, a.sun_path, sizeof c->path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        rc = yard_errf(err, errlen, YARD_EIO, "control socket: %m");
        free(c);
        return rc;
    }
    /* Mode before bind where the kernel honours it, chmod right after for
     * the file itself; the socket takes no connection before listen(). */
    fchmod(c->fd, SOCKET_MODE);
    if (bind(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        rc = yard_errf(err, errlen, YARD_EIO, "control socket %s: bind: %m",
                       path);
        close(c->fd);
        free(c);
        return rc;
    }
    if (chmod(path, SOCKET_MODE) != 0 || listen(c->fd, 8) != 0) {
        rc = yard_errf(err, errlen, YARD_EIO, "control socket %s: %m", path);
        close(c->fd);
        unlink(path);
        free(c);
        return rc;
    }
    if (pthread_create(&c->thread, NULL, control_main, c)) {
        close(c->fd);
        unlink(path);
        free(c);
        return yard_errf(err, errlen, YARD_EIO,
                         "cannot start the control thread");
    }
    *out = c;
    return 0;
}

void yard_control_stop(yard_control *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    close(c->fd);
    unlink(c->path);
    free(c);
}

int yard_control_request(const char *path, const char *command,
                         unsigned timeout_ms, char **reply, char *err,
                         size_t errlen)
{
    *reply = NULL;
    struct sockaddr_un a;
    int rc = fill_addr(&a, path, err, errlen);
    if (rc)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return yard_errf(err, errlen, YARD_EIO, "socket: %m");
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        rc = yard_errf(err, errlen, YARD_EIO,
                       "cannot reach the host at %s: %m; hint: is it "
                       "running, and is this its [host] control_socket?",
                       path);
        close(fd);
        return rc;
    }
    char line[COMMAND_MAX + 2];
    snprintf(line, sizeof line, "%s\n", command);
    if (!write_all(fd, line, strlen(line))) {
        rc = yard_errf(err, errlen, YARD_EIO, "%s: write: %m", path);
        close(fd);
        return rc;
    }
    size_t cap = REPLY_CHUNK, used = 0;
    char *buf = malloc(cap);
    long long end = yard_mono_ms() + timeout_ms;
    rc = buf ? 0 : yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    while (rc == 0) {
        long long left = end - yard_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            rc = yard_errf(err, errlen, YARD_ETIMEOUT,
                           "%s: no complete reply within %u ms", path,
                           timeout_ms);
            break;
        }
        if (used + 1 >= cap) {
            char *n = realloc(buf, cap * 2);
            if (!n) {
                rc = yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
                break;
            }
            buf = n;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + used, cap - 1 - used, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = yard_errf(err, errlen, YARD_EIO, "%s: read: %m", path);
            break;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[used] = '\0';
    *reply = buf;
    return 0;
}
