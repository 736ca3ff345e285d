/*
 * erp — tells the ERP that a provider can be paid.
 *
 *   projects.service_order.closed  -> integration.erp.payment_ready with the
 *                                     provider amount, once per service order
 *
 * "Once" does not rest on the inbox alone (which dedupes redeliveries of
 * one event): the payment row's primary key is the service order, so a
 * second, different closed event for the same order is acknowledged and
 * ignored, and nothing is paid twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"

static const char *const migrations[] = {
    "CREATE TABLE erp_payment ("
    " service_order_id text PRIMARY KEY,"
    " provider_id text NOT NULL,"
    " amount numeric(12,2) NOT NULL CHECK (amount >= 0),"
    " currency text NOT NULL,"
    " completion_date date NOT NULL,"
    " event_id text NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())",
    NULL,
};

static sy_result order_closed(const dom_call *c, json_t *p)
{
    const char *order = dom_id(p, "service_order_id");
    const char *provider = dom_id(p, "provider_id");
    const char *date = dom_str(p, "warranty_start_date");
    json_t *amount = json_object_get(p, "provider_amount");
    json_t *value = json_object_get(amount, "value");
    const char *currency = dom_str(amount, "currency");
    int y, m, d;
    char tail;
    if (!order || !provider || !json_is_number(value) || !currency || !date ||
        sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return dom_reject(c, "closed order without service_order_id, provider_id,"
                             " provider_amount or warranty_start_date");
    if (json_number_value(value) < 0)
        return dom_reject(c, "closed order %s with a negative provider amount", order);
    if (dom_bool(p, "wcf_accepted") != 1)
        return dom_reject(c, "closed order %s without an accepted WCF", order);

    char amount_txt[64];
    snprintf(amount_txt, sizeof amount_txt, "%.2f", json_number_value(value));
    const char *q[] = {order, provider, amount_txt, currency, date, c->ev->id};
    sy_rows *rows = NULL;
    if (dom_sql(c, "INSERT INTO erp_payment (service_order_id, provider_id, amount,"
                   " currency, completion_date, event_id)"
                   " VALUES ($1, $2, $3::numeric, $4, $5::date, $6)"
                   " ON CONFLICT (service_order_id) DO NOTHING RETURNING 1",
                6, q, &rows))
        return SY_RETRY;
    size_t inserted = c->p->api->rows_count(rows);
    c->p->api->rows_free(rows);
    if (!inserted) {
        c->p->api->log(c->p->self, c->ctx, SY_LOG_INFO,
                       "payment for %s already announced; ignored", order);
        c->p->api->metric_add(c->p->self, "duplicate_closed", 1);
        return SY_OK;
    }
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:{s:f, s:s}, s:s}", "service_order_id", order,
                           "provider_id", provider, "amount", "value",
                           json_number_value(value), "currency", currency,
                           "completion_date", date);
    return dom_emit(c, "integration.erp.payment_ready",
                    dom_key(key, provider, order), order, ev) ? SY_RETRY : SY_OK;
}

DOM_HANDLER(order_closed)

static const sy_subscription subs[] = {
    {"projects.service_order.closed", on_order_closed},
};

SY_PLUGIN_DESCRIPTOR(.name = "erp", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = dom_init,
                     .fini = dom_fini);
