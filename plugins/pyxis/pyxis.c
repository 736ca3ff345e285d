/*
 * pyxis — the adapter of the Pyxis sales system.
 *
 *   sales.pyxis.order.created    -> integration.sales.order_received (one
 *                                   service per product line) and
 *                                   integration.sales.order.normalized
 *   sales.pyxis.order.updated    -> recorded; integration.sales.order.normalized
 *   sales.pyxis.order.cancelled  -> integration.sales.order_cancelled
 *   any of them, wrong           -> integration.sales.order.failed (code)
 *   fsm.order.status_updated     -> integration.pyxis.order.status_updated
 *   fsm.tv.outcome_recorded      -> integration.pyxis.order.tv_outcome_recorded
 *                                   (both on outbound_topic, and only for
 *                                   PYXIS orders this adapter received)
 *
 * The rules (validation, order table, dedupe, failures) are common/sales.h,
 * shared with tempo; this file is what is Pyxis's own: its field names and
 * its order's product lines.
 */
#include "sales.h"

#define PYXIS_VERSION "1.0.0"

/* products[]: product_id, quantity >= 1, service_type; one service each. */
static const char *products(const json_t *p, bool update, json_t *out,
                            bool *absent, char *msg, size_t msglen)
{
    const json_t *list = json_object_get(p, "products");
    if (update && (!list || json_is_null(list))) { /* absent: its default */
        *absent = true;
        return NULL;
    }
    if (json_array_size(list) == 0) {
        snprintf(msg, msglen, "products is empty");
        return SAL_NO_SERVICES;
    }
    size_t i;
    const json_t *prod;
    json_array_foreach(list, i, prod) {
        const char *code = NULL;
        char path[64];
        snprintf(path, sizeof path, "products[%zu].product_id", i);
        if (!sal_need(prod, "product_id", path, &code, msg, msglen))
            return code;
        snprintf(path, sizeof path, "products[%zu].service_type", i);
        const char *type = sal_need(prod, "service_type", path, &code, msg, msglen);
        if (!type)
            return code;
        json_int_t qty = json_integer_value(json_object_get(prod, "quantity"));
        if (qty < 1) {
            snprintf(msg, msglen, "products[%zu].quantity is %lld", i, (long long)qty);
            return SAL_INVALID_QUANTITY;
        }
        json_array_append_new(out, json_string(type));
    }
    return NULL;
}

static const sal_system pyxis = {
    .source_system = "PYXIS",
    .id_field = "pyxis_order_id",
    .table = "pyxis_order",
    .status_type = "integration.pyxis.order.status_updated",
    .tv_type = "integration.pyxis.order.tv_outcome_recorded",
    .default_topic = "integration.pyxis.outbound",
    .default_services = "INSTALLATION:INSTALLATION:TV,REPAIR:REPAIR,"
                        "MAINTENANCE:MAINTENANCE",
    .transformation_version = "pyxis-" PYXIS_VERSION,
    .services = products,
};

static const char *const migrations[] = {
    SAL_TABLE_SQL("pyxis_order"),
    NULL,
};

static sy_result on_created(sy_ctx *ctx, const sy_event *ev, void *state)
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
    return sal_init(&pyxis, self, api, state, err, errlen);
}

static const sy_subscription subs[] = {
    {"sales.pyxis.order.created", on_created},
    {"sales.pyxis.order.updated", on_updated},
    {"sales.pyxis.order.cancelled", on_cancelled},
    {"fsm.order.status_updated", on_status},
    {"fsm.tv.outcome_recorded", on_tv_outcome},
};

SY_PLUGIN_DESCRIPTOR(.name = "pyxis", .version = PYXIS_VERSION,
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = init, .fini = sal_fini);
