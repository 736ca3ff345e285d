/*
 * execution — the field side of a service order: one execution record per
 * confirmed assignment, and the technicians' reports checked against it
 * before they become facts for everyone else.
 *
 *   assignments.assignment.confirmed  execution EXE-<service_order_id> is
 *                                     SCHEDULED for the team (again, after
 *                                     an incomplete visit or a re-assignment;
 *                                     never while the team is on site)
 *   mobile.checkin.submitted          SCHEDULED -> CHECKED_IN, by the
 *                                     scheduled team, with valid GPS:
 *                                     execution.checkin.completed
 *   mobile.checkout.submitted         CHECKED_IN -> CHECKED_OUT; a check-out
 *                                     without a check-in is rejected:
 *                                     execution.checkout.completed
 *   mobile.tv_outcome.submitted       once per TV, after its check-in:
 *                                     projects.tv_outcome.recorded, keyed
 *                                     {country_code}_{tv order} as the
 *                                     catalog says (the country comes with
 *                                     assignment.confirmed v2)
 *   projects.service_order.cancelled  SCHEDULED -> CANCELLED: a report
 *                                     that comes later for it is ignored
 *                                     (logged, counted as late_report),
 *                                     not dead-lettered.  An order with no
 *                                     execution has nothing to cancel.  A
 *                                     team already checked in (or out)
 *                                     keeps its record: its reports are
 *                                     checked as before, and orchestration
 *                                     decides what they mean for the order
 *
 * The technician's app submits the mobile.* reports with the fields of the
 * catalog event they become; it learns the execution id from its job list
 * (EXE- + the order id).  Orchestration and contracts only ever see reports
 * that passed these checks.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"

#define TEXT_LEN 128

static const char *const migrations[] = {
    "CREATE TABLE exe_execution ("
    " execution_id text PRIMARY KEY,"
    " service_order_id text NOT NULL UNIQUE,"
    " provider_id text NOT NULL,"
    " team_id text NOT NULL,"
    " scheduled_date date NOT NULL,"
    " status text NOT NULL," /* SCHEDULED, CHECKED_IN, CHECKED_OUT, CANCELLED */
    " visits integer NOT NULL DEFAULT 0,"
    " checked_in_at timestamptz,"
    " checked_out_at timestamptz,"
    " gps_lat double precision,"
    " gps_lng double precision,"
    " completed boolean,"
    " incompletion_reason text,"
    " tv_outcome text,"
    " updated_at timestamptz NOT NULL DEFAULT now())",
    /* 2: the order's country (assignment.confirmed v2), for the catalog's
     * {country_code}_{tv_service_order_id} key of the TV outcome */
    "ALTER TABLE exe_execution ADD COLUMN country_code text",
    NULL,
};

/* One execution row, as loaded (and locked) by load(). */
typedef struct execution {
    char id[TEXT_LEN], order[TEXT_LEN], team[TEXT_LEN], status[TEXT_LEN];
    char tv_outcome[TEXT_LEN], country[TEXT_LEN];
    long long checked_in_ms;
    int completed; /* 1, 0, -1 unknown */
} execution;

static void copy_col(char *dst, size_t len, const dom_call *c, sy_rows *rows,
                     size_t col)
{
    const char *v = c->p->api->rows_value(rows, 0, col);
    snprintf(dst, len, "%s", v ? v : "");
}

/* Load and lock by `column` (execution_id or service_order_id):
 * SY_OK, SY_REJECT (unknown, logged) or SY_RETRY. */
static sy_result load(const dom_call *c, const char *column, const char *value,
                      execution *e)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT execution_id, service_order_id, team_id, status,"
             " tv_outcome, (extract(epoch FROM checked_in_at) * 1000)::bigint,"
             " completed, country_code FROM exe_execution WHERE %s = $1"
             " FOR UPDATE", column);
    const char *p[] = {value};
    sy_rows *rows = NULL;
    if (dom_sql(c, sql, 1, p, &rows))
        return SY_RETRY;
    bool found = c->p->api->rows_count(rows) == 1;
    if (found) {
        copy_col(e->id, sizeof e->id, c, rows, 0);
        copy_col(e->order, sizeof e->order, c, rows, 1);
        copy_col(e->team, sizeof e->team, c, rows, 2);
        copy_col(e->status, sizeof e->status, c, rows, 3);
        copy_col(e->tv_outcome, sizeof e->tv_outcome, c, rows, 4);
        copy_col(e->country, sizeof e->country, c, rows, 7);
        const char *in = c->p->api->rows_value(rows, 0, 5);
        const char *done = c->p->api->rows_value(rows, 0, 6);
        e->checked_in_ms = in ? strtoll(in, NULL, 10) : 0;
        e->completed = done ? done[0] == 't' : -1;
    }
    c->p->api->rows_free(rows);
    return found ? SY_OK
                 : dom_reject(c, "no execution with %s %s", column, value);
}

/* The report's execution_id, service_order_id and team_id against the
 * record: SY_OK or SY_REJECT. */
static sy_result check_report(const dom_call *c, json_t *p, execution *e,
                              const char *what)
{
    const char *id = dom_id(p, "execution_id");
    const char *order = dom_id(p, "service_order_id");
    const char *team = dom_id(p, "team_id");
    if (!id || !order || !team)
        return dom_reject(c, "%s without execution_id, service_order_id or team_id",
                          what);
    sy_result r = load(c, "execution_id", id, e);
    if (r != SY_OK)
        return r;
    if (strcmp(e->order, order) != 0)
        return dom_reject(c, "%s: execution %s belongs to %s, not %s", what, id,
                          e->order, order);
    if (strcmp(e->team, team) != 0)
        return dom_reject(c, "%s on %s by team %s, but %s is scheduled", what, id,
                          team, e->team);
    return SY_OK;
}

/* A report on an execution cancelled before its check-in: late, not wrong. */
static bool cancelled(const execution *e)
{
    return strcmp(e->status, "CANCELLED") == 0;
}

static sy_result ignore_late(const dom_call *c, const execution *e, const char *what)
{
    return dom_ignore(c, "late_report", "%s on %s, cancelled before its check-in",
                      what, e->id);
}

static sy_result assignment_confirmed(const dom_call *c, json_t *p)
{
    const char *order = dom_id(p, "service_order_id");
    const char *provider = dom_id(p, "provider_id");
    const char *team = dom_id(p, "team_id");
    const char *date = dom_str(p, "confirmed_date");
    const char *country = dom_str(p, "country_code"); /* v2; NULL in v1 */
    if (!order || !provider || !team || !date)
        return dom_reject(c, "assignment without service_order_id, provider_id,"
                             " team_id or confirmed_date");
    char id[TEXT_LEN + 8];
    snprintf(id, sizeof id, "EXE-%s", order);
    const char *q[] = {id, order, provider, team, date, country};
    sy_rows *rows = NULL;
    /* A new record, or the next visit; never while a team is on site. */
    if (dom_sql(c, "INSERT INTO exe_execution AS e (execution_id, service_order_id,"
                   " provider_id, team_id, scheduled_date, status, country_code)"
                   " VALUES ($1, $2, $3, $4, $5::date, 'SCHEDULED', $6)"
                   " ON CONFLICT (execution_id) DO UPDATE SET provider_id = $3,"
                   " team_id = $4, scheduled_date = $5::date, status = 'SCHEDULED',"
                   " country_code = coalesce($6, e.country_code),"
                   " updated_at = now() WHERE e.status <> 'CHECKED_IN'"
                   " RETURNING 1", 6, q, &rows))
        return SY_RETRY;
    size_t n = c->p->api->rows_count(rows);
    c->p->api->rows_free(rows);
    return n == 1 ? SY_OK
                  : dom_reject(c, "%s re-assigned while its team is checked in", id);
}

static bool gps_ok(const json_t *gps)
{
    const json_t *lat = json_object_get(gps, "lat"), *lng = json_object_get(gps, "lng");
    return json_is_number(lat) && json_is_number(lng) &&
           json_number_value(lat) >= -90 && json_number_value(lat) <= 90 &&
           json_number_value(lng) >= -180 && json_number_value(lng) <= 180;
}

static sy_result checkin(const dom_call *c, json_t *p)
{
    execution e;
    sy_result r = check_report(c, p, &e, "check-in");
    if (r != SY_OK)
        return r;
    if (cancelled(&e))
        return ignore_late(c, &e, "check-in");
    json_t *at = json_object_get(p, "checked_in_at");
    json_t *gps = json_object_get(p, "gps");
    if (!json_is_integer(at) || !gps_ok(gps))
        return dom_reject(c, "check-in on %s without checked_in_at or valid gps", e.id);
    /* Checked out incomplete: the team comes back without a new assignment. */
    bool again = strcmp(e.status, "CHECKED_OUT") == 0 && e.completed == 0;
    if (strcmp(e.status, "SCHEDULED") != 0 && !again)
        return dom_reject(c, "check-in on %s, which is %s", e.id, e.status);
    char ms[32], lat[32], lng[32];
    snprintf(ms, sizeof ms, "%lld", (long long)json_integer_value(at));
    snprintf(lat, sizeof lat, "%.7f", json_number_value(json_object_get(gps, "lat")));
    snprintf(lng, sizeof lng, "%.7f", json_number_value(json_object_get(gps, "lng")));
    const char *q[] = {e.id, ms, lat, lng};
    if (dom_sql(c, "UPDATE exe_execution SET status = 'CHECKED_IN',"
                   " visits = visits + 1,"
                   " checked_in_at = to_timestamp($2::bigint / 1000.0),"
                   " checked_out_at = NULL, completed = NULL,"
                   " incompletion_reason = NULL,"
                   " gps_lat = $3::float8, gps_lng = $4::float8, updated_at = now()"
                   " WHERE execution_id = $1", 4, q, NULL))
        return SY_RETRY;
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s, s:O, s:{s:O, s:O}}", "execution_id",
                           e.id, "service_order_id", e.order, "team_id", e.team,
                           "checked_in_at", at, "gps", "lat",
                           json_object_get(gps, "lat"), "lng",
                           json_object_get(gps, "lng"));
    return dom_emit(c, "execution.checkin.completed",
                    dom_key(key, e.team, e.order), e.id, ev) ? SY_RETRY : SY_OK;
}

static sy_result checkout(const dom_call *c, json_t *p)
{
    execution e;
    sy_result r = check_report(c, p, &e, "check-out");
    if (r != SY_OK)
        return r;
    if (cancelled(&e))
        return ignore_late(c, &e, "check-out");
    json_t *at = json_object_get(p, "checked_out_at");
    int completed = dom_bool(p, "completed");
    const char *why = dom_str(p, "incompletion_reason");
    if (!json_is_integer(at) || completed < 0)
        return dom_reject(c, "check-out on %s without checked_out_at or completed", e.id);
    if (strcmp(e.status, "CHECKED_IN") != 0)
        return dom_reject(c, "check-out without check-in on %s (it is %s)", e.id,
                          e.status);
    if (json_integer_value(at) < e.checked_in_ms)
        return dom_reject(c, "check-out on %s before its check-in", e.id);
    if (!completed && !why)
        return dom_reject(c, "incomplete check-out on %s without incompletion_reason",
                          e.id);
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)json_integer_value(at));
    const char *q[] = {e.id, ms, completed ? "t" : "f", why};
    if (dom_sql(c, "UPDATE exe_execution SET status = 'CHECKED_OUT',"
                   " checked_out_at = to_timestamp($2::bigint / 1000.0),"
                   " completed = $3::boolean, incompletion_reason = $4,"
                   " updated_at = now() WHERE execution_id = $1", 4, q, NULL))
        return SY_RETRY;
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s, s:O, s:b, s:s?}", "execution_id", e.id,
                           "service_order_id", e.order, "team_id", e.team,
                           "checked_out_at", at, "completed", completed,
                           "incompletion_reason", completed ? NULL : why);
    return dom_emit(c, "execution.checkout.completed",
                    dom_key(key, e.team, e.order), e.id, ev) ? SY_RETRY : SY_OK;
}

static sy_result tv_outcome(const dom_call *c, json_t *p)
{
    const char *tv = dom_id(p, "tv_service_order_id");
    const char *linked = dom_id(p, "linked_installation_order_id");
    const char *outcome = dom_str(p, "outcome");
    const char *by = dom_id(p, "recorded_by");
    json_t *mods = json_object_get(p, "modifications");
    if (!tv || !outcome || !by)
        return dom_reject(c, "TV outcome without tv_service_order_id, outcome or"
                             " recorded_by");
    if (strcmp(outcome, "YES") && strcmp(outcome, "YES_BUT") && strcmp(outcome, "NO"))
        return dom_reject(c, "TV outcome %s is not YES, YES_BUT or NO", outcome);
    bool yes_but = strcmp(outcome, "YES_BUT") == 0;
    if (yes_but != (json_is_array(mods) && json_array_size(mods) > 0))
        return dom_reject(c, "TV outcome %s on %s: modifications are required for"
                             " YES_BUT and only for it", outcome, tv);
    size_t i;
    json_t *m;
    json_array_foreach(mods, i, m) {
        if (!dom_str(m, "description"))
            return dom_reject(c, "TV outcome on %s: modification %zu has no"
                                 " description", tv, i);
    }
    execution e;
    sy_result r = load(c, "service_order_id", tv, &e);
    if (r != SY_OK)
        return r;
    if (cancelled(&e))
        return ignore_late(c, &e, "TV outcome");
    if (strcmp(e.status, "SCHEDULED") == 0)
        return dom_reject(c, "TV outcome on %s before the technician checked in", tv);
    if (e.tv_outcome[0])
        return dom_reject(c, "TV %s already has outcome %s", tv, e.tv_outcome);
    const char *q[] = {e.id, outcome};
    if (dom_sql(c, "UPDATE exe_execution SET tv_outcome = $2, updated_at = now()"
                   " WHERE execution_id = $1", 2, q, NULL))
        return SY_RETRY;
    json_t *ev = json_pack("{s:s, s:s?, s:s, s:O, s:s}", "tv_service_order_id", tv,
                           "linked_installation_order_id", linked, "outcome",
                           outcome, "modifications", yes_but ? mods : json_null(),
                           "recorded_by", by);
    /* The catalog's key when the country is known; else the report's. */
    char key[DOM_KEY_LEN];
    return dom_emit(c, "projects.tv_outcome.recorded",
                    e.country[0] ? dom_key(key, e.country, tv) : NULL, tv, ev)
               ? SY_RETRY
               : SY_OK;
}

static sy_result order_cancelled(const dom_call *c, json_t *p)
{
    const char *order = dom_id(p, "service_order_id");
    if (!order)
        return dom_reject(c, "cancelled order without service_order_id");
    const char *q[] = {order};
    return dom_sql(c, "UPDATE exe_execution SET status = 'CANCELLED',"
                      " updated_at = now()"
                      " WHERE service_order_id = $1 AND status = 'SCHEDULED'",
                   1, q, NULL) ? SY_RETRY : SY_OK;
}

/* ---- plumbing ----------------------------------------------------------- */

DOM_HANDLER(assignment_confirmed)
DOM_HANDLER(checkin)
DOM_HANDLER(checkout)
DOM_HANDLER(tv_outcome)
DOM_HANDLER(order_cancelled)

static const sy_subscription subs[] = {
    {"assignments.assignment.confirmed", on_assignment_confirmed},
    {"mobile.checkin.submitted", on_checkin},
    {"mobile.checkout.submitted", on_checkout},
    {"mobile.tv_outcome.submitted", on_tv_outcome},
    {"projects.service_order.cancelled", on_order_cancelled},
};

SY_PLUGIN_DESCRIPTOR(.name = "execution", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = dom_init,
                     .fini = dom_fini);
