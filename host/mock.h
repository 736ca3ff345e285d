/*
 * mock.h — the embedded Kafka broker: librdkafka's mock cluster.
 *
 * Only `switchyard dev` and the test broker use this; nothing else in the
 * host knows the broker is a mock.  The cluster listens on loopback TCP, so
 * other processes (kcat, the host under test) connect to it as to any
 * Kafka cluster.  Fault injection works only from the owning process, hence
 * yard_mock_command(): the test broker feeds it lines from its stdin.
 * Thread rules: start and stop from one thread; the other functions may be
 * called from any thread while the cluster lives (librdkafka serialises
 * them onto the cluster's own thread).  librdkafka's log lines go to the
 * host log at debug level.
 */
#ifndef YARD_MOCK_H
#define YARD_MOCK_H

#include <stddef.h>

typedef struct yard_mock yard_mock;

/* Start a cluster of `brokers` brokers (1..9).  *out owned by the caller. */
int yard_mock_start(int brokers, yard_mock **out, char *err, size_t errlen);

/* "127.0.0.1:port,..."; owned by m. */
const char *yard_mock_bootstraps(const yard_mock *m);

/* Create a topic unless it exists (replication factor 1). */
int yard_mock_topic_create(yard_mock *m, const char *topic, int partitions,
                           char *err, size_t errlen);

/*
 * One fault or admin command, as a line of words:
 *   topic NAME PARTITIONS          create a topic
 *   down BROKER_ID | up BROKER_ID  take a broker down / bring it back
 *   leader TOPIC PARTITION BROKER  move a partition's leader
 *   rtt BROKER_ID MS               add round-trip delay
 *   error APIKEY ERRCODE COUNT     fail the next COUNT requests of APIKEY
 * Returns 0 or YARD_EINVAL with a message naming the bad word; a
 * well-formed command the cluster refuses (a partition that does not
 * exist) gives YARD_EKAFKA with the command and librdkafka's reason.
 * `leader` on an unknown topic creates it (librdkafka's behaviour).
 * ERRCODE is a number or a librdkafka name (NOT_LEADER_FOR_PARTITION,
 * _TRANSPORT to drop the connection); APIKEY a number or a request name
 * (Produce, Fetch, Metadata, OffsetCommit, JoinGroup, ...).
 */
int yard_mock_command(yard_mock *m, const char *line, char *err,
                      size_t errlen);

void yard_mock_stop(yard_mock *m); /* accepts NULL */

#endif
