/*
 * pgtmp.c — a throwaway PostgreSQL server (see pgtmp.h).
 *
 * initdb and postgres run as direct children (fork/exec, no pg_ctl), so the
 * postmaster's pid is ours to signal and reap.  Each child starts with an
 * empty signal mask, default dispositions, its own process group, only
 * fds 0-2 open, the C locale, and a parent-death signal, so a test killed
 * with SIGKILL does not leave a postmaster behind (its directory stays:
 * nobody is left to remove it).  As root, the children drop to the
 * `postgres` user before exec.
 */
#include "pgtmp.h"

#include "clock.h"
#include "err.h"
#include "log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

extern char **environ;

enum {
    PG_READY_TIMEOUT_MS = 30000,
    PG_STOP_TIMEOUT_MS = 10000,   /* fast shutdown, then immediate */
    PG_QUIT_TIMEOUT_MS = 5000,    /* immediate shutdown, then SIGKILL */
    PG_POLL_MS = 20,
    PG_PORT_TRIES = 5,
    PG_LOG_TAIL_BYTES = 1500,
    PG_MAX_GROUPS = 64,
    PG_SOCKET_NAME_MAX = sizeof("/.s.PGSQL.65535") - 1,
};

/* The longest directory whose socket path fits sun_path. */
#define PG_DIR_MAX \
    (sizeof(((struct sockaddr_un *)0)->sun_path) - 1 - PG_SOCKET_NAME_MAX)

struct yard_pgtmp {
    char *dir;        /* absolute */
    char *dsn;
    char *log_path;   /* dir/postgres.log */
    char bindir[PATH_MAX];
    bool remove_dir;  /* we made it with mkdtemp() and must not keep it */
    bool fsync;
    char **extra;     /* NULL-terminated copies of "name=value" */
    int port;
    pid_t pid;        /* postmaster, or 0 when not running */

    /* As root, the children run as this user. */
    bool drop;
    uid_t uid;
    gid_t gid;
    gid_t groups[PG_MAX_GROUPS];
    int ngroups;

    char **envp;      /* copy of environ with the locale forced to C */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static bool is_exec(const char *dir, const char *name)
{
    char p[PATH_MAX];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, name) >= sizeof p)
        return false;
    return access(p, X_OK) == 0;
}

static bool good_bindir(const char *d)
{
    return d && *d && is_exec(d, "initdb") && is_exec(d, "postgres");
}

/* $SWITCHYARD_PG_BINDIR, pg_config --bindir,
 * /usr/lib/postgresql/<newest>/bin. */
static int find_bindir(char *out, size_t outlen, char *err, size_t errlen)
{
    const char *env = getenv("SWITCHYARD_PG_BINDIR");
    if (env && *env) {
        if (!good_bindir(env))
            return yard_errf(err, errlen, YARD_ENOENT,
                             "pgtmp: SWITCHYARD_PG_BINDIR=%s holds no "
                             "initdb/postgres",
                             env);
        snprintf(out, outlen, "%s", env);
        return 0;
    }

    FILE *f = popen("pg_config --bindir 2>/dev/null", "re");
    if (f) {
        char line[PATH_MAX];
        bool got = fgets(line, sizeof line, f) != NULL;
        pclose(f);
        if (got) {
            line[strcspn(line, "\r\n")] = '\0';
            if (good_bindir(line)) {
                snprintf(out, outlen, "%s", line);
                return 0;
            }
        }
    }

    const char *base = "/usr/lib/postgresql";
    DIR *d = opendir(base);
    long best = -1;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            char *end;
            long v = strtol(e->d_name, &end, 10);
            if (end == e->d_name || *end || v <= best)
                continue;
            char bin[PATH_MAX];
            snprintf(bin, sizeof bin, "%s/%s/bin", base, e->d_name);
            if (good_bindir(bin)) {
                best = v;
                snprintf(out, outlen, "%s", bin);
            }
        }
        closedir(d);
    }
    if (best < 0)
        return yard_errf(err, errlen, YARD_ENOENT,
                         "pgtmp: no PostgreSQL server binaries found (set "
                         "SWITCHYARD_PG_BINDIR, or install postgresql)");
    return 0;
}

/* The last lines of the server log, for error messages. */
static void log_tail(const char *path, off_t from, char *out, size_t outlen)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        off_t start = st.st_size - PG_LOG_TAIL_BYTES;
        if (start < from)
            start = from;
        if (start < 0)
            start = 0;
        size_t cap = outlen - 1;
        ssize_t n = pread(fd, out, cap, start);
        out[n > 0 ? n : 0] = '\0';
        /* Start at a line boundary when we cut into the middle of one. */
        if (start > from && n > 0) {
            char *nl = strchr(out, '\n');
            if (nl && nl[1])
                memmove(out, nl + 1, strlen(nl + 1) + 1);
        }
        size_t len = strlen(out);
        while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
            out[--len] = '\0';
    }
    close(fd);
}

/* A free loopback port, as the kernel picks it.  Racy by nature: the
 * caller retries when postgres then fails to bind it. */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int port = -1;
    if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

/* environ without LANG/LANGUAGE/LC_*, plus LC_ALL=C: messages we match
 * ("could not bind") stay in English. */
static char **make_env(void)
{
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    char **env = calloc(n + 2, sizeof(*env));
    if (!env)
        return NULL;
    size_t k = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "LC_", 3) == 0 || strncmp(*e, "LANG=", 5) == 0 ||
            strncmp(*e, "LANGUAGE=", 9) == 0)
            continue;
        if (!(env[k++] = strdup(*e)))
            goto fail;
    }
    if (!(env[k++] = strdup("LC_ALL=C")))
        goto fail;
    env[k] = NULL;
    return env;
fail:
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
    return NULL;
}

/* What the child reports through its close-on-exec pipe when it fails. */
struct child_fail {
    int stage;
    int err;
};

enum { STAGE_PRIV = 1, STAGE_PDEATH, STAGE_CHDIR, STAGE_FDS, STAGE_EXEC };

static const char *stage_str(int stage)
{
    switch (stage) {
    case STAGE_PRIV: return "cannot switch to the postgres user";
    case STAGE_PDEATH: return "cannot set the parent-death signal";
    case STAGE_CHDIR: return "cannot enter the data directory";
    case STAGE_FDS: return "cannot set up stdio";
    default: return "cannot execute";
    }
}

static void child_die(int fd, int stage)
{
    struct child_fail f = {stage, errno};
    ssize_t w = write(fd, &f, sizeof f);
    (void)w;
    _exit(127);
}

/*
 * Fork and exec argv[0] with stdout and stderr on out_fd.  Only
 * async-signal-safe calls between fork and exec: everything the child
 * needs (user, groups, environment) was computed by the caller.
 */
static int spawn(const yard_pgtmp *pg, char *const argv[], int out_fd,
                 int death_sig, pid_t *pid_out, char *err, size_t errlen)
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0)
        return yard_errf(err, errlen, YARD_EIO, "pgtmp: pipe: %s",
                         strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(ep[0]);
        close(ep[1]);
        return yard_errf(err, errlen, YARD_EIO, "pgtmp: fork: %s",
                         strerror(e));
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
            sigaction(s, &dfl, NULL); /* SIGKILL/SIGSTOP/RT fail: fine */
        /* Own process group: a terminal's ^C reaches the caller, which
         * then shuts the server down in order. */
        setpgid(0, 0);
        if (pg->drop &&
            (setgroups((size_t)pg->ngroups, pg->groups) != 0 ||
             setgid(pg->gid) != 0 || setuid(pg->uid) != 0))
            child_die(ep[1], STAGE_PRIV);
        /* After setuid: a credential change clears the setting. */
        if (prctl(PR_SET_PDEATHSIG, death_sig) != 0)
            child_die(ep[1], STAGE_PDEATH);
        if (getppid() != parent)
            _exit(1); /* the caller died before prctl() */
        if (chdir(pg->dir) != 0)
            child_die(ep[1], STAGE_CHDIR);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(out_fd, 1) < 0 ||
            dup2(out_fd, 2) < 0)
            child_die(ep[1], STAGE_FDS);
        /* Leak nothing of the caller's (sockets, a test's pipes) into a
         * long-lived server; ep[1] is close-on-exec already. */
        if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
            struct rlimit rl;
            int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
                              rl.rlim_cur < 65536
                          ? (int)rl.rlim_cur
                          : 65536;
            for (int fd = 3; fd < max; fd++)
                if (fd != ep[1])
                    close(fd);
        }
        execve(argv[0], argv, pg->envp);
        child_die(ep[1], STAGE_EXEC);
    }
    close(ep[1]);
    struct child_fail f;
    ssize_t n;
    while ((n = read(ep[0], &f, sizeof f)) < 0 && errno == EINTR)
        ;
    close(ep[0]);
    if (n == (ssize_t)sizeof f) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return yard_errf(err, errlen, YARD_EIO, "pgtmp: %s %s: %s",
                         stage_str(f.stage), argv[0], strerror(f.err));
    }
    *pid_out = pid;
    return 0;
}

/* waitpid with a bound; true when reaped (status in *st). */
static bool wait_bounded(pid_t pid, int timeout_ms, int *st)
{
    long long until = yard_mono_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return true;
        if (yard_mono_ms() >= until)
            return false;
        sleep_ms(PG_POLL_MS);
    }
}

/* Shut the postmaster down with `sig`, escalating to immediate shutdown
 * and then SIGKILL; always reaps it. */
static void shutdown_pm(yard_pgtmp *pg, int sig, int timeout_ms)
{
    if (pg->pid <= 0)
        return;
    int st;
    kill(pg->pid, sig);
    if (!wait_bounded(pg->pid, timeout_ms, &st)) {
        char p[16];
        snprintf(p, sizeof p, "%d", (int)pg->pid);
        yard_log(YARD_LOG_WARN, "postgres slow to stop, immediate shutdown",
                 "pid", p, "dir", pg->dir, NULL);
        kill(pg->pid, SIGQUIT);
        if (!wait_bounded(pg->pid, PG_QUIT_TIMEOUT_MS, &st)) {
            yard_log(YARD_LOG_WARN, "postgres did not stop, killing it",
                     "pid", p, "dir", pg->dir, NULL);
            kill(pg->pid, SIGKILL);
            while (waitpid(pg->pid, &st, 0) < 0 && errno == EINTR)
                ;
        }
    }
    pg->pid = 0;
}

/* Run initdb, its output collected into err on failure. */
static int run_initdb(yard_pgtmp *pg, char *err, size_t errlen)
{
    char exe[PATH_MAX + 16];
    snprintf(exe, sizeof exe, "%s/initdb", pg->bindir);
    char *argv[16];
    int a = 0;
    argv[a++] = exe;
    argv[a++] = "-D";
    argv[a++] = pg->dir;
    argv[a++] = "-A";
    argv[a++] = "trust";
    argv[a++] = "-U";
    argv[a++] = "postgres";
    argv[a++] = "-E";
    argv[a++] = "UTF8";
    argv[a++] = "--locale=C";
    if (!pg->fsync)
        argv[a++] = "--no-sync";
    argv[a] = NULL;

    int op[2];
    if (pipe2(op, O_CLOEXEC) != 0)
        return yard_errf(err, errlen, YARD_EIO, "pgtmp: pipe: %s",
                         strerror(errno));
    pid_t pid;
    int rc = spawn(pg, argv, op[1], SIGKILL, &pid, err, errlen);
    close(op[1]);
    if (rc != 0) {
        close(op[0]);
        return rc;
    }
    /* Keep the last bytes of its output: the reason is at the end. */
    char out[PG_LOG_TAIL_BYTES + 1];
    size_t have = 0;
    char buf[512];
    ssize_t n;
    while ((n = read(op[0], buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        /* buf is smaller than out: dropping old bytes makes room. */
        if (have + (size_t)n > sizeof out - 1) {
            size_t drop = have + (size_t)n - (sizeof out - 1);
            memmove(out, out + drop, have - drop);
            have -= drop;
        }
        memcpy(out + have, buf, (size_t)n);
        have += (size_t)n;
    }
    close(op[0]);
    out[have] = '\0';
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        while (have && (out[have - 1] == '\n' || out[have - 1] == ' '))
            out[--have] = '\0';
        return yard_errf(err, errlen, YARD_EIO,
                         "pgtmp: initdb -D %s failed (status %d):\n%s",
                         pg->dir, WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
    }
    return 0;
}

/* Start the postmaster on pg->port and wait until it answers.  Returns
 * YARD_EEXIST when the port was taken (the caller may pick another). */
static int start_once(yard_pgtmp *pg, char *err, size_t errlen)
{
    char exe[PATH_MAX + 16], port[16];
    snprintf(exe, sizeof exe, "%s/postgres", pg->bindir);
    snprintf(port, sizeof port, "%d", pg->port);
    const char *onoff = pg->fsync ? "on" : "off";
    char fsync_s[32], fpw_s[48];
    snprintf(fsync_s, sizeof fsync_s, "fsync=%s", onoff);
    snprintf(fpw_s, sizeof fpw_s, "full_page_writes=%s", onoff);

    size_t nextra = 0;
    for (char **e = pg->extra; e && *e; e++)
        nextra++;
    size_t cap = 24 + 2 * nextra;
    char **argv = calloc(cap, sizeof(*argv));
    if (!argv)
        return yard_errf(err, errlen, YARD_ENOMEM, "pgtmp: out of memory");
    size_t a = 0;
    argv[a++] = exe;
    argv[a++] = "-D";
    argv[a++] = pg->dir;
    argv[a++] = "-k";
    argv[a++] = pg->dir;
    argv[a++] = "-p";
    argv[a++] = port;
    argv[a++] = "-c";
    argv[a++] = "listen_addresses=127.0.0.1";
    argv[a++] = "-c";
    argv[a++] = fsync_s;
    /* Even without fsync: a commit then survives an immediate restart. */
    argv[a++] = "-c";
    argv[a++] = "synchronous_commit=on";
    argv[a++] = "-c";
    argv[a++] = fpw_s;
    argv[a++] = "-c";
    argv[a++] = "max_connections=200";
    for (size_t i = 0; i < nextra; i++) {
        argv[a++] = "-c";
        argv[a++] = pg->extra[i];
    }
    argv[a] = NULL;

    int lfd = open(pg->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                   0600);
    if (lfd < 0) {
        int e = errno;
        free(argv);
        return yard_errf(err, errlen, YARD_EIO, "pgtmp: open %s: %s",
                         pg->log_path, strerror(e));
    }
    /* Only reading it back as postgres needs this; not fatal. */
    if (pg->drop && fchown(lfd, pg->uid, pg->gid) != 0)
        yard_log(YARD_LOG_DEBUG, "cannot chown the postgres log", "path",
                 pg->log_path, NULL);
    struct stat st;
    off_t log_from = fstat(lfd, &st) == 0 ? st.st_size : 0;

    pid_t pid;
    int rc = spawn(pg, argv, lfd, SIGQUIT, &pid, err, errlen);
    close(lfd);
    free(argv);
    if (rc != 0)
        return rc;
    pg->pid = pid;

    char tail[PG_LOG_TAIL_BYTES + 1];
    long long until = yard_mono_ms() + PG_READY_TIMEOUT_MS;
    for (;;) {
        int ws;
        pid_t r = waitpid(pid, &ws, WNOHANG);
        if (r == pid) {
            pg->pid = 0;
            log_tail(pg->log_path, log_from, tail, sizeof tail);
            bool taken = strstr(tail, "could not bind") ||
                         strstr(tail, "could not create any TCP/IP sockets");
            return yard_errf(err, errlen, taken ? YARD_EEXIST : YARD_EIO,
                             "pgtmp: postgres exited during startup "
                             "(status %d); postgres.log ends:\n%s",
                             WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, tail);
        }
        PGPing ping = PQping(pg->dsn);
        if (ping == PQPING_OK)
            return 0;
        if (yard_mono_ms() >= until)
            break;
        sleep_ms(ping == PQPING_NO_ATTEMPT ? 200 : PG_POLL_MS * 2);
    }
    shutdown_pm(pg, SIGQUIT, PG_QUIT_TIMEOUT_MS);
    log_tail(pg->log_path, log_from, tail, sizeof tail);
    return yard_errf(err, errlen, YARD_ETIMEOUT,
                     "pgtmp: postgres not ready after %d s; postgres.log "
                     "ends:\n%s",
                     PG_READY_TIMEOUT_MS / 1000, tail);
}

static int set_dsn(yard_pgtmp *pg)
{
    free(pg->dsn);
    pg->dsn = NULL;
    if (asprintf(&pg->dsn, "host=%s port=%d dbname=postgres user=postgres",
                 pg->dir, pg->port) < 0) {
        pg->dsn = NULL;
        return YARD_ENOMEM;
    }
    return 0;
}

/* Start on the current port (restart) or on fresh ports (first start). */
static int start_server(yard_pgtmp *pg, bool fresh_port, char *err,
                        size_t errlen)
{
    int rc = YARD_EIO;
    for (int i = 0; i < PG_PORT_TRIES; i++) {
        if (fresh_port || pg->port <= 0) {
            pg->port = free_port();
            if (pg->port <= 0)
                return yard_errf(err, errlen, YARD_EIO,
                                 "pgtmp: no free loopback port: %s",
                                 strerror(errno));
        }
        if (set_dsn(pg) != 0)
            return yard_errf(err, errlen, YARD_ENOMEM, "pgtmp: out of memory");
        rc = start_once(pg, err, errlen);
        if (rc != YARD_EEXIST)
            return rc;
        if (!fresh_port)
            sleep_ms(250); /* the same port: give its holder a moment */
    }
    return rc;
}

/* As root, the postgres user must be able to reach `dir`: every ancestor
 * searchable by it. */
static int check_reachable(const yard_pgtmp *pg, const char *dir, char *err,
                           size_t errlen)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    char *slash;
    while ((slash = strrchr(p, '/')) != NULL) {
        if (slash == p)
            slash[1] = '\0';
        else
            *slash = '\0';
        struct stat st;
        if (stat(p, &st) != 0)
            return yard_errf(err, errlen, YARD_EIO, "pgtmp: stat %s: %s", p,
                             strerror(errno));
        bool ok;
        if (st.st_uid == pg->uid)
            ok = st.st_mode & S_IXUSR;
        else {
            bool in_group = st.st_gid == pg->gid;
            for (int g = 0; g < pg->ngroups && !in_group; g++)
                in_group = st.st_gid == pg->groups[g];
            ok = in_group ? (st.st_mode & S_IXGRP) : (st.st_mode & S_IXOTH);
        }
        if (!ok)
            return yard_errf(err, errlen, YARD_EINVAL,
                             "pgtmp: %s (mode %03o) is not searchable by the "
                             "postgres user, so it cannot reach %s; choose "
                             "a directory it can reach (such as under /tmp)",
                             p, (unsigned)(st.st_mode & 07777), dir);
        if (strcmp(p, "/") == 0)
            break;
    }
    return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void free_pg(yard_pgtmp *pg)
{
    if (!pg)
        return;
    for (char **e = pg->extra; e && *e; e++)
        free(*e);
    free(pg->extra);
    for (char **e = pg->envp; e && *e; e++)
        free(*e);
    free(pg->envp);
    free(pg->dir);
    free(pg->dsn);
    free(pg->log_path);
    free(pg);
}

/* Look up the postgres user and its groups (in the parent: NSS is not
 * safe between fork and exec). */
static int lookup_user(yard_pgtmp *pg, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam("postgres");
    if (!pw)
        return yard_errf(err, errlen, YARD_ENOENT,
                         "pgtmp: running as root, but there is no `postgres` "
                         "user to run PostgreSQL as (PostgreSQL refuses root)");
    pg->drop = true;
    pg->uid = pw->pw_uid;
    pg->gid = pw->pw_gid;
    int n = PG_MAX_GROUPS;
    if (getgrouplist(pw->pw_name, pw->pw_gid, pg->groups, &n) < 0) {
        pg->groups[0] = pw->pw_gid;
        n = 1;
    }
    pg->ngroups = n;
    return 0;
}

static int prepare_dir(yard_pgtmp *pg, const yard_pgtmp_opts *opts,
                       bool *has_cluster, char *err, size_t errlen)
{
    if (!opts->data_dir) {
        char tmpl[] = "/tmp/yardpg-XXXXXX";
        if (!mkdtemp(tmpl))
            return yard_errf(err, errlen, YARD_EIO, "pgtmp: mkdtemp %s: %s",
                             tmpl, strerror(errno));
        pg->dir = strdup(tmpl);
        if (!pg->dir) {
            rmdir(tmpl);
            return yard_errf(err, errlen, YARD_ENOMEM, "pgtmp: out of memory");
        }
        pg->remove_dir = !opts->keep;
    } else {
        /* Refuse a path too long for the socket before creating anything. */
        char cwd[PATH_MAX] = "";
        if (opts->data_dir[0] != '/' && !getcwd(cwd, sizeof cwd))
            cwd[0] = '\0';
        size_t abs_len =
            strlen(opts->data_dir) + (cwd[0] ? strlen(cwd) + 1 : 0);
        if (abs_len > PG_DIR_MAX)
            return yard_errf(err, errlen, YARD_EINVAL,
                             "pgtmp: %s is too long for a Unix socket path "
                             "(at most %zu bytes)",
                             opts->data_dir, PG_DIR_MAX);
        if (mkdir(opts->data_dir, 0700) != 0 && errno != EEXIST)
            return yard_errf(err, errlen, YARD_EIO, "pgtmp: mkdir %s: %s",
                             opts->data_dir, strerror(errno));
        pg->dir = realpath(opts->data_dir, NULL);
        if (!pg->dir)
            return yard_errf(err, errlen, YARD_EIO, "pgtmp: %s: %s",
                             opts->data_dir, strerror(errno));
        /* A directory the caller named is never removed. */
        pg->remove_dir = false;
    }

    /* The Unix socket lives in the directory: sun_path is short. */
    if (strlen(pg->dir) > PG_DIR_MAX)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "pgtmp: %s is too long for a Unix socket path "
                         "(at most %zu bytes)",
                         pg->dir, PG_DIR_MAX);

    if (asprintf(&pg->log_path, "%s/postgres.log", pg->dir) < 0) {
        pg->log_path = NULL;
        return yard_errf(err, errlen, YARD_ENOMEM, "pgtmp: out of memory");
    }
    char ver[PATH_MAX];
    snprintf(ver, sizeof ver, "%s/PG_VERSION", pg->dir);
    *has_cluster = access(ver, F_OK) == 0;

    if (pg->drop) {
        int rc = check_reachable(pg, pg->dir, err, errlen);
        if (rc != 0)
            return rc;
        if (chown(pg->dir, pg->uid, pg->gid) != 0)
            return yard_errf(err, errlen, YARD_EIO,
                             "pgtmp: chown %s to postgres: %s", pg->dir,
                             strerror(errno));
    }
    if (chmod(pg->dir, 0700) != 0)
        return yard_errf(err, errlen, YARD_EIO, "pgtmp: chmod %s: %s",
                         pg->dir, strerror(errno));
    return 0;
}

static int copy_extra(yard_pgtmp *pg, const char *const *extra, char *err,
                      size_t errlen)
{
    size_t n = 0;
    for (const char *const *e = extra; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            return yard_errf(err, errlen, YARD_EINVAL,
                             "pgtmp: setting \"%s\" is not name=value", *e);
        n++;
    }
    pg->extra = calloc(n + 1, sizeof(*pg->extra));
    if (!pg->extra)
        return yard_errf(err, errlen, YARD_ENOMEM, "pgtmp: out of memory");
    for (size_t i = 0; i < n; i++) {
        pg->extra[i] = strdup(extra[i]);
        if (!pg->extra[i])
            return yard_errf(err, errlen, YARD_ENOMEM, "pgtmp: out of memory");
    }
    return 0;
}

int yard_pgtmp_start(const yard_pgtmp_opts *opts, yard_pgtmp **out,
                     char *err, size_t errlen)
{
    if (!out)
        return yard_errf(err, errlen, YARD_EINVAL, "pgtmp: no output handle");
    *out = NULL;
    yard_pgtmp_opts none = {0};
    if (!opts)
        opts = &none;

    yard_pgtmp *pg = calloc(1, sizeof(*pg));
    if (!pg)
        return yard_errf(err, errlen, YARD_ENOMEM, "pgtmp: out of memory");
    pg->fsync = opts->fsync;
    int rc = copy_extra(pg, opts->extra_settings, err, errlen);
    if (rc == 0)
        rc = find_bindir(pg->bindir, sizeof pg->bindir, err, errlen);
    if (rc == 0 && geteuid() == 0)
        rc = lookup_user(pg, err, errlen);
    if (rc == 0 && !(pg->envp = make_env()))
        rc = yard_errf(err, errlen, YARD_ENOMEM, "pgtmp: out of memory");
    bool has_cluster = false;
    if (rc == 0)
        rc = prepare_dir(pg, opts, &has_cluster, err, errlen);
    if (rc == 0 && !has_cluster)
        rc = run_initdb(pg, err, errlen);
    if (rc == 0)
        rc = start_server(pg, true, err, errlen);
    if (rc != 0) {
        if (pg->dir && pg->remove_dir)
            nftw(pg->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free_pg(pg);
        return rc;
    }
    char p[16], port[16];
    snprintf(p, sizeof p, "%d", (int)pg->pid);
    snprintf(port, sizeof port, "%d", pg->port);
    yard_log(YARD_LOG_DEBUG, "postgres started", "dir", pg->dir, "port", port,
             "pid", p, NULL);
    *out = pg;
    return 0;
}

const char *yard_pgtmp_dsn(const yard_pgtmp *pg)
{
    return pg ? pg->dsn : NULL;
}

const char *yard_pgtmp_dir(const yard_pgtmp *pg)
{
    return pg ? pg->dir : NULL;
}

int yard_pgtmp_port(const yard_pgtmp *pg)
{
    return pg ? pg->port : -1;
}

pid_t yard_pgtmp_pid(const yard_pgtmp *pg)
{
    return pg ? pg->pid : -1;
}

int yard_pgtmp_restart(yard_pgtmp *pg, const char *mode, char *err,
                       size_t errlen)
{
    if (!pg)
        return yard_errf(err, errlen, YARD_EINVAL, "pgtmp: no server");
    int sig;
    if (!mode || strcmp(mode, "fast") == 0)
        sig = SIGINT;
    else if (strcmp(mode, "immediate") == 0)
        sig = SIGQUIT;
    else
        return yard_errf(err, errlen, YARD_EINVAL,
                         "pgtmp: bad restart mode \"%s\" (fast, immediate)",
                         mode);
    /* It may have died on its own: reap it, then start it again. */
    if (pg->pid > 0 && waitpid(pg->pid, NULL, WNOHANG) == pg->pid)
        pg->pid = 0;
    shutdown_pm(pg, sig, PG_STOP_TIMEOUT_MS);
    return start_server(pg, false, err, errlen);
}

void yard_pgtmp_stop(yard_pgtmp *pg)
{
    if (!pg)
        return;
    shutdown_pm(pg, SIGINT, PG_STOP_TIMEOUT_MS);
    if (pg->remove_dir)
        nftw(pg->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free_pg(pg);
}
