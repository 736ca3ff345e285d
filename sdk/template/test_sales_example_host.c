/*
 * test_sales_example_host — the adapter in a real host, through the test
 * kit (<switchyard/testkit.h>): an embedded PostgreSQL and Kafka, the
 * plugin loaded from its .so with its conf.d file, real transactions,
 * inbox, outbox and dead letters.  Slower than test_sales_example (a few
 * seconds, for the database), so it checks the path, not every branch.
 */
#include <stdio.h>
#include <string.h>

#include <switchyard/testkit.h>

#define TIMEOUT_MS 20000

static int failures;
#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static const char *order =
    "{\"order_id\":\"A-1\",\"customer_id\":\"C-9\",\"country_code\":\"FR\","
    "\"services\":[{\"service_type\":\"heat_pump\"}]}";

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PLUGIN.so PLUGIN.ini\n", argv[0]);
        return 2;
    }
    char err[1024], id[64], payload[4096], key[256], v[256];
    sy_testkit *tk = NULL;
    if (sy_testkit_start(argv[1], argv[2], &tk, err, sizeof err) != 0) {
        fprintf(stderr, "testkit: %s\n", err);
        return 1;
    }

    /* An order in: handled, recorded, one canonical event out. */
    CHECK(sy_testkit_send(tk, "sales.example.order.created", "FR_A-1", NULL,
                          order, id, err, sizeof err) == 0);
    CHECK(sy_testkit_wait(tk, id, TIMEOUT_MS, err, sizeof err) == 0);
    CHECK(sy_testkit_expect(tk, "integration.sales.order_received",
                            TIMEOUT_MS, payload, sizeof payload, key,
                            sizeof key, err, sizeof err) == 0);
    CHECK(strstr(payload, "\"sales_order_id\":\"A-1\"") != NULL);
    CHECK(strcmp(key, "FR_A-1") == 0);
    CHECK(sy_testkit_sql(tk, "SELECT count(*) FROM sales_example_order", v,
                         sizeof v, err, sizeof err) == 0);
    CHECK(strcmp(v, "1") == 0);

    /* A malformed order: dead-lettered, with the plugin's REJECT. */
    CHECK(sy_testkit_send(tk, "sales.example.order.created", "FR_X", NULL,
                          "{\"order_id\":\"X\"}", id, err, sizeof err) == 0);
    CHECK(sy_testkit_wait(tk, id, TIMEOUT_MS, err, sizeof err) == 1);

    /* The same order under a new event id: handled, nothing new emitted. */
    CHECK(sy_testkit_send(tk, "sales.example.order.created", "FR_A-1", NULL,
                          order, id, err, sizeof err) == 0);
    CHECK(sy_testkit_wait(tk, id, TIMEOUT_MS, err, sizeof err) == 0);
    CHECK(sy_testkit_sql(tk, "SELECT count(*) FROM yard_outbox", v, sizeof v,
                         err, sizeof err) == 0);
    CHECK(sy_testkit_expect(tk, "integration.sales.order_received", 1000,
                            payload, sizeof payload, NULL, 0, err,
                            sizeof err) != 0);

    sy_testkit_stop(tk);
    printf("%d failed\n", failures);
    return failures ? 1 : 0;
}
