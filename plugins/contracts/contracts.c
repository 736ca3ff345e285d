/*
 * contracts — the pre-service contract of a project and the work closing
 * form (WCF) of each service order, and their signatures.
 *
 *   projects.service_order.created         the project's contract
 *                                          (CTR-<project_id>) lists the order
 *   projects.service_order.status_changed  new_status COMPLETED: the order's
 *                                          WCF (WCF-<service_order_id>) awaits
 *                                          the customer's signature
 *   integration.esign.contract_signed      the e-signature provider's answer
 *                                          for a CONTRACT or a WCF:
 *                                          contracts.contract.signed or
 *                                          contracts.wcf.signed, which drive
 *                                          orchestration
 *
 * The WCF follows orchestration's COMPLETED rather than the raw check-out
 * report, so a check-out that orchestration refused (no check-in, wrong
 * team) never produces a form to sign.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"

#define TEXT_LEN 128

static const char *const migrations[] = {
    "CREATE TABLE ctr_contract ("
    " contract_id text PRIMARY KEY,"
    " project_id text NOT NULL UNIQUE,"
    " country_code text NOT NULL,"
    " status text NOT NULL," /* PENDING_SIGNATURE, SIGNED, REFUSED */
    " signed_at timestamptz,"
    " created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE ctr_contract_order ("
    " contract_id text NOT NULL REFERENCES ctr_contract,"
    " service_order_id text NOT NULL UNIQUE,"
    " PRIMARY KEY (contract_id, service_order_id));"
    "CREATE TABLE ctr_wcf ("
    " wcf_id text PRIMARY KEY,"
    " service_order_id text NOT NULL UNIQUE,"
    " execution_id text NOT NULL,"
    " status text NOT NULL," /* PENDING_SIGNATURE, ACCEPTED, CONTESTED */
    " signed_at timestamptz,"
    " event_id text NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())",
    NULL,
};

static void copy_col(char *dst, size_t len, const dom_call *c, sy_rows *rows,
                     size_t col)
{
    const char *v = c->p->api->rows_value(rows, 0, col);
    snprintf(dst, len, "%s", v ? v : "");
}

static sy_result order_created(const dom_call *c, json_t *p)
{
    const char *order = dom_id(p, "service_order_id");
    const char *project = dom_id(p, "project_id");
    const char *country = dom_id(p, "country_code");
    if (!order || !project || !country)
        return dom_reject(c, "service order without service_order_id, project_id"
                             " or country_code");
    char contract[TEXT_LEN + 8];
    snprintf(contract, sizeof contract, "CTR-%s", project);
    const char *q[] = {contract, project, country, order};
    sy_rows *rows = NULL;
    if (dom_sql(c, "INSERT INTO ctr_contract (contract_id, project_id, country_code,"
                   " status) VALUES ($1, $2, $3, 'PENDING_SIGNATURE')"
                   " ON CONFLICT DO NOTHING", 3, q, NULL) ||
        dom_sql(c, "INSERT INTO ctr_contract_order (contract_id, service_order_id)"
                   " VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                2, (const char *const[]){contract, order}, &rows))
        return SY_RETRY;
    size_t n = c->p->api->rows_count(rows);
    c->p->api->rows_free(rows);
    return n ? SY_OK : dom_reject(c, "service order %s was already created", order);
}

static sy_result status_changed(const dom_call *c, json_t *p)
{
    const char *order = dom_id(p, "service_order_id");
    const char *status = dom_str(p, "new_status");
    if (!order || !status)
        return dom_reject(c, "status change without service_order_id or new_status");
    if (strcmp(status, "COMPLETED") != 0)
        return SY_OK; /* only a completed visit needs a form */
    char wcf[TEXT_LEN + 8], exe[TEXT_LEN + 8];
    snprintf(wcf, sizeof wcf, "WCF-%s", order);
    snprintf(exe, sizeof exe, "EXE-%s", order);
    const char *q[] = {wcf, order, exe, c->ev->id};
    sy_rows *rows = NULL;
    /* A contested form is replaced by a new one after the next visit. */
    if (dom_sql(c, "INSERT INTO ctr_wcf AS w (wcf_id, service_order_id,"
                   " execution_id, status, event_id)"
                   " SELECT $1, $2, $3, 'PENDING_SIGNATURE', $4"
                   " WHERE EXISTS (SELECT 1 FROM ctr_contract_order"
                   "               WHERE service_order_id = $2)"
                   " ON CONFLICT (wcf_id) DO UPDATE SET status = 'PENDING_SIGNATURE',"
                   " signed_at = NULL, event_id = $4 WHERE w.status = 'CONTESTED'"
                   " RETURNING 1", 4, q, &rows))
        return SY_RETRY;
    size_t n = c->p->api->rows_count(rows);
    c->p->api->rows_free(rows);
    return n ? SY_OK
             : dom_reject(c, "no WCF for %s: unknown order or its WCF is already"
                             " pending or accepted", order);
}

static sy_result sign_wcf(const dom_call *c, const char *wcf, bool accepted,
                          json_int_t signed_at)
{
    const char *q[] = {wcf};
    sy_rows *rows = NULL;
    if (dom_sql(c, "SELECT w.status, w.service_order_id, w.execution_id, k.country_code"
                   " FROM ctr_wcf w JOIN ctr_contract_order o USING (service_order_id)"
                   " JOIN ctr_contract k USING (contract_id)"
                   " WHERE w.wcf_id = $1 FOR UPDATE OF w", 1, q, &rows))
        return SY_RETRY;
    char status[TEXT_LEN] = "", order[TEXT_LEN], exe[TEXT_LEN], country[TEXT_LEN];
    if (c->p->api->rows_count(rows) == 1) {
        copy_col(status, sizeof status, c, rows, 0);
        copy_col(order, sizeof order, c, rows, 1);
        copy_col(exe, sizeof exe, c, rows, 2);
        copy_col(country, sizeof country, c, rows, 3);
    }
    c->p->api->rows_free(rows);
    if (!status[0])
        return dom_reject(c, "unknown WCF %s", wcf);
    if (strcmp(status, "PENDING_SIGNATURE") != 0)
        return dom_reject(c, "WCF %s is %s, not awaiting a signature", wcf, status);
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)signed_at);
    const char *u[] = {wcf, accepted ? "ACCEPTED" : "CONTESTED", ms};
    if (dom_sql(c, "UPDATE ctr_wcf SET status = $2,"
                   " signed_at = to_timestamp($3::bigint / 1000.0)"
                   " WHERE wcf_id = $1", 3, u, NULL))
        return SY_RETRY;
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s, s:b, s:I}", "wcf_id", wcf,
                           "service_order_id", order, "execution_id", exe,
                           "customer_accepted", accepted, "signed_at", signed_at);
    return dom_emit(c, "contracts.wcf.signed", dom_key(key, country, order), wcf, ev)
               ? SY_RETRY : SY_OK;
}

static sy_result sign_contract(const dom_call *c, const char *contract,
                               bool accepted, json_int_t signed_at)
{
    const char *q[] = {contract};
    sy_rows *rows = NULL;
    if (dom_sql(c, "SELECT status, project_id, country_code FROM ctr_contract"
                   " WHERE contract_id = $1 FOR UPDATE", 1, q, &rows))
        return SY_RETRY;
    char status[TEXT_LEN] = "", project[TEXT_LEN], country[TEXT_LEN];
    if (c->p->api->rows_count(rows) == 1) {
        copy_col(status, sizeof status, c, rows, 0);
        copy_col(project, sizeof project, c, rows, 1);
        copy_col(country, sizeof country, c, rows, 2);
    }
    c->p->api->rows_free(rows);
    if (!status[0])
        return dom_reject(c, "unknown contract %s", contract);
    if (strcmp(status, "PENDING_SIGNATURE") != 0)
        return dom_reject(c, "contract %s is %s, not awaiting a signature", contract,
                          status);
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)signed_at);
    const char *u[] = {contract, accepted ? "SIGNED" : "REFUSED", ms};
    if (dom_sql(c, "UPDATE ctr_contract SET status = $2,"
                   " signed_at = to_timestamp($3::bigint / 1000.0)"
                   " WHERE contract_id = $1", 3, u, NULL) ||
        dom_sql(c, "SELECT service_order_id FROM ctr_contract_order"
                   " WHERE contract_id = $1 ORDER BY service_order_id", 1, q, &rows))
        return SY_RETRY;
    json_t *orders = json_array();
    for (size_t i = 0; i < c->p->api->rows_count(rows); i++)
        json_array_append_new(orders, json_string(c->p->api->rows_value(rows, i, 0)));
    c->p->api->rows_free(rows);
    if (!accepted) { /* nothing to announce: the catalog has no refusal event */
        json_decref(orders);
        return SY_OK;
    }
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:o, s:I}", "contract_id", contract,
                           "project_id", project, "service_order_ids", orders,
                           "signed_at", signed_at);
    return dom_emit(c, "contracts.contract.signed", dom_key(key, country, project),
                    contract, ev) ? SY_RETRY : SY_OK;
}

static sy_result esign(const dom_call *c, json_t *p)
{
    const char *type = dom_str(p, "document_type");
    const char *doc = dom_id(p, "document_id");
    int accepted = dom_bool(p, "customer_accepted");
    json_t *at = json_object_get(p, "signed_at");
    if (!type || !doc || accepted < 0 || !json_is_integer(at))
        return dom_reject(c, "signature without document_type, document_id,"
                             " customer_accepted or signed_at");
    if (strcmp(type, "WCF") == 0)
        return sign_wcf(c, doc, accepted, json_integer_value(at));
    if (strcmp(type, "CONTRACT") == 0)
        return sign_contract(c, doc, accepted, json_integer_value(at));
    return dom_reject(c, "document_type %s is not CONTRACT or WCF", type);
}

/* ---- plumbing ----------------------------------------------------------- */

DOM_HANDLER(order_created)
DOM_HANDLER(status_changed)
DOM_HANDLER(esign)

static const sy_subscription subs[] = {
    {"projects.service_order.created", on_order_created},
    {"projects.service_order.status_changed", on_status_changed},
    {"integration.esign.contract_signed", on_esign},
};

SY_PLUGIN_DESCRIPTOR(.name = "contracts", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = dom_init,
                     .fini = dom_fini);
