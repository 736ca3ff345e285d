/*
 * channel_webhook.c — POST the notification as JSON to one URL (libcurl).
 *
 * One easy handle per delivery: handlers run on several threads and a
 * handle must not be shared between them.  Redirects are not followed (a
 * 3xx is a permanent answer), the response body is discarded.  Messages
 * leave the URL out: it may carry a token, and they are logged, stored
 * and emitted in notification.failed.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"

#define KEY_HEADER "Idempotency-Key: "

typedef struct webhook_channel {
    ntf_channel base;
    char *url;
    long timeout_ms;
} webhook_channel;

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Which answers are worth another try: the server is down or busy, or
 * asks us to come back. */
static ntf_outcome classify(long status)
{
    if (status >= 200 && status < 300)
        return NTF_DELIVERED;
    if (status >= 500 || status == 408 || status == 429)
        return NTF_TRANSIENT;
    return NTF_PERMANENT;
}

static ntf_outcome webhook_deliver(const ntf_channel *ch,
                                   const ntf_notification *n, char *err,
                                   size_t errlen)
{
    const webhook_channel *wc = (const webhook_channel *)ch;
    char *doc = ntf_document(n);
    char *key = NULL;
    if (!doc || asprintf(&key, KEY_HEADER "%s", n->id) < 0)
        key = NULL; /* asprintf() leaves it undefined on failure */
    CURL *h = key ? curl_easy_init() : NULL;
    struct curl_slist *json =
        h ? curl_slist_append(NULL, "Content-Type: application/json") : NULL;
    struct curl_slist *hdrs = json ? curl_slist_append(json, key) : NULL;
    if (!hdrs) {
        curl_slist_free_all(json);
        curl_easy_cleanup(h);
        free(key);
        free(doc);
        snprintf(err, errlen, "out of memory");
        return NTF_TRANSIENT;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, wc->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, doc);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, wc->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    ntf_outcome o;
    if (rc != CURLE_OK) {
        /* no answer: connection refused, timeout, TLS, reset */
        snprintf(err, errlen, "webhook POST failed: %s",
                 *cerr ? cerr : curl_easy_strerror(rc));
        o = NTF_TRANSIENT;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        o = classify(status);
        if (o != NTF_DELIVERED)
            snprintf(err, errlen, "webhook answered HTTP %ld", status);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    free(key);
    free(doc);
    return o;
}

static void webhook_destroy(ntf_channel *ch)
{
    webhook_channel *wc = (webhook_channel *)ch;
    if (wc)
        free(wc->url);
    free(wc);
}

int ntf_webhook_global_init(char *err, size_t errlen)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

void ntf_webhook_global_cleanup(void) { curl_global_cleanup(); }

ntf_channel *ntf_webhook_channel_new(const char *url, long timeout_ms,
                                     char *err, size_t errlen)
{
    /* Refuse a URL libcurl cannot parse now rather than on every event. */
    CURLU *u = curl_url();
    char *scheme = NULL;
    CURLUcode uc = u ? curl_url_set(u, CURLUPART_URL, url, 0) : CURLUE_OUT_OF_MEMORY;
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    int ok = uc == CURLUE_OK &&
             (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
    curl_free(scheme);
    curl_url_cleanup(u);
    if (!ok) {
        snprintf(err, errlen, "webhook_url %s: not an http:// or https:// URL%s%s",
                 url, uc == CURLUE_OK ? "" : ": ",
                 uc == CURLUE_OK ? "" : curl_url_strerror(uc));
        return NULL;
    }
    webhook_channel *wc = calloc(1, sizeof *wc);
    if (!wc || !(wc->url = strdup(url))) {
        free(wc);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    wc->base = (ntf_channel){.name = "webhook", .deliver = webhook_deliver,
                             .destroy = webhook_destroy};
    wc->timeout_ms = timeout_ms;
    return &wc->base;
}
