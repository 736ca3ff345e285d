/*
 * testbroker.c — yard-testbroker: a mock Kafka cluster in its own process.
 *
 *   yard-testbroker [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * Starts the cluster, creates the topics, prints "bootstrap=<servers>" on
 * stdout, then reads command lines (the grammar of yard_mock_command(), see
 * host/mock.h) from stdin and answers each with "ok" or "error <message>".
 * Exits 0 on end of input, SIGTERM or SIGINT, after destroying the cluster.
 *
 * Fault injection only works from the process that owns the cluster; this
 * program is how a test (or a shell) drives faults of a broker that a host
 * under test reaches over TCP.  stdout carries only the protocol; logs go
 * to stderr.
 */
#include "err.h"
#include "log.h"
#include "mock.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

enum {
    DEFAULT_BROKERS = 3,
    MAX_TOPICS = 64,
    LINE_MAX_BYTES = 4096,
};

struct topic_arg {
    char *name;
    int partitions;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: yard-testbroker [--brokers N] "
               "[--topic NAME:PARTITIONS]...\n"
               "stdin commands: topic NAME PARTITIONS | down ID | up ID |\n"
               "  leader TOPIC PARTITION BROKER | rtt ID MS |\n"
               "  error APIKEY ERRCODE COUNT\n");
}

static bool parse_count(const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || errno || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* Write all of `s` to stdout; false when the reader has gone. */
static bool say(const char *s)
{
    if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF)
        return false;
    return fflush(stdout) == 0;
}

static bool answer(yard_mock *m, const char *line)
{
    char err[512];
    int rc = yard_mock_command(m, line, err, sizeof err);
    if (rc == 0)
        return say("ok");
    /* One answer per line: a message never spans lines. */
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    char out[sizeof err + 8];
    snprintf(out, sizeof out, "error %s", err);
    return say(out);
}

/*
 * Serve stdin until EOF or a termination signal.  Signals arrive through a
 * signalfd, so a signal between "check" and "read" cannot be lost.
 */
static void serve(yard_mock *m, int sfd)
{
    char buf[LINE_MAX_BYTES];
    size_t have = 0;
    bool discarding = false; /* inside an over-long line */
    for (;;) {
        struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                              {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (p[1].revents & POLLIN)
            return;
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t r = read(STDIN_FILENO, buf + have, sizeof buf - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* A last line without its newline still gets an answer. */
            if (have && !discarding) {
                buf[have] = '\0';
                answer(m, buf);
            }
            return;
        }
        have += (size_t)r;
        char *start = buf;
        char *nl;
        while ((nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
            *nl = '\0';
            bool ok =
                discarding ? say("error line too long") : answer(m, start);
            discarding = false;
            if (!ok)
                return;
            start = nl + 1;
        }
        have -= (size_t)(start - buf);
        memmove(buf, start, have);
        if (have == sizeof buf - 1) {
            discarding = true;
            have = 0;
        }
    }
}

int main(int argc, char **argv)
{
    int brokers = DEFAULT_BROKERS;
    struct topic_arg topics[MAX_TOPICS];
    size_t ntopics = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--brokers") != 0 && strcmp(a, "--topic") != 0) {
            fprintf(stderr, "yard-testbroker: unknown option \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "yard-testbroker: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--brokers") == 0) {
            if (!parse_count(v, 1, 9, &brokers)) {
                fprintf(stderr, "yard-testbroker: bad broker count \"%s\" "
                                "(1..9)\n", v);
                return 2;
            }
        } else {
            const char *colon = strrchr(v, ':');
            int parts;
            if (!colon || colon == v ||
                !parse_count(colon + 1, 1, 10000, &parts)) {
                fprintf(stderr, "yard-testbroker: bad topic \"%s\" "
                                "(NAME:PARTITIONS)\n", v);
                return 2;
            }
            if (ntopics == MAX_TOPICS) {
                fprintf(stderr, "yard-testbroker: more than %d topics\n",
                        MAX_TOPICS);
                return 2;
            }
            topics[ntopics].name = (char *)v;
            topics[ntopics].partitions = parts;
            /* argv is ours to cut: NAME ends at the colon. */
            topics[ntopics].name[colon - v] = '\0';
            ntopics++;
        }
    }

    /* Block the termination signals before librdkafka starts its threads,
     * so they inherit the mask and the signals reach only the signalfd. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        perror("yard-testbroker: sigprocmask");
        return 1;
    }
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("yard-testbroker: signalfd");
        return 1;
    }
    /* A reader that goes away ends us through a failed write, not a signal. */
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    yard_mock *m = NULL;
    if (yard_mock_start(brokers, &m, err, sizeof err) != 0) {
        fprintf(stderr, "yard-testbroker: %s\n", err);
        close(sfd);
        return 1;
    }
    for (size_t i = 0; i < ntopics; i++) {
        if (yard_mock_topic_create(m, topics[i].name, topics[i].partitions,
                                   err, sizeof err) != 0) {
            fprintf(stderr, "yard-testbroker: %s\n", err);
            yard_mock_stop(m);
            close(sfd);
            return 1;
        }
    }

    char line[LINE_MAX_BYTES];
    snprintf(line, sizeof line, "bootstrap=%s", yard_mock_bootstraps(m));
    if (say(line))
        serve(m, sfd);

    yard_mock_stop(m);
    close(sfd);
    return 0;
}
