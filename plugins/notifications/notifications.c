/*
 * notifications — tells customers, providers and operators what happened:
 * renders the template configured for an event's type and hands the
 * result to a channel (channel.h), then records it and emits
 * notification.sent or notification.failed (seed 002's records).
 *
 * Configuration, in the [settings] of conf.d/70-notifications.ini (the
 * host passes only [settings] to a plugin, hence dotted keys):
 *   spool_dir            the file channel's directory (enables "file")
 *   webhook_url          the webhook channel's URL (enables "webhook")
 *   webhook_timeout_ms   whole-request limit, default 3000; a delivery
 *                        holds a worker and the transaction, so keep it
 *                        under the host's handler_deadline_ms
 *   template.<event type>.channel    file or webhook (required)
 *   template.<event type>.recipient  template, e.g. {customer_id} (required)
 *   template.<event type>.body       template (required)
 *   template.<event type>.subject    template (optional)
 *   template.<event type>.medium     email, sms or push: the events' `type`
 *                                    (default email)
 *   template.<event type>.when       path=value: notify only when the
 *                                    string member at path equals value
 * Templates are described in template.h and checked at init.  The plugin
 * subscribes to the event types listed in subs[] below; one without a
 * template, or whose `when` does not match, is acknowledged and counted
 * (metric skipped).  A template for a type not in subs[] is never used.
 *
 * One notification per event: its id is the event's id.
 *
 * Exactly once, and where it ends.  The handler runs inside the host's
 * transaction for the event: the ntf_notification row and the emitted
 * event commit together with the inbox row, so a redelivered event is
 * dropped by the inbox and notifies nobody twice.  The delivery itself
 * is outside the database and cannot roll back: when the transaction does
 * not commit after a delivery (the host redoes a batch, or dies before
 * COMMIT), the same notification is delivered again.  Channels make that
 * repeat harmless: the file channel rewrites the file named after the
 * event id, the webhook sends the event id as Idempotency-Key for the
 * receiver to drop the copy.
 *
 * Failures.  A placeholder without a value in the payload
 * (TEMPLATE_FIELD_MISSING), an empty recipient (RECIPIENT_EMPTY) or a
 * channel's permanent refusal, such as an HTTP 4xx (DELIVERY_REFUSED),
 * is recorded as failed and emitted as notification.failed with error
 * "CODE: message"; the event itself is done (SY_OK).  A transient failure
 * (5xx, timeout, connection refused, a full disk) answers SY_RETRY: the
 * host retries with its backoff and, when its retries run out, moves the
 * event to the plugin's DLQ, to be replayed once the channel is back.
 * `attempts` counts the deliveries this host process tried until the
 * outcome; the count lives in memory, so a restart starts again from 1.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "domain.h"
#include "template.h"

#define DEFAULT_TIMEOUT_MS 3000
#define MAX_TIMEOUT_MS 600000
#define KEY_LEN 256         /* "template.<type>.<field>" */
#define ERR_LEN 512
#define TIME_LEN 32         /* "2026-01-01T00:00:00.000Z" */
#define ATTEMPT_SLOTS 256   /* notifications awaiting a retry, tracked */

static const char *const migrations[] = {
    "CREATE TABLE ntf_notification ("
    " event_id text PRIMARY KEY,"
    " template text NOT NULL,"
    " channel text NOT NULL,"
    " recipient text,"
    " status text NOT NULL CHECK (status IN ('sent', 'failed')),"
    " attempts integer NOT NULL CHECK (attempts >= 0),"
    " error_code text,"
    " error text,"
    " created_at timestamptz NOT NULL DEFAULT now())",
    NULL,
};

typedef struct ntf_template {
    bool present;
    const ntf_channel *channel;
    /* Strings from the host's configuration, valid until fini(). */
    const char *medium, *recipient, *subject, *body;
    char *when_path;        /* malloc'd, or NULL: always */
    const char *when_value;
} ntf_template;

static sy_result on_event(sy_ctx *ctx, const sy_event *ev, void *state);

/* What a customer, a provider or an operator is told about (seed 000's
 * Communication Service consumers).  Entry i has templates[i]. */
static const sy_subscription subs[] = {
    {"integration.sales.order_received", on_event},
    {"assignments.offer.created", on_event},
    {"assignments.assignment.confirmed", on_event},
    {"assignments.date_negotiation.failed", on_event},
    {"projects.tv_outcome.recorded", on_event},
    {"projects.service_order.status_changed", on_event},
    {"projects.service_order.closed", on_event},
    {"projects.task.created", on_event},
};
#define N_TYPES SY_COUNT(subs)

typedef struct ntf_state {
    dom_plugin dom;
    ntf_channel *file, *webhook; /* NULL when not configured */
    bool curl_ready;
    ntf_template templates[N_TYPES];
    pthread_mutex_t lock; /* guards attempts[] and next_slot */
    struct {
        uint64_t hash; /* of the event id */
        unsigned n;    /* 0: free */
    } attempts[ATTEMPT_SLOTS];
    size_t next_slot;
} ntf_state;

/* ---- attempts ----------------------------------------------------------- */

static uint64_t id_hash(const char *id)
{
    return dom_fnv1a(0xcbf29ce484222325ULL, id);
}

/* Count one more delivery of notification `id`; returns the count.  When
 * every slot is taken, the oldest is reused: its count restarts at 1. */
static unsigned attempt_begin(ntf_state *s, const char *id)
{
    uint64_t h = id_hash(id);
    unsigned n = 1;
    pthread_mutex_lock(&s->lock);
    size_t i, free_slot = ATTEMPT_SLOTS;
    for (i = 0; i < ATTEMPT_SLOTS; i++) {
        if (s->attempts[i].n && s->attempts[i].hash == h)
            break;
        if (!s->attempts[i].n && free_slot == ATTEMPT_SLOTS)
            free_slot = i;
    }
    if (i < ATTEMPT_SLOTS) {
        n = ++s->attempts[i].n;
    } else {
        if (free_slot == ATTEMPT_SLOTS)
            free_slot = s->next_slot++ % ATTEMPT_SLOTS;
        s->attempts[free_slot].hash = h;
        s->attempts[free_slot].n = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Notification `id` has its outcome: stop counting. */
static void attempt_end(ntf_state *s, const char *id)
{
    uint64_t h = id_hash(id);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < ATTEMPT_SLOTS; i++)
        if (s->attempts[i].n && s->attempts[i].hash == h)
            s->attempts[i].n = 0;
    pthread_mutex_unlock(&s->lock);
}

/* ---- recording ---------------------------------------------------------- */

static void now_rfc3339(char out[TIME_LEN])
{
    int64_t ms = dom_now_ms();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char sec[TIME_LEN];
    gmtime_r(&t, &tm);
    strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, TIME_LEN, "%.20s.%03dZ", sec, (int)(ms % 1000));
}

/* Emit `payload` (stolen) as it is: dom_emit() adds the catalog's
 * event_id and event_timestamp, which seed 002's records do not have.
 * The id is derived from the consumed event's, as dom_emit() does.
 * 0, or -1 (logged). */
static int emit(const dom_call *c, const char *type, const char *key,
                json_t *payload)
{
    char id[DOM_ID_LEN], err[DOM_ERRLEN] = "out of memory";
    dom_event_id(c->ev->id, type, key, id);
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    sy_emit out = SY_EMIT_INIT;
    out.type = type;
    out.payload = text;
    out.key = key;
    out.id = id;
    int rc = text ? c->p->api->emit(c->ctx, &out, err, sizeof err) : -1;
    if (rc)
        c->p->api->log(c->p->self, c->ctx, SY_LOG_ERROR, "emit %s failed: %s",
                       type, err);
    free(text);
    return rc;
}

/* The ntf_notification row and notification.sent (code NULL) or
 * notification.failed with code and error, in the handler's transaction.
 * SY_OK, or SY_RETRY when either fails. */
static sy_result record(const dom_call *c, const ntf_notification *n,
                        const char *channel, unsigned attempts,
                        const char *code, const char *error)
{
    char attempts_txt[16], at[TIME_LEN];
    snprintf(attempts_txt, sizeof attempts_txt, "%u", attempts);
    const char *q[] = {n->id,       n->template_name, channel, n->recipient,
                       code ? "failed" : "sent", attempts_txt, code,
                       code ? error : NULL};
    if (dom_sql(c, "INSERT INTO ntf_notification (event_id, template, channel,"
                   " recipient, status, attempts, error_code, error)"
                   " VALUES ($1, $2, $3, $4, $5, $6::integer, $7, $8)",
                8, q, NULL))
        return SY_RETRY;
    now_rfc3339(at);
    json_t *doc;
    if (code) {
        char msg[ERR_LEN + 64];
        snprintf(msg, sizeof msg, "%s: %s", code, error);
        doc = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "notificationId",
                        n->id, "type", n->medium, "recipient",
                        n->recipient ? n->recipient : "", "error", msg,
                        "retryCount", attempts > 1 ? (int)attempts - 1 : 0,
                        "failedAt", at);
    } else {
        doc = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:n, s:s}",
                        "notificationId", n->id, "type", n->medium,
                        "recipient", n->recipient, "subject", n->subject,
                        "template", n->template_name, "status", "sent",
                        "provider", channel, "providerMessageId", "sentAt", at);
    }
    if (emit(c, code ? "notification.failed" : "notification.sent", n->id, doc))
        return SY_RETRY;
    c->p->api->metric_add(c->p->self, code ? "failed" : "sent", 1);
    return SY_OK;
}

/* ---- the handler -------------------------------------------------------- */

/* Render one of the template's texts into *out (NULL template: NULL).
 * 0; or the failure's code with the reason in err; or NULL code and -1
 * when out of memory. */
static int render(const char *tmpl, const char *what, const json_t *p,
                  char **out, const char **code, char *err, size_t errlen)
{
    char why[ERR_LEN / 2];
    *out = NULL;
    if (!tmpl)
        return 0;
    int rc = ntf_render(tmpl, p, out, why, sizeof why);
    if (rc == NTF_RENDER_MISSING) {
        *code = "TEMPLATE_FIELD_MISSING";
        snprintf(err, errlen, "%s placeholder %s", what, why);
    }
    return rc;
}

static bool when_matches(const ntf_template *t, const json_t *p)
{
    if (!t->when_path)
        return true;
    const char *v = json_string_value(
        ntf_lookup(p, t->when_path, strlen(t->when_path)));
    return v && strcmp(v, t->when_value) == 0;
}

static sy_result notify(const dom_call *c, ntf_state *s, const ntf_template *t,
                        const json_t *p)
{
    if (!when_matches(t, p)) {
        c->p->api->metric_add(c->p->self, "skipped", 1);
        return SY_OK;
    }
    char *recipient = NULL, *subject = NULL, *body = NULL;
    char err[ERR_LEN] = "";
    const char *code = NULL;
    int rc = render(t->recipient, "recipient", p, &recipient, &code, err, sizeof err);
    if (!rc)
        rc = render(t->subject, "subject", p, &subject, &code, err, sizeof err);
    if (!rc)
        rc = render(t->body, "body", p, &body, &code, err, sizeof err);
    if (!rc && !*recipient) {
        code = "RECIPIENT_EMPTY";
        snprintf(err, sizeof err, "recipient template %s gave an empty string",
                 t->recipient);
        rc = -1;
    }
    ntf_notification n = {.id = c->ev->id, .event_type = c->ev->type,
                          .template_name = c->ev->type, .medium = t->medium,
                          .recipient = recipient, .subject = subject,
                          .body = body};
    sy_result r = SY_RETRY;
    if (rc && !code) {
        c->p->api->log(c->p->self, c->ctx, SY_LOG_ERROR, "render: out of memory");
    } else if (rc) {
        c->p->api->log(c->p->self, c->ctx, SY_LOG_WARN,
                       "notification failed: %s: %s", code, err);
        r = record(c, &n, t->channel->name, 0, code, err);
    } else {
        unsigned attempts = attempt_begin(s, n.id);
        ntf_outcome o = t->channel->deliver(t->channel, &n, err, sizeof err);
        if (o == NTF_TRANSIENT) {
            c->p->api->log(c->p->self, c->ctx, SY_LOG_WARN,
                           "delivery attempt %u failed, to be retried: channel=%s"
                           " error=\"%s\"",
                           attempts, t->channel->name, err);
            c->p->api->metric_add(c->p->self, "retried", 1);
        } else {
            if (o == NTF_PERMANENT)
                c->p->api->log(c->p->self, c->ctx, SY_LOG_WARN,
                               "notification failed: DELIVERY_REFUSED:"
                               " channel=%s error=\"%s\"",
                               t->channel->name, err);
            r = record(c, &n, t->channel->name, attempts,
                       o == NTF_PERMANENT ? "DELIVERY_REFUSED" : NULL, err);
            if (r == SY_OK)
                attempt_end(s, n.id);
        }
    }
    free(recipient);
    free(subject);
    free(body);
    return r;
}

static sy_result on_event(sy_ctx *ctx, const sy_event *ev, void *state)
{
    ntf_state *s = state;
    const ntf_template *t = NULL;
    for (size_t i = 0; i < N_TYPES && !t; i++)
        if (s->templates[i].present && strcmp(subs[i].pattern, ev->type) == 0)
            t = &s->templates[i];
    if (!t) {
        s->dom.api->metric_add(s->dom.self, "skipped", 1);
        return SY_OK;
    }
    dom_call c = {&s->dom, ctx, ev};
    json_t *p = dom_payload(&c);
    if (!p)
        return SY_REJECT;
    sy_result r = notify(&c, s, t, p);
    json_decref(p);
    return r;
}

/* ---- configuration ------------------------------------------------------ */

/* A setting, or NULL when absent or empty. */
static const char *setting(const ntf_state *s, const char *key)
{
    const char *v = s->dom.api->config_get(s->dom.self, key);
    return v && *v ? v : NULL;
}

static const char *template_setting(const ntf_state *s, const char *type,
                                    const char *field)
{
    char key[KEY_LEN];
    snprintf(key, sizeof key, "template.%s.%s", type, field);
    return setting(s, key);
}

/* "path=value" of template.<type>.when. */
static int parse_when(ntf_template *t, const char *type, const char *when,
                      char *err, size_t errlen)
{
    const char *eq = strchr(when, '=');
    size_t n = eq ? (size_t)(eq - when) : 0;
    while (n > 0 && when[n - 1] == ' ')
        n--;
    const char *value = eq ? eq + 1 : "";
    while (*value == ' ')
        value++;
    char check[KEY_LEN];
    snprintf(check, sizeof check, "{%.*s}", (int)n, when);
    if (!eq || !n || !*value || n + 3 > sizeof check ||
        ntf_template_check(check, err, errlen)) {
        snprintf(err, errlen,
                 "template.%s.when = %s: want path=value, e.g."
                 " new_status=COMPLETED", type, when);
        return -1;
    }
    if (!(t->when_path = strndup(when, n))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->when_value = value;
    return 0;
}

static int load_template(ntf_state *s, size_t i, char *err, size_t errlen)
{
    const char *type = subs[i].pattern;
    ntf_template *t = &s->templates[i];
    const char *channel = template_setting(s, type, "channel");
    const char *when = template_setting(s, type, "when");
    t->recipient = template_setting(s, type, "recipient");
    t->subject = template_setting(s, type, "subject");
    t->body = template_setting(s, type, "body");
    t->medium = template_setting(s, type, "medium");
    if (!channel && !when && !t->recipient && !t->subject && !t->body &&
        !t->medium)
        return 0; /* no template for this type */
    if (!channel || !t->recipient || !t->body) {
        snprintf(err, errlen,
                 "template.%s: channel, recipient and body are required",
                 type);
        return -1;
    }
    if (!t->medium)
        t->medium = "email";
    if (strcmp(t->medium, "email") && strcmp(t->medium, "sms") &&
        strcmp(t->medium, "push")) {
        snprintf(err, errlen, "template.%s.medium = %s: want email, sms or push",
                 type, t->medium);
        return -1;
    }
    t->channel = strcmp(channel, "file") == 0      ? s->file
                 : strcmp(channel, "webhook") == 0 ? s->webhook
                                                   : NULL;
    if (!t->channel) {
        bool known = !strcmp(channel, "file") || !strcmp(channel, "webhook");
        snprintf(err, errlen, "template.%s.channel = %s: %s", type, channel,
                 !known ? "want file or webhook"
                 : !strcmp(channel, "file") ? "spool_dir is not set"
                                            : "webhook_url is not set");
        return -1;
    }
    const char *fields[] = {"recipient", "subject", "body"};
    const char *texts[] = {t->recipient, t->subject, t->body};
    for (size_t f = 0; f < SY_COUNT(fields); f++) {
        if (!texts[f])
            continue;
        /* Rendered text goes into JSON documents: it must be UTF-8. */
        char why[ERR_LEN / 2] = "not valid UTF-8";
        json_t *utf8 = json_string(texts[f]); /* NULL when it is not */
        bool ok = utf8 && ntf_template_check(texts[f], why, sizeof why) == 0;
        json_decref(utf8);
        if (!ok) {
            snprintf(err, errlen, "template.%s.%s: %s", type, fields[f], why);
            return -1;
        }
    }
    if (when && parse_when(t, type, when, err, errlen))
        return -1;
    t->present = true;
    return 0;
}

static void fini(void *state)
{
    ntf_state *s = state;
    if (!s)
        return;
    for (size_t i = 0; i < N_TYPES; i++)
        free(s->templates[i].when_path);
    if (s->file)
        s->file->destroy(s->file);
    if (s->webhook)
        s->webhook->destroy(s->webhook);
    if (s->curl_ready)
        ntf_webhook_global_cleanup();
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int init(sy_plugin *self, const sy_host_api *api, void **state,
                char *err, size_t errlen)
{
    ntf_state *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->dom = (dom_plugin){api, self};
    pthread_mutex_init(&s->lock, NULL);
    const char *spool = setting(s, "spool_dir");
    const char *url = setting(s, "webhook_url");
    const char *timeout = setting(s, "webhook_timeout_ms");
    long timeout_ms = DEFAULT_TIMEOUT_MS;
    if (timeout) {
        char *end;
        timeout_ms = strtol(timeout, &end, 10);
        if (*end || timeout_ms < 1 || timeout_ms > MAX_TIMEOUT_MS) {
            snprintf(err, errlen, "webhook_timeout_ms = %s: want 1..%d",
                     timeout, MAX_TIMEOUT_MS);
            goto fail;
        }
    }
    if (spool && !(s->file = ntf_file_channel_new(spool, err, errlen)))
        goto fail;
    if (url) {
        if (ntf_webhook_global_init(err, errlen))
            goto fail;
        s->curl_ready = true;
        if (!(s->webhook = ntf_webhook_channel_new(url, timeout_ms, err, errlen)))
            goto fail;
    }
    size_t n = 0;
    for (size_t i = 0; i < N_TYPES; i++) {
        if (load_template(s, i, err, errlen))
            goto fail;
        n += s->templates[i].present;
    }
    api->log(self, NULL, n ? SY_LOG_INFO : SY_LOG_WARN,
             "%zu of %zu event types have a template: file=%s webhook=%s", n,
             N_TYPES, s->file ? "on" : "off", s->webhook ? "on" : "off");
    *state = s;
    return 0;
fail:
    fini(s);
    return -1;
}

SY_PLUGIN_DESCRIPTOR(.name = "notifications", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = init, .fini = fini);
