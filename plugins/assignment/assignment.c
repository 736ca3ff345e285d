/*
 * assignment — offers service orders to provider teams and confirms them.
 *
 *   projects.service_order.created    remember the order; offer it at once
 *                                     unless it waits for a TV
 *   projects.service_order.unblocked  offer the installation after its TV,
 *                                     to the team that did the TV when that
 *                                     team's offer was accepted
 *   assignments.offer.responded       ACCEPTED: assignments.assignment.
 *                                     confirmed; DATE_PROPOSED: one more
 *                                     negotiation round, and after
 *                                     `max_rounds` rounds
 *                                     assignments.date_negotiation.failed
 *   projects.service_order.cancelled  the order is CANCELLED and its open
 *                                     offer WITHDRAWN; a response that
 *                                     comes later for a withdrawn offer is
 *                                     ignored (logged, counted as
 *                                     late_response), not dead-lettered.
 *                                     An accepted offer stays ACCEPTED:
 *                                     execution cancels what was scheduled
 *
 * The choice of team is deterministic: `[settings] providers` lists
 * PROVIDER:COUNTRY:TEAM entries; the candidates are the entries of the
 * order's country in the order listed, and the order goes to candidate
 * number fnv1a(service_order_id) mod (number of candidates).  A country
 * with no candidate is a configuration gap: the event is rejected (and can
 * be replayed from the DLQ once the provider is configured).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"

#define MAX_PROVIDERS 64
#define FIELD_LEN 64
#define TEXT_LEN 128
#define MS_PER_HOUR 3600000LL
#define MS_PER_DAY (24 * MS_PER_HOUR)

typedef struct provider {
    char id[FIELD_LEN], country[FIELD_LEN], team[FIELD_LEN];
} provider;

typedef struct asg {
    dom_plugin dom;
    provider providers[MAX_PROVIDERS];
    size_t n_providers;
    long lead_days, offer_ttl_hours, max_rounds;
    const char *slot_start, *slot_end;
} asg;

static const char *const migrations[] = {
    "CREATE TABLE asg_order ("
    " service_order_id text PRIMARY KEY,"
    " country_code text NOT NULL,"
    " depends_on_order_id text,"
    " status text NOT NULL,"  /* WAITING, OFFERED, ASSIGNED, FAILED, CANCELLED */
    " updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE asg_offer ("
    " offer_id text PRIMARY KEY,"
    " service_order_id text NOT NULL REFERENCES asg_order,"
    " provider_id text NOT NULL,"
    " team_id text NOT NULL,"
    " offered_date date NOT NULL,"
    " rounds integer NOT NULL DEFAULT 0,"
    " status text NOT NULL," /* OFFERED, ACCEPTED, FAILED, WITHDRAWN */
    " event_id text NOT NULL,"
    " updated_at timestamptz NOT NULL DEFAULT now());"
    /* At most one open offer per order. */
    "CREATE UNIQUE INDEX asg_offer_open ON asg_offer (service_order_id)"
    " WHERE status = 'OFFERED'",
    NULL,
};

static uint32_t fnv1a32(const char *s)
{
    uint32_t h = 0x811c9dc5u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x01000193u;
    }
    return h;
}

/* The documented rule; NULL when the country has no provider. */
static const provider *choose(const asg *st, const char *country,
                              const char *order_id)
{
    size_t n = 0;
    for (size_t i = 0; i < st->n_providers; i++)
        n += strcmp(st->providers[i].country, country) == 0;
    if (n == 0)
        return NULL;
    size_t pick = fnv1a32(order_id) % n;
    for (size_t i = 0; i < st->n_providers; i++)
        if (strcmp(st->providers[i].country, country) == 0 && pick-- == 0)
            return &st->providers[i];
    return NULL;
}

static void copy_col(char *dst, size_t len, const dom_call *c, sy_rows *rows,
                     size_t col)
{
    const char *v = c->p->api->rows_value(rows, 0, col);
    snprintf(dst, len, "%s", v ? v : "");
}

/* Offer `order_id` to provider/team, emit assignments.offer.created. */
static sy_result make_offer(const dom_call *c, const asg *st, const char *order_id,
                            const char *provider_id, const char *team_id)
{
    int64_t now = dom_now_ms();
    char date[DOM_DATE_LEN], offer_id[TEXT_LEN + 16], n[16];
    dom_date(now + st->lead_days * MS_PER_DAY, date);
    const char *q[] = {order_id};
    sy_rows *rows = NULL;
    if (dom_sql(c, "SELECT count(*) + 1 FROM asg_offer WHERE service_order_id = $1",
                1, q, &rows))
        return SY_RETRY;
    copy_col(n, sizeof n, c, rows, 0);
    c->p->api->rows_free(rows);
    snprintf(offer_id, sizeof offer_id, "OFR-%s-%s", order_id, n);
    const char *p[] = {offer_id, order_id, provider_id, team_id, date, c->ev->id};
    if (dom_sql(c, "INSERT INTO asg_offer (offer_id, service_order_id, provider_id,"
                   " team_id, offered_date, status, event_id)"
                   " VALUES ($1, $2, $3, $4, $5, 'OFFERED', $6)", 6, p, NULL) ||
        dom_sql(c, "UPDATE asg_order SET status = 'OFFERED', updated_at = now()"
                   " WHERE service_order_id = $1", 1, q, NULL))
        return SY_RETRY;
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "offer_id", offer_id,
        "service_order_id", order_id, "provider_id", provider_id, "team_id",
        team_id, "offered_date", date, "offered_time_start", st->slot_start,
        "offered_time_end", st->slot_end, "expires_at",
        (json_int_t)(now + st->offer_ttl_hours * MS_PER_HOUR), "auto_accepted", 0);
    return dom_emit(c, "assignments.offer.created",
                    dom_key(key, provider_id, order_id), offer_id, ev)
               ? SY_RETRY : SY_OK;
}

/* Offer by the rule. */
static sy_result offer_by_rule(const dom_call *c, const asg *st,
                               const char *order_id, const char *country)
{
    const provider *pr = choose(st, country, order_id);
    if (!pr)
        return dom_reject(c, "no provider configured for country %s (order %s)",
                          country, order_id);
    return make_offer(c, st, order_id, pr->id, pr->team);
}

static sy_result order_created(const dom_call *c, const asg *st, json_t *p)
{
    const char *id = dom_id(p, "service_order_id");
    const char *country = dom_id(p, "country_code");
    const char *depends = dom_id(p, "depends_on_order_id");
    if (!id || !country)
        return dom_reject(c, "service order without service_order_id or country_code");
    const char *q[] = {id, country, depends, depends ? "WAITING" : "NEW"};
    sy_rows *rows = NULL;
    if (dom_sql(c, "INSERT INTO asg_order (service_order_id, country_code,"
                   " depends_on_order_id, status) VALUES ($1, $2, $3, $4)"
                   " ON CONFLICT DO NOTHING RETURNING 1", 4, q, &rows))
        return SY_RETRY;
    size_t inserted = c->p->api->rows_count(rows);
    c->p->api->rows_free(rows);
    if (!inserted)
        return dom_reject(c, "service order %s was already created", id);
    if (depends) /* waits for its TV: projects.service_order.unblocked */
        return SY_OK;
    return offer_by_rule(c, st, id, country);
}

static sy_result order_unblocked(const dom_call *c, const asg *st, json_t *p)
{
    const char *id = dom_id(p, "service_order_id");
    if (!id)
        return dom_reject(c, "unblocked order without service_order_id");
    const char *q[] = {id};
    sy_rows *rows = NULL;
    if (dom_sql(c, "SELECT o.status, o.country_code, a.provider_id, a.team_id"
                   " FROM asg_order o LEFT JOIN asg_offer a"
                   " ON a.service_order_id = o.depends_on_order_id"
                   " AND a.status = 'ACCEPTED'"
                   " WHERE o.service_order_id = $1 FOR UPDATE OF o", 1, q, &rows))
        return SY_RETRY;
    char status[TEXT_LEN] = "", country[TEXT_LEN], prov[TEXT_LEN], team[TEXT_LEN];
    if (c->p->api->rows_count(rows) >= 1) {
        copy_col(status, sizeof status, c, rows, 0);
        copy_col(country, sizeof country, c, rows, 1);
        copy_col(prov, sizeof prov, c, rows, 2);
        copy_col(team, sizeof team, c, rows, 3);
    }
    c->p->api->rows_free(rows);
    if (!status[0])
        return dom_reject(c, "unknown service order %s", id);
    if (strcmp(status, "WAITING") != 0)
        return dom_reject(c, "service order %s is %s, not waiting for its TV", id,
                          status);
    /* Re-assignment after the TV: the team that saw the site keeps it. */
    if (prov[0] && team[0])
        return make_offer(c, st, id, prov, team);
    return offer_by_rule(c, st, id, country);
}

static sy_result offer_responded(const dom_call *c, const asg *st, json_t *p)
{
    const char *offer_id = dom_id(p, "offer_id");
    const char *response = dom_str(p, "response");
    const char *proposed = dom_str(p, "proposed_date");
    if (!offer_id || !response)
        return dom_reject(c, "offer response without offer_id or response");
    bool accepted = strcmp(response, "ACCEPTED") == 0;
    if (!accepted && strcmp(response, "DATE_PROPOSED") != 0)
        return dom_reject(c, "offer response %s is not ACCEPTED or DATE_PROPOSED",
                          response);
    int y, m, d;
    char tail;
    if (!accepted && (!proposed || sscanf(proposed, "%4d-%2d-%2d%c", &y, &m, &d,
                                          &tail) != 3))
        return dom_reject(c, "DATE_PROPOSED on %s without a proposed_date"
                             " YYYY-MM-DD", offer_id);

    const char *q[] = {offer_id};
    sy_rows *rows = NULL;
    if (dom_sql(c, "SELECT a.status, a.service_order_id, a.provider_id, a.team_id,"
                   " a.offered_date, a.rounds, o.country_code"
                   " FROM asg_offer a JOIN asg_order o USING (service_order_id)"
                   " WHERE a.offer_id = $1 FOR UPDATE", 1, q, &rows))
        return SY_RETRY;
    char status[TEXT_LEN] = "", order[TEXT_LEN], prov[TEXT_LEN], team[TEXT_LEN];
    char date[TEXT_LEN], rounds_s[16], country[TEXT_LEN];
    if (c->p->api->rows_count(rows) == 1) {
        copy_col(status, sizeof status, c, rows, 0);
        copy_col(order, sizeof order, c, rows, 1);
        copy_col(prov, sizeof prov, c, rows, 2);
        copy_col(team, sizeof team, c, rows, 3);
        copy_col(date, sizeof date, c, rows, 4);
        copy_col(rounds_s, sizeof rounds_s, c, rows, 5);
        copy_col(country, sizeof country, c, rows, 6);
    }
    c->p->api->rows_free(rows);
    if (!status[0])
        return dom_reject(c, "unknown offer %s", offer_id);
    if (strcmp(status, "WITHDRAWN") == 0)
        return dom_ignore(c, "late_response", "%s on offer %s, withdrawn when"
                          " %s was cancelled", response, offer_id, order);
    if (strcmp(status, "OFFERED") != 0)
        return dom_reject(c, "offer %s is %s, no longer open", offer_id, status);

    char key[DOM_KEY_LEN];
    if (accepted) {
        const char *u[] = {offer_id, order};
        if (dom_sql(c, "UPDATE asg_offer SET status = 'ACCEPTED', updated_at = now()"
                       " WHERE offer_id = $1", 1, u, NULL) ||
            dom_sql(c, "UPDATE asg_order SET status = 'ASSIGNED', updated_at = now()"
                       " WHERE service_order_id = $1", 1, u + 1, NULL))
            return SY_RETRY;
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                               "service_order_id", order, "provider_id", prov,
                               "team_id", team, "confirmed_date", date,
                               "confirmed_time_start", st->slot_start,
                               "confirmed_time_end", st->slot_end, "country_code",
                               country);
        return dom_emit(c, "assignments.assignment.confirmed",
                        dom_key(key, prov, order), order, ev) ? SY_RETRY : SY_OK;
    }

    long rounds = strtol(rounds_s, NULL, 10) + 1;
    char rounds_txt[24];
    snprintf(rounds_txt, sizeof rounds_txt, "%ld", rounds);
    bool failed = rounds >= st->max_rounds;
    const char *u[] = {offer_id, proposed, rounds_txt, failed ? "FAILED" : "OFFERED",
                       order};
    if (dom_sql(c, "UPDATE asg_offer SET offered_date = $2::date, rounds = $3::int,"
                   " status = $4, updated_at = now() WHERE offer_id = $1",
                4, u, NULL))
        return SY_RETRY;
    if (!failed)
        return SY_OK;
    if (dom_sql(c, "UPDATE asg_order SET status = 'FAILED', updated_at = now()"
                   " WHERE service_order_id = $1", 1, u + 4, NULL))
        return SY_RETRY;
    json_t *ev = json_pack("{s:s, s:s, s:i}", "offer_id", offer_id,
                           "service_order_id", order, "rounds_completed",
                           (int)rounds);
    return dom_emit(c, "assignments.date_negotiation.failed",
                    dom_key(key, country, order), offer_id, ev) ? SY_RETRY : SY_OK;
}

static sy_result order_cancelled(const dom_call *c, const asg *st, json_t *p)
{
    (void)st;
    const char *id = dom_id(p, "service_order_id");
    if (!id)
        return dom_reject(c, "cancelled order without service_order_id");
    const char *q[] = {id};
    sy_rows *rows = NULL;
    if (dom_sql(c, "UPDATE asg_order SET status = 'CANCELLED', updated_at = now()"
                   " WHERE service_order_id = $1 RETURNING 1", 1, q, &rows))
        return SY_RETRY;
    size_t known = c->p->api->rows_count(rows);
    c->p->api->rows_free(rows);
    if (!known)
        return dom_reject(c, "cancellation of unknown service order %s", id);
    return dom_sql(c, "UPDATE asg_offer SET status = 'WITHDRAWN', updated_at = now()"
                      " WHERE service_order_id = $1 AND status = 'OFFERED'",
                   1, q, NULL) ? SY_RETRY : SY_OK;
}

/* ---- plumbing ----------------------------------------------------------- */

DOM_HANDLER_ST(asg, order_created)
DOM_HANDLER_ST(asg, order_unblocked)
DOM_HANDLER_ST(asg, offer_responded)
DOM_HANDLER_ST(asg, order_cancelled)

static const char *setting(const asg *st, const char *key, const char *def)
{
    const char *v = st->dom.api->config_get(st->dom.self, key);
    return v && *v ? v : def;
}

static int number(const asg *st, const char *key, const char *def, long max,
                  long *out, char *err, size_t errlen)
{
    const char *v = setting(st, key, def);
    char *end;
    *out = strtol(v, &end, 10);
    if (*end || *out < 1 || *out > max) {
        snprintf(err, errlen, "%s: %s is not a number from 1 to %ld", key, v, max);
        return -1;
    }
    return 0;
}

/* providers = PROVIDER:COUNTRY:TEAM,... */
static int parse_providers(asg *st, const char *list, char *err, size_t errlen)
{
    while (list && *list) {
        size_t n = strcspn(list, ",");
        provider *pr = &st->providers[st->n_providers];
        if (st->n_providers == MAX_PROVIDERS ||
            sscanf(list, "%63[^:,]:%63[^:,]:%63[^:,]", pr->id, pr->country,
                   pr->team) != 3 ||
            strlen(pr->id) + strlen(pr->country) + strlen(pr->team) + 2 != n) {
            snprintf(err, errlen, "providers: bad entry \"%.*s\" (want"
                                  " PROVIDER:COUNTRY:TEAM, at most %d)",
                     (int)n, list, MAX_PROVIDERS);
            return -1;
        }
        st->n_providers++;
        list += n + (list[n] == ',');
    }
    if (st->n_providers == 0) {
        snprintf(err, errlen, "providers: none configured");
        return -1;
    }
    return 0;
}

static int init(sy_plugin *self, const sy_host_api *api, void **state,
                char *err, size_t errlen)
{
    asg *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->dom = (dom_plugin){api, self};
    st->slot_start = setting(st, "slot_start", "08:00");
    st->slot_end = setting(st, "slot_end", "12:00");
    if (parse_providers(st, setting(st, "providers", ""), err, errlen) ||
        number(st, "lead_days", "7", 365, &st->lead_days, err, errlen) ||
        number(st, "offer_ttl_hours", "24", 24 * 365, &st->offer_ttl_hours, err,
               errlen) ||
        number(st, "max_rounds", "3", 100, &st->max_rounds, err, errlen)) {
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void fini(void *state) { free(state); }

static const sy_subscription subs[] = {
    {"projects.service_order.created", on_order_created},
    {"projects.service_order.unblocked", on_order_unblocked},
    {"assignments.offer.responded", on_offer_responded},
    {"projects.service_order.cancelled", on_order_cancelled},
};

SY_PLUGIN_DESCRIPTOR(.name = "assignment", .version = "1.0.0",
                     .subscriptions = subs, .n_subscriptions = SY_COUNT(subs),
                     .migrations = migrations, .init = init, .fini = fini);
