/*
 * main.c — the `switchyard` command: run, dev, check, --version.
 *
 * Everything else lives in the yard library; this file parses arguments,
 * owns the signal handling (signals are blocked in every thread and taken
 * here with sigwait) and maps outcomes to exit codes:
 *   0 success, 1 runtime failure, 2 usage error, 3 configuration error.
 */
#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <switchyard/sdk.h>

#include "cli_control.h"
#include "cli_dlq.h"
#include "cli_kafka.h"
#include "cli_schema.h"
#include "config.h"
#include "config_doc.h"
#include "demo.h"
#include "host.h"
#include "log.h"
#include "mock.h"
#include "notify.h"
#include "pgtmp.h"
#include "version.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_CONFIG = 3 };

#define DEFAULT_CONF_DIR "/etc/switchyard/conf.d"
#define DEV_CONF_DIR "conf.d"

static const char usage[] =
    "usage: switchyard COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  run      run the host (the daemon)\n"
    "  dev      run the host on an embedded stack: an in-process Kafka mock\n"
    "           cluster on loopback and a throwaway PostgreSQL\n"
    "           (--demo: play the field-service saga on it, then exit)\n"
    "  check    validate the configuration and the plugins, then exit\n"
    "  status   show the running host's plugins and last reload [--json]\n"
    "  reload   make the running host re-read its configuration (SIGHUP)\n"
    "  dlq      list, show and replay dead letters (switchyard dlq help)\n"
    "  schema   lint, check, validate, catalog (switchyard schema help)\n"
    "  produce  produce one event in the host's envelope (--type T ...)\n"
    "  tail     decode and print the events of topics (tail PATTERN...)\n"
    "  lag      committed offset, high watermark and lag per consumer group\n"
    "           (switchyard COMMAND --help for each of these)\n"
    "  config-reference\n"
    "           print every configuration key, its type and default\n"
    "  --version\n"
    "\n"
    "options:\n"
    "  --conf-dir DIR   configuration directory (run, check: " DEFAULT_CONF_DIR
    ";\n"
    "                   dev: ./" DEV_CONF_DIR ")\n"
    "  --data-dir DIR   dev: keep PostgreSQL's data in DIR instead of a\n"
    "                   temporary directory removed on exit\n"
    "  --demo           dev: feed Pyxis and Tempo orders, play technicians and\n"
    "                   customers, show the progress; exit 0 once every order\n"
    "                   is final, 1 if one is still open after --timeout\n"
    "  --timeout SEC    dev --demo: give up after SEC seconds (default 120)\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage, 3 configuration error\n";

typedef struct args {
    const char *cmd;
    const char *conf_dir;
    const char *data_dir;
    bool demo;
    int timeout_s; /* --timeout; 0: not given */
} args;

static int parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--conf-dir") == 0 || strcmp(s, "--data-dir") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "switchyard: %s needs a directory\n", s);
                return -1;
            }
            *(s[2] == 'c' ? &a->conf_dir : &a->data_dir) = argv[++i];
        } else if (strcmp(s, "--demo") == 0) {
            a->demo = true;
        } else if (strcmp(s, "--timeout") == 0) {
            char *end = NULL;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (!end || *end || v < 1 || v > 86400) {
                fprintf(stderr, "switchyard: --timeout needs seconds (1-86400)\n");
                return -1;
            }
            a->timeout_s = (int)v;
            i++;
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->cmd = "help";
        } else if (strcmp(s, "--version") == 0) {
            a->cmd = "version";
        } else if (s[0] != '-' && !a->cmd) {
            a->cmd = s;
        } else {
            fprintf(stderr, "switchyard: unknown argument '%s'\n", s);
            return -1;
        }
    }
    return a->cmd ? 0 : -1;
}

static void apply_log_settings(const yard_config *cfg)
{
    yard_log_level l;
    if (yard_log_level_parse(cfg->log_level, &l) == 0)
        yard_log_set_level(l);
    yard_log_set_json(strcmp(cfg->log_format, "json") == 0);
}

static int load_config(const char *dir, yard_config **cfg)
{
    yard_diag d = YARD_DIAG_INIT;
    int rc = yard_config_load(dir, cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    yard_diag_clear(&d);
    return rc;
}

static int cmd_check(const char *dir)
{
    yard_config *cfg = NULL;
    if (load_config(dir, &cfg))
        return EXIT_CONFIG;
    yard_diag d = YARD_DIAG_INIT;
    size_t bad = yard_host_check_plugins(cfg, &d);
    bad += yard_schema_dir_problems(cfg->schema_dir, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    yard_diag_clear(&d);
    size_t enabled = 0;
    for (size_t i = 0; i < cfg->n_plugins; i++)
        enabled += cfg->plugins[i].enabled;
    if (!bad)
        printf("%s: configuration ok, %zu plugin(s) enabled\n", dir, enabled);
    yard_config_free(cfg);
    return bad ? EXIT_CONFIG : EXIT_OK;
}

/* Block the signals we take with sigwait, before any thread starts, so
 * that every thread inherits the mask. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void wait_for_stop(const sigset_t *set, yard_host *h)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            char result[4096]; /* logged and kept for status by the host */
            yard_host_reload(h, result, sizeof result);
            continue;
        }
        yard_log(YARD_LOG_INFO, "stopping", "signal", strsignal(sig), NULL);
        return;
    }
}

/* Stopping waits for in-flight events, offsets and the outbox, each step
 * bounded by shutdown_timeout_ms; with the broker or database gone a client
 * library can still block past that.  Nothing is lost by leaving then:
 * uncommitted offsets are redelivered and the inbox skips what was done. */
#define STOP_GRACE_S 10

static void stop_overdue(int sig)
{
    (void)sig;
    static const char msg[] =
        "level=error msg=\"shutdown overran its bound, exiting\"\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(EXIT_FAIL);
}

static void reload_on_hup(void *h)
{
    char result[4096]; /* logged and kept for status by the host */
    yard_host_reload(h, result, sizeof result);
}

/* The demo beside a ready host, in this thread (which takes the signals).
 * The host's info lines would drown its progress view: below warn they
 * are left out while it runs, unless debug was asked for. */
static int run_demo(yard_host *h, const char *dir, int timeout_s,
                    const sigset_t *set)
{
    yard_config *cfg = NULL;
    if (load_config(dir, &cfg))
        return EXIT_CONFIG;
    yard_log_level level = yard_log_get_level();
    if (level == YARD_LOG_INFO)
        yard_log_set_level(YARD_LOG_WARN);
    yard_demo_opts o = {.cfg = cfg, .timeout_s = timeout_s, .out = stdout,
                        .every_second = isatty(STDOUT_FILENO),
                        .signals = set, .on_hup = reload_on_hup, .hup_arg = h};
    char err[1024];
    int rc = yard_demo_run(&o, err, sizeof err);
    yard_log_set_level(level);
    if (rc)
        fprintf(stderr, "switchyard dev --demo: %s\n", err);
    yard_config_free(cfg);
    return rc ? EXIT_FAIL : EXIT_OK;
}

/* Run the host until a stop signal; with `demo`, until the demo ends. */
static int run_host(const char *dir, const sigset_t *set, bool demo,
                    int demo_timeout_s)
{
    yard_config *cfg = NULL;
    if (load_config(dir, &cfg))
        return EXIT_CONFIG;
    apply_log_settings(cfg);
    unsigned stop_bound_s = cfg->shutdown_timeout_ms / 1000 * 3 + STOP_GRACE_S;
    yard_host *h = NULL;
    char err[2048];
    int rc = yard_host_start(cfg, &h, err, sizeof err);
    if (rc) {
        yard_log(YARD_LOG_ERROR, "host failed to start", "error", err, NULL);
        return rc == YARD_ECONFIG ? EXIT_CONFIG : EXIT_FAIL;
    }
    yard_notify_ready(NULL);
    yard_notify_watchdog_start();
    int result = EXIT_OK;
    if (demo)
        result = run_demo(h, dir, demo_timeout_s, set);
    else
        wait_for_stop(set, h);
    yard_notify_stopping();
    signal(SIGALRM, stop_overdue);
    alarm(stop_bound_s);
    yard_host_stop(h);
    alarm(0);
    yard_notify_watchdog_stop();
    return result;
}

/* Does dir hold at least one .so? */
static bool has_plugins(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        found = n > 3 && strcmp(e->d_name + n - 3, ".so") == 0;
    }
    if (d)
        closedir(d);
    return found;
}

/* From a checkout, conf.d's plugin_dir is the source folder plugins/, which
 * holds no .so: use the plugins built beside the binary (build/plugins)
 * instead.  A configuration whose plugin_dir has plugins is left alone. */
static void dev_default_plugin_dir(const char *conf_dir)
{
    if (getenv("SWITCHYARD_HOST_PLUGIN_DIR"))
        return;
    yard_config *cfg = NULL; /* errors are reported by run_host() */
    bool configured = yard_config_load(conf_dir, &cfg, NULL) == 0 &&
                      has_plugins(cfg->plugin_dir);
    yard_config_free(cfg);
    if (configured)
        return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/plugins", dirname(exe));
    if (has_plugins(dir))
        setenv("SWITCHYARD_HOST_PLUGIN_DIR", dir, 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* The temporary state_dir of `switchyard dev` and what the host and its
 * plugins left in it (crash records, control socket, spooled files). */
static void remove_state_dir(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The embedded cluster stands for a provisioned one: it gets the
 * [topic NAME] sections' topics with their partition counts before the
 * host starts (the mock cannot create topics through the admin API, and
 * would otherwise auto-create them with its own partition count).  Config
 * errors are reported by run_host(). */
static void dev_create_topics(const char *conf_dir, yard_mock *mock)
{
    yard_config *cfg = NULL;
    if (yard_config_load(conf_dir, &cfg, NULL) != 0)
        return;
    char err[512];
    for (size_t i = 0; i < cfg->n_topic_specs; i++)
        if (yard_mock_topic_create(mock, cfg->topic_specs[i].name,
                                   (int)cfg->topic_specs[i].partitions, err,
                                   sizeof err))
            fprintf(stderr, "switchyard dev: %s\n", err);
    yard_config_free(cfg);
}

/* The demo's topics, before the host's consumers look for them.  Config
 * errors are reported by run_host(). */
static void dev_demo_topics(const char *conf_dir, yard_mock *mock)
{
    yard_config *cfg = NULL;
    char err[512];
    if (yard_config_load(conf_dir, &cfg, NULL) == 0 &&
        yard_demo_create_topics(mock, cfg, err, sizeof err))
        fprintf(stderr, "switchyard dev: %s\n", err);
    yard_config_free(cfg);
}

static int cmd_dev(const args *a, const char *dir, const sigset_t *set)
{
    const char *data_dir = a->data_dir;
    char err[2048];
    yard_pgtmp *pg = NULL;
    yard_mock *mock = NULL;
    yard_pgtmp_opts po = {.data_dir = data_dir, .keep = data_dir != NULL};
    int rc = yard_pgtmp_start(&po, &pg, err, sizeof err);
    if (rc) {
        fprintf(stderr, "switchyard dev: PostgreSQL: %s\n", err);
        return EXIT_FAIL;
    }
    rc = yard_mock_start(1, &mock, err, sizeof err);
    if (rc) {
        fprintf(stderr, "switchyard dev: Kafka mock cluster: %s\n", err);
        yard_pgtmp_stop(pg);
        return EXIT_FAIL;
    }
    dev_create_topics(dir, mock);
    if (a->demo)
        dev_demo_topics(dir, mock);
    setenv("SWITCHYARD_POSTGRES_DSN", yard_pgtmp_dsn(pg), 1);
    setenv("SWITCHYARD_KAFKA_BROKERS", yard_mock_bootstraps(mock), 1);
    dev_default_plugin_dir(dir);
    printf("kafka.brokers=%s\npostgres.dsn=%s\n", yard_mock_bootstraps(mock),
           yard_pgtmp_dsn(pg));
    yard_config *peek = NULL; /* errors are reported by run_host() */
    /* The state (control socket, crash record) lives with the throwaway
     * stack unless state_dir is usable as configured. */
    char state[256] = "";
    if (yard_config_load(dir, &peek, NULL) == 0) {
        printf("http.listen=%s\n",
               *peek->http_listen ? peek->http_listen : "off");
        if (access(peek->state_dir, W_OK) != 0 &&
            !getenv("SWITCHYARD_HOST_STATE_DIR")) {
            const char *tmp = getenv("TMPDIR");
            snprintf(state, sizeof state, "%s/switchyard-dev-XXXXXX",
                     tmp ? tmp : "/tmp");
            if (mkdtemp(state))
                setenv("SWITCHYARD_HOST_STATE_DIR", state, 1);
            else
                state[0] = '\0';
        }
    }
    yard_config_free(peek);
    fflush(stdout);
    rc = run_host(dir, set, a->demo, a->timeout_s);
    if (state[0])
        remove_state_dir(state);
    yard_mock_stop(mock);
    yard_pgtmp_stop(pg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "dlq") == 0)
        return yard_cli_dlq(argc - 1, argv + 1, DEFAULT_CONF_DIR);
    if (argc > 1 && strcmp(argv[1], "schema") == 0)
        return yard_cli_schema(argc - 1, argv + 1, DEFAULT_CONF_DIR);
    if (argc > 1 && (strcmp(argv[1], "produce") == 0 ||
                     strcmp(argv[1], "tail") == 0 ||
                     strcmp(argv[1], "lag") == 0))
        return yard_cli_kafka(argc - 1, argv + 1, DEFAULT_CONF_DIR);
    if (argc > 1 && (strcmp(argv[1], "status") == 0 ||
                     strcmp(argv[1], "reload") == 0))
        return yard_cli_control(argc - 1, argv + 1, DEFAULT_CONF_DIR);
    args a;
    if (parse_args(argc, argv, &a)) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(a.cmd, "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(a.cmd, "version") == 0) {
        printf("switchyard %s (plugin ABI %d.%d)\n", YARD_VERSION, SY_ABI_MAJOR,
               SY_ABI_MINOR);
        return EXIT_OK;
    }
    if (strcmp(a.cmd, "config-reference") == 0) {
        yard_config_reference(stdout);
        return EXIT_OK;
    }
    if (strcmp(a.cmd, "check") == 0)
        return cmd_check(a.conf_dir ? a.conf_dir : DEFAULT_CONF_DIR);

    if ((a.demo || a.timeout_s) && strcmp(a.cmd, "dev") != 0) {
        fprintf(stderr, "switchyard: --demo and --timeout are options of dev\n");
        return EXIT_USAGE;
    }
    if (a.timeout_s && !a.demo) {
        fprintf(stderr, "switchyard: --timeout goes with dev --demo\n");
        return EXIT_USAGE;
    }
    sigset_t set;
    block_signals(&set);
    if (strcmp(a.cmd, "run") == 0)
        return run_host(a.conf_dir ? a.conf_dir : DEFAULT_CONF_DIR, &set, false, 0);
    if (strcmp(a.cmd, "dev") == 0)
        return cmd_dev(&a, a.conf_dir ? a.conf_dir : DEV_CONF_DIR, &set);
    fprintf(stderr, "switchyard: unknown command '%s'\n\n%s", a.cmd, usage);
    return EXIT_USAGE;
}
