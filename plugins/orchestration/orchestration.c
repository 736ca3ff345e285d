/*
 * orchestration — projects and service orders, and the state machine that
 * every service order follows.
 *
 *   integration.sales.order_received  one project, one service order per
 *                                     service; a service that needs a
 *                                     confirmation technical visit (TV) gets a
 *                                     TV order and an installation order that
 *                                     is BLOCKED until the TV outcome
 *   projects.tv_outcome.recorded      YES: unblock; YES_BUT: unblock and send
 *                                     the modifications for repricing; NO:
 *                                     cancel the installation and tell the
 *                                     sales system (compensation)
 *   assignments.assignment.confirmed  -> ASSIGNED
 *   execution.checkin.completed       -> IN_PROGRESS
 *   execution.checkout.completed      -> COMPLETED, or back to ASSIGNED with
 *                                     an operator task when incomplete
 *   contracts.wcf.signed              accepted: -> CLOSED and
 *                                     projects.service_order.closed;
 *                                     contested: an operator task
 *   integration.sales.order_cancelled the sales system cancelled: every
 *                                     order of the project not yet started
 *                                     -> CANCELLED (announced, and the
 *                                     sales system told); one already
 *                                     started gets an operator task
 *   assignments.date_negotiation.failed  an operator task
 *   contracts.contract.signed         recorded on the project (no order waits
 *                                     for it: the contract does not block)
 *
 * Every status change goes through transition(), which looks the order's
 * status and what happened up in the table `machine`; a pair the table does
 * not list is an impossible transition: the event is rejected (it goes to
 * the dead-letter queue) and nothing is applied.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"

typedef enum status {
    ST_BLOCKED,
    ST_READY,
    ST_ASSIGNED,
    ST_IN_PROGRESS,
    ST_COMPLETED,
    ST_CLOSED,
    ST_CANCELLED,
    ST_COUNT
} status;

static const char *const status_name[ST_COUNT] = {
    [ST_BLOCKED] = "BLOCKED",         [ST_READY] = "READY_FOR_ASSIGNMENT",
    [ST_ASSIGNED] = "ASSIGNED",       [ST_IN_PROGRESS] = "IN_PROGRESS",
    [ST_COMPLETED] = "COMPLETED",     [ST_CLOSED] = "CLOSED",
    [ST_CANCELLED] = "CANCELLED",
};

/* What the sales system is told (fsm.order.status_updated's OrderStatus,
 * CLOSED since its v2); NULL: a status of ours it does not track.  Its
 * SCHEDULED has no status of ours: an order is scheduled when it is
 * assigned, and the ASSIGNED update carries the scheduled_date. */
static const char *const sales_status[ST_COUNT] = {
    [ST_ASSIGNED] = "ASSIGNED",       [ST_IN_PROGRESS] = "IN_PROGRESS",
    [ST_COMPLETED] = "COMPLETED",     [ST_CLOSED] = "CLOSED",
    [ST_CANCELLED] = "CANCELLED",
};

/* What happens to an order. */
typedef enum trigger {
    TR_TV_GO,         /* its TV said YES or YES_BUT */
    TR_TV_NO,         /* its TV said NO */
    TR_ASSIGN,        /* assignments.assignment.confirmed */
    TR_CHECK_IN,      /* execution.checkin.completed */
    TR_DONE,          /* execution.checkout.completed, completed */
    TR_INCOMPLETE,    /* execution.checkout.completed, not completed */
    TR_WCF_ACCEPTED,  /* contracts.wcf.signed, accepted */
    TR_SALES_CANCEL,  /* integration.sales.order_cancelled */
    TR_COUNT
} trigger;

static const char *const trigger_name[TR_COUNT] = {
    [TR_TV_GO] = "TV outcome YES", [TR_TV_NO] = "TV outcome NO",
    [TR_ASSIGN] = "assignment",    [TR_CHECK_IN] = "check-in",
    [TR_DONE] = "check-out",       [TR_INCOMPLETE] = "incomplete check-out",
    [TR_WCF_ACCEPTED] = "accepted WCF", [TR_SALES_CANCEL] = "sales cancellation",
};

/* The state machine: the only status changes there are.  Anything else is
 * an impossible transition, rejected without effect. */
static const struct {
    status from;
    trigger on;
    status to;
} machine[] = {
    {ST_BLOCKED, TR_TV_GO, ST_READY},
    {ST_BLOCKED, TR_TV_NO, ST_CANCELLED},
    {ST_READY, TR_ASSIGN, ST_ASSIGNED},
    {ST_ASSIGNED, TR_CHECK_IN, ST_IN_PROGRESS},
    {ST_IN_PROGRESS, TR_DONE, ST_COMPLETED},
    {ST_IN_PROGRESS, TR_INCOMPLETE, ST_ASSIGNED}, /* the team comes back */
    {ST_COMPLETED, TR_WCF_ACCEPTED, ST_CLOSED},
    /* The sales system may cancel until a team is on site. */
    {ST_BLOCKED, TR_SALES_CANCEL, ST_CANCELLED},
    {ST_READY, TR_SALES_CANCEL, ST_CANCELLED},
    {ST_ASSIGNED, TR_SALES_CANCEL, ST_CANCELLED},
};

#define MAX_PRICES 32
#define TEXT_LEN 128

typedef struct price {
    char service_type[64];
    double customer, provider;
} price;

typedef struct orch {
    dom_plugin dom;
    const char *bu_code, *tv_service_type, *currency, *source_system;
    int duration_min;
    price prices[MAX_PRICES];
    size_t n_prices;
} orch;

/* One service order row, as loaded (and locked) by load_order(). */
typedef struct order {
    char id[TEXT_LEN], project_id[TEXT_LEN], sales_order_id[TEXT_LEN];
    char country[TEXT_LEN], status[TEXT_LEN], depends_on[TEXT_LEN];
    char provider[TEXT_LEN], team[TEXT_LEN], tv_outcome[TEXT_LEN];
    char currency[TEXT_LEN], scheduled[TEXT_LEN];
    char source[TEXT_LEN]; /* the sales system the order came from, or "" */
    double customer_amount, provider_amount;
    bool is_tv;
} order;

static const char *const migrations[] = {
    "CREATE TABLE orch_project ("
    " project_id text PRIMARY KEY,"
    " sales_order_id text NOT NULL UNIQUE,"
    " customer_id text NOT NULL,"
    " country_code text NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE orch_service_order ("
    " service_order_id text PRIMARY KEY,"
    " project_id text NOT NULL REFERENCES orch_project,"
    " country_code text NOT NULL,"
    " service_type text NOT NULL,"
    " is_tv boolean NOT NULL,"
    " depends_on_order_id text REFERENCES orch_service_order,"
    " status text NOT NULL,"
    " provider_id text,"
    " team_id text,"
    " tv_outcome text,"
    " customer_amount numeric(12,2) NOT NULL,"
    " provider_amount numeric(12,2) NOT NULL,"
    " currency text NOT NULL,"
    " updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX orch_service_order_depends ON orch_service_order (depends_on_order_id);"
    "CREATE TABLE orch_status_history ("
    " id bigserial PRIMARY KEY,"
    " service_order_id text NOT NULL REFERENCES orch_service_order,"
    " old_status text,"
    " new_status text NOT NULL,"
    " changed_by text,"
    " reason text,"
    " event_id text NOT NULL,"
    " changed_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE orch_task ("
    " task_id text PRIMARY KEY,"
    " task_type text NOT NULL,"
    " service_order_id text,"
    " event_id text NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())",
    /* Version 2: the date the sales system is told. */
    "ALTER TABLE orch_service_order ADD COLUMN scheduled_date date",
    /* Version 3: when the customer signed the project's contract. */
    "ALTER TABLE orch_project ADD COLUMN contract_signed_at timestamptz",
    /* Version 4: the sales system the order came from (order_received v2),
     * where its status and TV outcome go back to. */
    "ALTER TABLE orch_project ADD COLUMN source_system text",
    NULL,
};

static status status_of(const char *name)
{
    for (int s = 0; s < ST_COUNT; s++)
        if (strcmp(status_name[s], name) == 0)
            return (status)s;
    return ST_COUNT;
}

static void copy_col(char *dst, size_t len, const dom_call *c, sy_rows *rows,
                     size_t col)
{
    const char *v = c->p->api->rows_value(rows, 0, col);
    snprintf(dst, len, "%s", v ? v : "");
}

/* Load and lock service order `id`: 1 found, 0 not found, -1 error. */
static int load_order(const dom_call *c, const char *id, order *o)
{
    const char *p[] = {id};
    sy_rows *rows = NULL;
    if (dom_sql(c,
                "SELECT so.service_order_id, so.project_id, pr.sales_order_id,"
                " so.country_code, so.status, so.depends_on_order_id,"
                " so.provider_id, so.team_id, so.tv_outcome, so.currency,"
                " so.customer_amount, so.provider_amount, so.is_tv,"
                " so.scheduled_date::text, pr.source_system"
                " FROM orch_service_order so JOIN orch_project pr USING (project_id)"
                " WHERE so.service_order_id = $1 FOR UPDATE OF so",
                1, p, &rows))
        return -1;
    int found = c->p->api->rows_count(rows) == 1;
    if (found) {
        copy_col(o->id, sizeof o->id, c, rows, 0);
        copy_col(o->project_id, sizeof o->project_id, c, rows, 1);
        copy_col(o->sales_order_id, sizeof o->sales_order_id, c, rows, 2);
        copy_col(o->country, sizeof o->country, c, rows, 3);
        copy_col(o->status, sizeof o->status, c, rows, 4);
        copy_col(o->depends_on, sizeof o->depends_on, c, rows, 5);
        copy_col(o->provider, sizeof o->provider, c, rows, 6);
        copy_col(o->team, sizeof o->team, c, rows, 7);
        copy_col(o->tv_outcome, sizeof o->tv_outcome, c, rows, 8);
        copy_col(o->currency, sizeof o->currency, c, rows, 9);
        o->customer_amount = strtod(c->p->api->rows_value(rows, 0, 10), NULL);
        o->provider_amount = strtod(c->p->api->rows_value(rows, 0, 11), NULL);
        o->is_tv = strcmp(c->p->api->rows_value(rows, 0, 12), "t") == 0;
        copy_col(o->scheduled, sizeof o->scheduled, c, rows, 13);
        copy_col(o->source, sizeof o->source, c, rows, 14);
    }
    c->p->api->rows_free(rows);
    return found;
}

/* Load order `id` or say why not: SY_OK, SY_REJECT (unknown), SY_RETRY. */
static sy_result must_load(const dom_call *c, const char *id, order *o)
{
    int found = load_order(c, id, o);
    if (found < 0)
        return SY_RETRY;
    return found ? SY_OK : dom_reject(c, "unknown service order %s", id);
}

/* The sales system order `o` came from: recorded with its project, else
 * (projects older than migration 4) the source_system setting. */
static const char *source_of(const orch *st, const order *o)
{
    return o->source[0] ? o->source : st->source_system;
}

/* fsm.order.status_updated: the sales system follows its order. */
static sy_result tell_sales_status(const dom_call *c, const orch *st,
                                   const order *o, const char *what)
{
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "source_system",
                           source_of(st, o), "external_order_id",
                           o->sales_order_id, "fsm_service_order_id", o->id,
                           "status", what, "scheduled_date",
                           o->scheduled[0] ? o->scheduled : NULL, "provider_name",
                           o->provider[0] ? o->provider : NULL);
    return dom_emit(c, "fsm.order.status_updated",
                    dom_key(key, source_of(st, o), o->sales_order_id), o->id, ev)
               ? SY_RETRY : SY_OK;
}

/* Where `on` takes an order that is `from`: ST_COUNT when `machine` does
 * not list the pair (an impossible transition). */
static status next_status(status from, trigger on)
{
    for (size_t i = 0; i < SY_COUNT(machine); i++)
        if (machine[i].from == from && machine[i].on == on)
            return machine[i].to;
    return ST_COUNT;
}

/* The one way a status changes: looked up in `machine`, recorded in the
 * history and announced as projects.service_order.status_changed (and to
 * the sales system when it tracks the new status). */
static sy_result transition(const dom_call *c, const orch *st, order *o,
                            trigger on, const char *changed_by,
                            const char *reason)
{
    status to = next_status(status_of(o->status), on);
    if (to == ST_COUNT)
        return dom_reject(c, "impossible transition: %s on service order %s,"
                             " which is %s", trigger_name[on], o->id, o->status);
    const char *p[] = {o->id, status_name[to], o->status, changed_by, reason,
                       c->ev->id};
    if (dom_sql(c, "UPDATE orch_service_order SET status = $2, updated_at = now()"
                   " WHERE service_order_id = $1", 2, p, NULL) ||
        dom_sql(c, "INSERT INTO orch_status_history (service_order_id,"
                   " old_status, new_status, changed_by, reason, event_id)"
                   " VALUES ($1, $3, $2, $4, $5, $6)", 6, p, NULL))
        return SY_RETRY;
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "service_order_id", o->id,
                           "old_status", o->status, "new_status", status_name[to],
                           "changed_by", changed_by, "reason", reason);
    if (dom_emit(c, "projects.service_order.status_changed",
                 dom_key(key, o->country, o->id), o->id, ev))
        return SY_RETRY;
    snprintf(o->status, sizeof o->status, "%s", status_name[to]);
    return sales_status[to] ? tell_sales_status(c, st, o, sales_status[to]) : SY_OK;
}

/* An operator task (projects.task.created). */
static sy_result create_task(const dom_call *c, const char *type,
                             const order *o, const char *priority)
{
    char task_id[DOM_ID_LEN + 4] = "TSK-";
    dom_event_id(c->ev->id, type, o->id, task_id + 4);
    const char *p[] = {task_id, type, o->id, c->ev->id};
    if (dom_sql(c, "INSERT INTO orch_task (task_id, task_type, service_order_id,"
                   " event_id) VALUES ($1, $2, $3, $4)", 4, p, NULL))
        return SY_RETRY;
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:n}", "task_id", task_id,
                           "task_type", type, "service_order_id", o->id,
                           "priority", priority, "assigned_to");
    return dom_emit(c, "projects.task.created", dom_key(key, o->country, task_id),
                    task_id, ev) ? SY_RETRY : SY_OK;
}

/* ---- integration.sales.order_received ----------------------------------- */

static const price *price_of(const orch *st, const char *service_type)
{
    for (size_t i = 0; i < st->n_prices; i++)
        if (strcmp(st->prices[i].service_type, service_type) == 0)
            return &st->prices[i];
    return NULL;
}

/* Insert one service order and announce it. */
static sy_result create_order(const dom_call *c, const orch *st,
                              const char *sales_id, const char *source,
                              const char *project_id,
                              const char *country,
                              const char *id, const char *service_type,
                              bool is_tv, bool requires_tv,
                              const char *depends_on)
{
    const price *pr = price_of(st, service_type);
    if (!pr)
        c->p->api->log(c->p->self, c->ctx, SY_LOG_WARN,
                       "no price for service type %s: amounts are 0",
                       service_type);
    char cust[32], prov[32];
    snprintf(cust, sizeof cust, "%.2f", pr ? pr->customer : 0.0);
    snprintf(prov, sizeof prov, "%.2f", pr ? pr->provider : 0.0);
    const char *initial = status_name[depends_on ? ST_BLOCKED : ST_READY];
    const char *p[] = {id,   project_id, country, service_type,
                       is_tv ? "t" : "f", depends_on, initial,
                       cust, prov,       st->currency};
    const char *h[] = {id, initial, c->ev->id};
    if (dom_sql(c, "INSERT INTO orch_service_order (service_order_id, project_id,"
                   " country_code, service_type, is_tv, depends_on_order_id,"
                   " status, customer_amount, provider_amount, currency)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                10, p, NULL) ||
        dom_sql(c, "INSERT INTO orch_status_history (service_order_id,"
                   " new_status, reason, event_id)"
                   " VALUES ($1, $2, 'created', $3)", 3, h, NULL))
        return SY_RETRY;
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:s?}", "service_order_id", id,
        "project_id", project_id, "service_type", service_type, "country_code",
        country, "bu_code", st->bu_code, "estimated_duration_min", st->duration_min,
        "requires_confirmation_tv", requires_tv, "depends_on_order_id", depends_on);
    if (dom_emit(c, "projects.service_order.created", dom_key(key, country, id),
                 id, ev))
        return SY_RETRY;
    order o = {0};
    snprintf(o.id, sizeof o.id, "%s", id);
    snprintf(o.sales_order_id, sizeof o.sales_order_id, "%s", sales_id);
    snprintf(o.source, sizeof o.source, "%s", source);
    return tell_sales_status(c, st, &o, "CREATED");
}

static sy_result sales_order(const dom_call *c, const orch *st, json_t *p)
{
    const char *sales_id = dom_id(p, "sales_order_id");
    const char *customer = dom_id(p, "customer_id");
    const char *country = dom_id(p, "country_code");
    json_t *services = json_object_get(p, "services");
    /* v2 names the sales system (the schema checked the symbol). */
    const char *source = dom_str(p, "source_system");
    if (!source)
        source = st->source_system;
    if (!sales_id || !customer || !country)
        return dom_reject(c, "sales order without sales_order_id, customer_id"
                             " or country_code");
    if (!json_is_array(services) || json_array_size(services) == 0)
        return dom_reject(c, "sales order %s has no services", sales_id);
    size_t i;
    json_t *s;
    json_array_foreach(services, i, s) {
        if (!dom_str(s, "service_type") ||
            dom_bool(s, "requires_confirmation_tv") < 0)
            return dom_reject(c, "sales order %s: service %zu lacks service_type"
                                 " or requires_confirmation_tv", sales_id, i);
    }

    char project_id[TEXT_LEN];
    snprintf(project_id, sizeof project_id, "PRJ-%s", sales_id);
    const char *pp[] = {project_id, sales_id, customer, country, source};
    sy_rows *rows = NULL;
    if (dom_sql(c, "INSERT INTO orch_project (project_id, sales_order_id,"
                   " customer_id, country_code, source_system)"
                   " VALUES ($1, $2, $3, $4, $5)"
                   " ON CONFLICT DO NOTHING RETURNING project_id", 5, pp, &rows))
        return SY_RETRY;
    size_t inserted = c->p->api->rows_count(rows);
    c->p->api->rows_free(rows);
    if (inserted != 1)
        return dom_reject(c, "sales order %s was already received", sales_id);

    json_array_foreach(services, i, s) {
        const char *type = dom_str(s, "service_type");
        char id[TEXT_LEN], tv_id[TEXT_LEN + 3];
        snprintf(id, sizeof id, "SO-%s-%zu", sales_id, i + 1);
        sy_result r;
        if (dom_bool(s, "requires_confirmation_tv") == 1) {
            snprintf(tv_id, sizeof tv_id, "%s-TV", id);
            r = create_order(c, st, sales_id, source, project_id, country, tv_id,
                             st->tv_service_type, true, false, NULL);
            if (r == SY_OK)
                r = create_order(c, st, sales_id, source, project_id, country, id,
                                 type, false, true, tv_id);
        } else {
            r = create_order(c, st, sales_id, source, project_id, country, id,
                             type, false, false, NULL);
        }
        if (r != SY_OK)
            return r;
    }
    return SY_OK;
}

/* ---- assignment, check-in, check-out ------------------------------------ */

static sy_result assignment_confirmed(const dom_call *c, const orch *st, json_t *p)
{
    const char *id = dom_id(p, "service_order_id");
    const char *provider = dom_id(p, "provider_id");
    const char *team = dom_id(p, "team_id");
    const char *date = dom_str(p, "confirmed_date");
    int y, m, d;
    char tail;
    if (!id || !provider || !team || !date ||
        sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return dom_reject(c, "assignment without service_order_id, provider_id,"
                             " team_id or confirmed_date");
    order o;
    sy_result r = must_load(c, id, &o);
    if (r != SY_OK)
        return r;
    const char *q[] = {id, provider, team, date};
    if (dom_sql(c, "UPDATE orch_service_order SET provider_id = $2, team_id = $3,"
                   " scheduled_date = $4::date WHERE service_order_id = $1",
                4, q, NULL))
        return SY_RETRY;
    snprintf(o.provider, sizeof o.provider, "%s", provider);
    snprintf(o.team, sizeof o.team, "%s", team);
    snprintf(o.scheduled, sizeof o.scheduled, "%s", date);
    /* An impossible transition rejects the event: the UPDATE above rolls
     * back with it. */
    return transition(c, st, &o, TR_ASSIGN, provider, NULL);
}

static sy_result checkin(const dom_call *c, const orch *st, json_t *p)
{
    const char *id = dom_id(p, "service_order_id");
    const char *team = dom_id(p, "team_id");
    if (!id || !team)
        return dom_reject(c, "check-in without service_order_id or team_id");
    order o;
    sy_result r = must_load(c, id, &o);
    if (r != SY_OK)
        return r;
    if (o.team[0] && strcmp(o.team, team) != 0)
        return dom_reject(c, "check-in on %s by team %s, but it is assigned to %s",
                          id, team, o.team);
    return transition(c, st, &o, TR_CHECK_IN, team, NULL);
}

static sy_result checkout(const dom_call *c, const orch *st, json_t *p)
{
    const char *id = dom_id(p, "service_order_id");
    const char *team = dom_id(p, "team_id");
    int completed = dom_bool(p, "completed");
    if (!id || !team || completed < 0)
        return dom_reject(c, "check-out without service_order_id, team_id or"
                             " completed");
    order o;
    sy_result r = must_load(c, id, &o);
    if (r != SY_OK)
        return r;
    if (o.team[0] && strcmp(o.team, team) != 0)
        return dom_reject(c, "check-out on %s by team %s, but it is assigned to %s",
                          id, team, o.team);
    if (completed)
        return transition(c, st, &o, TR_DONE, team, NULL);
    const char *why = dom_str(p, "incompletion_reason");
    r = transition(c, st, &o, TR_INCOMPLETE, team, why ? why : "work incomplete");
    return r == SY_OK ? create_task(c, "INCOMPLETE_WORK", &o, "HIGH") : r;
}

/* projects.service_order.cancelled, once `o` is CANCELLED. */
static sy_result announce_cancelled(const dom_call *c, const order *o,
                                    const char *why)
{
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s}", "service_order_id", o->id,
                           "project_id", o->project_id, "reason", why);
    return dom_emit(c, "projects.service_order.cancelled",
                    dom_key(key, o->country, o->id), o->id, ev) ? SY_RETRY : SY_OK;
}

/* ---- the TV outcome ----------------------------------------------------- */

/* fsm.tv.outcome_recorded: the sales system learns the outcome (and reprices
 * the modifications, or cancels and refunds). */
static sy_result tell_sales(const dom_call *c, const orch *st, const order *inst,
                            const char *outcome, json_t *modifications,
                            const char *cancellation_reason)
{
    json_t *mods = json_null();
    if (modifications) {
        mods = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(modifications, i, m)
            json_array_append_new(mods, json_pack("{s:s, s:b}", "description",
                                                  dom_str(m, "description"),
                                                  "requires_repricing", 1));
    }
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s, s:o, s:s?}", "source_system",
                           source_of(st, inst), "external_order_id",
                           inst->sales_order_id, "tv_outcome", outcome,
                           "modifications", mods, "cancellation_reason",
                           cancellation_reason);
    return dom_emit(c, "fsm.tv.outcome_recorded",
                    dom_key(key, source_of(st, inst), inst->sales_order_id),
                    inst->id, ev) ? SY_RETRY : SY_OK;
}

static sy_result tv_outcome(const dom_call *c, const orch *st, json_t *p)
{
    const char *tv_id = dom_id(p, "tv_service_order_id");
    const char *linked = dom_id(p, "linked_installation_order_id");
    const char *outcome = dom_str(p, "outcome");
    const char *by = dom_id(p, "recorded_by");
    json_t *mods = json_object_get(p, "modifications");
    if (!tv_id || !outcome || !by)
        return dom_reject(c, "TV outcome without tv_service_order_id, outcome or"
                             " recorded_by");
    bool yes = strcmp(outcome, "YES") == 0, yes_but = strcmp(outcome, "YES_BUT") == 0;
    if (!yes && !yes_but && strcmp(outcome, "NO") != 0)
        return dom_reject(c, "TV outcome %s is not YES, YES_BUT or NO", outcome);
    if (yes_but && (!json_is_array(mods) || json_array_size(mods) == 0))
        return dom_reject(c, "TV outcome YES_BUT on %s without modifications", tv_id);
    size_t i;
    json_t *m;
    if (yes_but) {
        json_array_foreach(mods, i, m) {
            if (!dom_str(m, "description"))
                return dom_reject(c, "TV outcome on %s: modification %zu has no"
                                     " description", tv_id, i);
        }
    }

    order tv, inst;
    sy_result r = must_load(c, tv_id, &tv);
    if (r != SY_OK)
        return r;
    if (!tv.is_tv)
        return dom_reject(c, "%s is not a technical visit order", tv_id);
    if (tv.tv_outcome[0])
        return dom_reject(c, "TV %s already has outcome %s", tv_id, tv.tv_outcome);
    status s = status_of(tv.status);
    if (s != ST_IN_PROGRESS && s != ST_COMPLETED && s != ST_CLOSED)
        return dom_reject(c, "TV %s is %s: no visit took place", tv_id, tv.status);

    const char *q[] = {tv_id, outcome};
    sy_rows *rows = NULL;
    if (dom_sql(c, "UPDATE orch_service_order SET tv_outcome = $2"
                   " WHERE service_order_id = $1", 2, q, NULL) ||
        dom_sql(c, "SELECT service_order_id FROM orch_service_order"
                   " WHERE depends_on_order_id = $1", 1, q, &rows))
        return SY_RETRY;
    char inst_id[TEXT_LEN] = "";
    if (c->p->api->rows_count(rows) == 1)
        copy_col(inst_id, sizeof inst_id, c, rows, 0);
    c->p->api->rows_free(rows);
    if (!inst_id[0])
        return dom_reject(c, "TV %s blocks no installation order", tv_id);
    if (linked && strcmp(linked, inst_id) != 0)
        return dom_reject(c, "TV %s blocks %s, not %s", tv_id, inst_id, linked);
    if ((r = must_load(c, inst_id, &inst)) != SY_OK)
        return r;

    char key[DOM_KEY_LEN], reason[64];
    snprintf(reason, sizeof reason, "TV outcome %s", outcome);
    if (!yes && !yes_but) {
        /* Compensation: cancel, and tell the sales system to refund. */
        const char *why = "confirmation technical visit outcome NO";
        if ((r = transition(c, st, &inst, TR_TV_NO, by, reason)) != SY_OK ||
            (r = announce_cancelled(c, &inst, why)) != SY_OK)
            return r;
        return tell_sales(c, st, &inst, outcome, NULL, why);
    }
    if ((r = transition(c, st, &inst, TR_TV_GO, by, reason)) != SY_OK)
        return r;
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "service_order_id", inst.id,
                           "project_id", inst.project_id, "country_code",
                           inst.country, "tv_service_order_id", tv_id);
    if (dom_emit(c, "projects.service_order.unblocked",
                 dom_key(key, inst.country, inst.id), inst.id, ev))
        return SY_RETRY;
    return tell_sales(c, st, &inst, outcome, yes_but ? mods : NULL, NULL);
}

/* ---- closing ------------------------------------------------------------ */

static sy_result wcf_signed(const dom_call *c, const orch *st, json_t *p)
{
    const char *id = dom_id(p, "service_order_id");
    int accepted = dom_bool(p, "customer_accepted");
    json_t *signed_at = json_object_get(p, "signed_at");
    if (!id || accepted < 0 || !json_is_integer(signed_at))
        return dom_reject(c, "WCF signature without service_order_id,"
                             " customer_accepted or signed_at");
    order o;
    sy_result r = must_load(c, id, &o);
    if (r != SY_OK)
        return r;
    if (!accepted) {
        status s = status_of(o.status);
        if (s != ST_COMPLETED)
            return dom_reject(c, "WCF contested on %s, which is %s", id, o.status);
        return create_task(c, "WCF_CONTESTED", &o, "HIGH");
    }
    if ((r = transition(c, st, &o, TR_WCF_ACCEPTED, "customer", "WCF accepted")) != SY_OK)
        return r;
    char key[DOM_KEY_LEN], warranty[DOM_DATE_LEN];
    dom_date((int64_t)json_integer_value(signed_at), warranty);
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:f, s:s}, s:{s:f, s:s}, s:b, s:s}",
        "service_order_id", o.id, "project_id", o.project_id, "provider_id",
        o.provider, "team_id", o.team, "customer_amount", "value",
        o.customer_amount, "currency", o.currency, "provider_amount", "value",
        o.provider_amount, "currency", o.currency, "wcf_accepted", 1,
        "warranty_start_date", warranty);
    return dom_emit(c, "projects.service_order.closed",
                    dom_key(key, o.country, o.id), o.id, ev) ? SY_RETRY : SY_OK;
}

/* ---- the sales system cancels -------------------------------------------- */

/* Every service order of the sales order, in id order: one not yet
 * started (BLOCKED, READY_FOR_ASSIGNMENT, ASSIGNED) is CANCELLED through
 * the machine, announced, and the sales system is told (the status update
 * CANCELLED, as for a TV outcome NO).  For one already started
 * (IN_PROGRESS, COMPLETED) the machine has no cancellation: it is left as
 * it is and an operator task SALES_CANCELLED_AFTER_START says that a team
 * was on site for an order the customer no longer wants.  One already
 * CLOSED or CANCELLED is final and stays so.  The event itself is
 * accepted: the cancellation is applied wherever the machine allows it.
 * An unknown sales order, or one another sales system sent, is rejected
 * (a cancellation that overtook its order_received can be replayed from
 * the dead-letter queue). */
static sy_result sales_cancelled(const dom_call *c, const orch *st, json_t *p)
{
    const char *sales_id = dom_id(p, "sales_order_id");
    const char *source = dom_str(p, "source_system");
    const char *reason = dom_str(p, "cancellation_reason");
    if (!sales_id || !source)
        return dom_reject(c, "sales cancellation without sales_order_id or"
                             " source_system");
    const char *why = reason ? reason : "cancelled by the sales system";
    const char *q[] = {sales_id};
    sy_rows *rows = NULL;
    if (dom_sql(c, "SELECT so.service_order_id FROM orch_service_order so"
                   " JOIN orch_project pr USING (project_id)"
                   " WHERE pr.sales_order_id = $1 ORDER BY so.service_order_id",
                1, q, &rows))
        return SY_RETRY;
    size_t n = c->p->api->rows_count(rows);
    sy_result r = n ? SY_OK
                    : dom_reject(c, "cancellation of unknown sales order %s", sales_id);
    for (size_t i = 0; i < n && r == SY_OK; i++) {
        order o;
        r = must_load(c, c->p->api->rows_value(rows, i, 0), &o);
        if (r != SY_OK)
            break;
        if (strcmp(source_of(st, &o), source) != 0) {
            r = dom_reject(c, "cancellation of sales order %s by %s, which came"
                              " from %s", sales_id, source, source_of(st, &o));
            break;
        }
        status s = status_of(o.status);
        if (next_status(s, TR_SALES_CANCEL) != ST_COUNT) {
            r = transition(c, st, &o, TR_SALES_CANCEL, source, why);
            if (r == SY_OK)
                r = announce_cancelled(c, &o, why);
        } else if (s == ST_IN_PROGRESS || s == ST_COMPLETED) {
            r = create_task(c, "SALES_CANCELLED_AFTER_START", &o, "HIGH");
        }
    }
    c->p->api->rows_free(rows);
    return r;
}

static sy_result negotiation_failed(const dom_call *c, const orch *st, json_t *p)
{
    (void)st;
    const char *id = dom_id(p, "service_order_id");
    if (!id)
        return dom_reject(c, "date negotiation failure without service_order_id");
    order o;
    sy_result r = must_load(c, id, &o);
    return r == SY_OK ? create_task(c, "DATE_NEGOTIATION_FAILED", &o, "MEDIUM") : r;
}

static sy_result contract_signed(const dom_call *c, const orch *st, json_t *p)
{
    (void)st;
    const char *project = dom_id(p, "project_id");
    json_t *at = json_object_get(p, "signed_at");
    if (!project || !json_is_integer(at))
        return dom_reject(c, "contract signature without project_id or signed_at");
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)json_integer_value(at));
    const char *q[] = {project, ms};
    sy_rows *rows = NULL;
    if (dom_sql(c, "UPDATE orch_project SET contract_signed_at ="
                   " to_timestamp($2::bigint / 1000.0) WHERE project_id = $1"
                   " AND contract_signed_at IS NULL RETURNING 1", 2, q, &rows))
        return SY_RETRY;
    size_t n = c->p->api->rows_count(rows);
    c->p->api->rows_free(rows);
    return n ? SY_OK
             : dom_reject(c, "contract of project %s: unknown project or already"
                             " signed", project);
}

/* ---- plumbing ----------------------------------------------------------- */

DOM_HANDLER_ST(orch, sales_order)
DOM_HANDLER_ST(orch, assignment_confirmed)
DOM_HANDLER_ST(orch, checkin)
DOM_HANDLER_ST(orch, checkout)
DOM_HANDLER_ST(orch, tv_outcome)
DOM_HANDLER_ST(orch, wcf_signed)
DOM_HANDLER_ST(orch, negotiation_failed)
DOM_HANDLER_ST(orch, contract_signed)
DOM_HANDLER_ST(orch, sales_cancelled)

static const char *setting(const orch *st, const char *key, const char *def)
{
    const char *v = st->dom.api->config_get(st->dom.self, key);
    return v && *v ? v : def;
}

/* prices = TYPE:CUSTOMER:PROVIDER,... */
static int parse_prices(orch *st, const char *list, char *err, size_t errlen)
{
    while (list && *list) {
        size_t n = strcspn(list, ",");
        char item[128];
        if (n >= sizeof item || st->n_prices == MAX_PRICES) {
            snprintf(err, errlen, "prices: too long (at most %d entries)", MAX_PRICES);
            return -1;
        }
        memcpy(item, list, n);
        item[n] = '\0';
        price *pr = &st->prices[st->n_prices];
        char *end;
        char *c1 = strchr(item, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c1 || !c2 || c1 == item || (size_t)(c1 - item) >= sizeof pr->service_type)
            goto bad;
        *c1 = *c2 = '\0';
        memcpy(pr->service_type, item, (size_t)(c1 - item) + 1);
        pr->customer = strtod(c1 + 1, &end);
        if (end == c1 + 1 || *end || pr->customer < 0)
            goto bad;
        pr->provider = strtod(c2 + 1, &end);
        if (end == c2 + 1 || *end || pr->provider < 0)
            goto bad;
        st->n_prices++;
        list += n + (list[n] == ',');
        continue;
    bad:
        snprintf(err, errlen, "prices: bad entry \"%.*s\" (want TYPE:CUSTOMER:PROVIDER)",
                 (int)n, list);
        return -1;
    }
    return 0;
}

static int init(sy_plugin *self, const sy_host_api *api, void **state,
                char *err, size_t errlen)
{
    orch *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->dom = (dom_plugin){api, self};
    st->bu_code = setting(st, "bu_code", "DEFAULT");
    st->tv_service_type = setting(st, "tv_service_type", "CONFIRMATION_TV");
    st->currency = setting(st, "currency", "EUR");
    st->source_system = setting(st, "source_system", "PYXIS");
    char *end;
    const char *d = setting(st, "estimated_duration_min", "120");
    long dur = strtol(d, &end, 10);
    if (*end || dur <= 0 || dur > 100000) {
        snprintf(err, errlen, "estimated_duration_min: %s is not a duration", d);
        free(st);
        return -1;
    }
    st->duration_min = (int)dur;
    const char *ss = st->source_system;
    if (strcmp(ss, "PYXIS") && strcmp(ss, "TEMPO") && strcmp(ss, "SAP") &&
        strcmp(ss, "CUSTOM")) {
        snprintf(err, errlen, "source_system: %s is not PYXIS, TEMPO, SAP or CUSTOM", ss);
        free(st);
        return -1;
    }
    if (parse_prices(st, setting(st, "prices", NULL), err, errlen)) {
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void fini(void *state) { free(state); }

static const sy_subscription subs[] = {
    {"integration.sales.order_received", on_sales_order},
    {"assignments.assignment.confirmed", on_assignment_confirmed},
    {"execution.checkin.completed", on_checkin},
    {"execution.checkout.completed", on_checkout},
    {"projects.tv_outcome.recorded", on_tv_outcome},
    {"contracts.wcf.signed", on_wcf_signed},
    {"assignments.date_negotiation.failed", on_negotiation_failed},
    {"contracts.contract.signed", on_contract_signed},
    {"integration.sales.order_cancelled", on_sales_cancelled},
};

SY_PLUGIN_DESCRIPTOR(.name = "orchestration", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = init, .fini = fini);
