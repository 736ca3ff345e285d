/*
 * http.h — the host's HTTP endpoint (libmicrohttpd): /metrics (Prometheus
 * text format 0.0.4), /healthz (liveness), /readyz (readiness, 503 with the
 * reasons when not ready) and /plugins (JSON).
 *
 * Not a way in: GET and HEAD only (405 otherwise), bounded request memory,
 * bounded connections (in total and per client address), idle timeouts,
 * one internal polling thread, and no handler touches event data — they
 * read metrics, health conditions and the host's plugin table.
 */
#ifndef YARD_HTTP_H
#define YARD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yard_http yard_http;

typedef struct yard_http_opts {
    const char *listen; /* HOST:PORT ([v6]:PORT); NULL, "" or "off": none */
    uint32_t stale_ms;  /* /healthz: a busy thread silent longer fails;
                           0: default 120000 */
    /* /plugins: a malloc'd JSON text, or NULL (500).  Called from the HTTP
     * thread; must not block long. */
    char *(*plugins_json)(void *arg);
    void *arg;
} yard_http_opts;

/* Listen and serve.  *out is NULL (and 0 returned) when disabled.  Errors:
 * a bad address, or the port cannot be bound (message names it). */
int yard_http_start(const yard_http_opts *opts, yard_http **out, char *err,
                    size_t errlen);

/* The port actually bound (useful with port 0), or 0. */
uint16_t yard_http_port(const yard_http *h);

/* Stop listening, close connections, free.  NULL ok. */
void yard_http_stop(yard_http *h);

/* Split "HOST:PORT" or "[V6]:PORT"; true on success.  Exposed for tests. */
bool yard_http_split_listen(const char *listen, char *host, size_t hostlen,
                            char *port, size_t portlen);

#endif
