/*
 * counter — the integration tests' plugin.  For every "<run>.input" event
 * it records one effect row and emits "<run>.done" under the same key, so
 * a test can count effects (exactly once), check their per-key order, and
 * follow emitted events through the outbox to their topic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/sdk.h>

static const sy_host_api *host;

static const char *const migrations[] = {
    "CREATE TABLE counter_effect ("
    " id bigserial PRIMARY KEY, event_id text NOT NULL, event_type text NOT NULL,"
    " pkey text, payload jsonb NOT NULL)",
    /* A copy of every outbox row as written, so tests can compare what was
     * committed with what reached the topic after the relay removed it. */
    "CREATE TABLE counter_outbox_audit (id bigint, topic text, pkey text,"
    " event_id text, payload bytea);"
    "CREATE FUNCTION counter_audit() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN INSERT INTO counter_outbox_audit VALUES (NEW.id, NEW.topic,"
    " NEW.partition_key, NEW.event_id, NEW.payload); RETURN NULL; END $$;"
    "CREATE TRIGGER counter_audit AFTER INSERT ON yard_outbox"
    " FOR EACH ROW EXECUTE FUNCTION counter_audit()",
    NULL,
};

static sy_result on_input(sy_ctx *ctx, const sy_event *ev, void *state)
{
    (void)state;
    char err[256];
    const char *p[4] = {ev->id, ev->type, ev->key, ev->payload};
    if (host->sql(ctx,
                  "INSERT INTO counter_effect (event_id, event_type, pkey, payload)"
                  " VALUES ($1, $2, $3, $4::jsonb)",
                  4, p, NULL, err, sizeof err)) {
        host->log(NULL, ctx, SY_LOG_WARN, "effect insert failed: %s", err);
        return SY_RETRY;
    }
    /* A statement that fails without the handler looking: the host must
     * still find out (it may have sent it ahead) and dead-letter the
     * event, leaving the rest of its batch alone. */
    if (strstr(ev->payload, "\"bad_sql\":true"))
        host->sql(ctx, "INSERT INTO counter_effect (event_id, event_type)"
                       " VALUES (NULL, 'x')",
                  0, NULL, NULL, NULL, 0);
    /* "<run>.input" -> "<run>.done" */
    char type[128];
    size_t run = strlen(ev->type) - strlen(".input");
    snprintf(type, sizeof type, "%.*s.done", (int)run, ev->type);
    char payload[256];
    snprintf(payload, sizeof payload, "{\"source_id\":\"%s\"}", ev->id);
    sy_emit out = SY_EMIT_INIT;
    out.type = type;
    out.payload = payload;
    if (host->emit(ctx, &out, err, sizeof err)) {
        host->log(NULL, ctx, SY_LOG_ERROR, "emit failed: %s", err);
        return SY_REJECT;
    }
    return SY_OK;
}

static int init(sy_plugin *self, const sy_host_api *api, void **state,
                char *err, size_t errlen)
{
    (void)self;
    (void)err;
    (void)errlen;
    host = api;
    *state = NULL;
    return 0;
}

static const sy_subscription subs[] = {
    {"*.input", on_input},
};

SY_PLUGIN_DESCRIPTOR(.name = "counter", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = init);
