/* http.c — the HTTP endpoint on libmicrohttpd (see http.h). */
#include "http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "health.h"
#include "log.h"
#include "metrics.h"

#define HTTP_CONNECTION_LIMIT 64     /* connections in total */
#define HTTP_PER_IP_LIMIT 16         /* connections per client address */
#define HTTP_MEMORY_LIMIT (16 * 1024)/* per connection: request line+headers */
#define HTTP_TIMEOUT_S 10            /* idle connection timeout */
#define HTTP_WHY_LEN 8192

struct yard_http {
    struct MHD_Daemon *d;
    yard_http_opts o;
    char listen[128];
};

static const char text_plain[] = "text/plain; charset=utf-8";

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    /* Client misbehaviour (resets, oversized headers) shows up here too:
     * not worth more than debug. */
    yard_log(YARD_LOG_DEBUG, msg, "component", "http", NULL);
}

bool yard_http_split_listen(const char *listen, char *host, size_t hostlen,
                            char *port, size_t portlen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1])
        return false;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return false;
        h++;
        hl -= 2;
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
    return true;
}

static enum MHD_Result reply(struct MHD_Connection *c, const char *route,
                             unsigned code, const char *type, char *body,
                             size_t len, bool must_free)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result res = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    char codes[8];
    snprintf(codes, sizeof codes, "%u", code);
    yard_metric_add(YARD_M_HTTP_REQUESTS, (const char *[]){route, codes}, 1);
    return res;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, const char *route,
                                  unsigned code, const char *text)
{
    return reply(c, route, code, text_plain, (char *)text, strlen(text), false);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    yard_http *h = cls;
    static _Thread_local bool named;
    if (!named) {
        pthread_setname_np(pthread_self(), "yard-http");
        named = true;
    }
    const char *route = strcmp(url, "/metrics") == 0   ? "/metrics"
                        : strcmp(url, "/healthz") == 0 ? "/healthz"
                        : strcmp(url, "/readyz") == 0  ? "/readyz"
                        : strcmp(url, "/plugins") == 0 ? "/plugins"
                                                       : "other";
    /* Answer at once, on the first call: a body, if any, is not read. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(c, route, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "method not allowed: use GET\n");
    if (strcmp(route, "/metrics") == 0) {
        size_t len = 0;
        char *body = yard_metrics_render(&len);
        if (!body)
            return reply_text(c, route, MHD_HTTP_INTERNAL_SERVER_ERROR,
                              "out of memory\n");
        return reply(c, route, MHD_HTTP_OK,
                     "text/plain; version=0.0.4; charset=utf-8", body, len,
                     true);
    }
    if (strcmp(route, "/healthz") == 0 || strcmp(route, "/readyz") == 0) {
        char *why = malloc(HTTP_WHY_LEN);
        if (!why)
            return reply_text(c, route, MHD_HTTP_INTERNAL_SERVER_ERROR,
                              "out of memory\n");
        bool ok = route[1] == 'h'
                      ? yard_health_live(h->o.stale_ms, why, HTTP_WHY_LEN)
                      : yard_health_ready(why, HTTP_WHY_LEN);
        if (ok)
            snprintf(why, HTTP_WHY_LEN, "%s\n", route[1] == 'h' ? "ok" : "ready");
        return reply(c, route, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                     text_plain, why, strlen(why), true);
    }
    if (strcmp(route, "/plugins") == 0) {
        char *body = h->o.plugins_json ? h->o.plugins_json(h->o.arg) : NULL;
        if (!body)
            return reply_text(c, route, MHD_HTTP_INTERNAL_SERVER_ERROR,
                              "plugin table unavailable\n");
        return reply(c, route, MHD_HTTP_OK, "application/json", body,
                     strlen(body), true);
    }
    return reply_text(c, route, MHD_HTTP_NOT_FOUND,
                      "not found: try /metrics, /healthz, /readyz, /plugins\n");
}

int yard_http_start(const yard_http_opts *o, yard_http **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (!o->listen || !*o->listen || strcmp(o->listen, "off") == 0) {
        yard_log(YARD_LOG_INFO, "http endpoint disabled", NULL);
        return 0;
    }
    char host[128], port[16];
    if (!yard_http_split_listen(o->listen, host, sizeof host, port, sizeof port))
        return yard_errf(err, errlen, YARD_ECONFIG,
                         "[http] listen %s: expected HOST:PORT", o->listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai)
        return yard_errf(err, errlen, YARD_ECONFIG, "[http] listen %s: %s",
                         o->listen, gai_strerror(gai));
    yard_http *h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(ai);
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    }
    h->o = *o;
    if (!h->o.stale_ms)
        h->o.stale_ms = YARD_HEALTH_STALE_MS;
    snprintf(h->listen, sizeof h->listen, "%s", o->listen);
    h->o.listen = h->listen;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_IP_LIMIT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        free(h);
        return yard_errf(err, errlen, YARD_EIO,
                         "[http] listen %s: cannot listen (address in use or "
                         "not local?)",
                         o->listen);
    }
    char p[8];
    snprintf(p, sizeof p, "%u", (unsigned)yard_http_port(h));
    yard_log(YARD_LOG_INFO, "http endpoint listening", "listen", o->listen,
             "port", p, NULL);
    *out = h;
    return 0;
}

uint16_t yard_http_port(const yard_http *h)
{
    if (!h || !h->d)
        return 0;
    const union MHD_DaemonInfo *i =
        MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

void yard_http_stop(yard_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
