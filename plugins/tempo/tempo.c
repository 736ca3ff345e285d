/*
 * tempo — the adapter of the Tempo sales system.
 *
 *   sales.tempo.service.requested  -> integration.sales.order_received (one
 *                                     service) and
 *                                     integration.sales.order.normalized
 *   sales.tempo.service.updated    -> recorded; integration.sales.order.normalized
 *   sales.tempo.service.cancelled  -> integration.sales.order_cancelled
 *   any of them, wrong             -> integration.sales.order.failed (code)
 *   fsm.order.status_updated       -> integration.tempo.service.status_updated
 *   fsm.tv.outcome_recorded        -> integration.tempo.service.tv_outcome_recorded
 *                                     (both on outbound_topic, and only for
 *                                     TEMPO requests this adapter received)
 *
 * The rules (validation, order table, dedupe, failures) are common/sales.h,
 * shared with pyxis; this file is what is Tempo's own: its field names and
 * its one service per request.  A Tempo request id is the sales order id.
 */
#include "sales.h"

#define TEMPO_VERSION "1.0.0"

/* service_type: the request's one service. */
static const char *service(const json_t *p, bool update, json_t *out,
                           bool *absent, char *msg, size_t msglen)
{
    const json_t *type = json_object_get(p, "service_type");
    if (update && (!type || json_is_null(type))) { /* absent: its default */
        *absent = true;
        return NULL;
    }
    const char *code = NULL;
    if (!sal_need(p, "service_type", "service_type", &code, msg, msglen))
        return code;
    json_array_append_new(out, json_copy((json_t *)type));
    return NULL;
}

static const sal_system tempo = {
    .source_system = "TEMPO",
    .id_field = "tempo_request_id",
    .table = "tempo_request",
    .status_type = "integration.tempo.service.status_updated",
    .tv_type = "integration.tempo.service.tv_outcome_recorded",
    .default_topic = "integration.tempo.outbound",
    .default_services = "INSTALLATION:INSTALLATION:TV,REPAIR:REPAIR,"
                        "MAINTENANCE:MAINTENANCE",
    .transformation_version = "tempo-" TEMPO_VERSION,
    .services = service,
};

static const char *const migrations[] = {
    SAL_TABLE_SQL("tempo_request"),
    NULL,
};

static sy_result on_requested(sy_ctx *ctx, const sy_event *ev, void *state)
{
    return sal_order_event(ctx, ev, state, SAL_CREATED);
}

static sy_result on_updated(sy_ctx *ctx, const sy_event *ev, void *state)
{
    return sal_order_event(ctx, ev, state, SAL_UPDATED);
}

static sy_result on_cancelled(sy_ctx *ctx, const sy_event *ev, void *state)
{
    return sal_order_event(ctx, ev, state, SAL_CANCELLED);
}

static sy_result on_status(sy_ctx *ctx, const sy_event *ev, void *state)
{
    return sal_outbound(ctx, ev, state, SAL_STATUS);
}

static sy_result on_tv_outcome(sy_ctx *ctx, const sy_event *ev, void *state)
{
    return sal_outbound(ctx, ev, state, SAL_TV);
}

static int init(sy_plugin *self, const sy_host_api *api, void **state,
                char *err, size_t errlen)
{
    return sal_init(&tempo, self, api, state, err, errlen);
}

static const sy_subscription subs[] = {
    {"sales.tempo.service.requested", on_requested},
    {"sales.tempo.service.updated", on_updated},
    {"sales.tempo.service.cancelled", on_cancelled},
    {"fsm.order.status_updated", on_status},
    {"fsm.tv.outcome_recorded", on_tv_outcome},
};

SY_PLUGIN_DESCRIPTOR(.name = "tempo", .version = TEMPO_VERSION,
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = init, .fini = sal_fini);
