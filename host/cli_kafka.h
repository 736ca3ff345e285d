/*
 * cli_kafka.h — `switchyard produce`, `tail` and `lag`: operator commands
 * that talk to Kafka directly, with or without a host running.
 *
 *   switchyard produce --type TYPE [--key K] [--id ID] [--source S]
 *                      [--subject S] [--topic T] [--header NAME=VALUE]...
 *                      [--data FILE|-] [--schema-dir DIR] [--json]
 *       Build one event in the host's canonical envelope (CloudEvents 1.0,
 *       Kafka binding, binary mode: ce_* headers, the JSON payload as the
 *       value; yard_envelope_headers()), check the payload (JSON, and the
 *       type's newest schema when the schema directory has one, as emit()
 *       does), produce it with acks=all and wait for the delivery report.
 *       Defaults as emit(): id from --id, else the payload's event_id, else
 *       a new UUID; key from --key, else the schema's x-partition-key; topic
 *       from --topic, else the [topics] rule for the type, else the type.
 *       A payload that is refused produces nothing.
 *   switchyard tail PATTERN... [--from-beginning] [-f|--follow] [-n N]
 *                   [--json]
 *       Decode (yard_envelope_decode(), every dialect) and print the events
 *       of the topics named by the PATTERNs: a literal topic name, or a
 *       pattern where `*` matches any run of characters (pattern.h), over
 *       the topic names of the broker's metadata; topics starting with "__"
 *       only when the pattern does.  From the end of each partition unless
 *       --from-beginning; without --follow it stops at the end of every
 *       partition; -n stops after N events.  Partitions are assigned
 *       directly: tail never joins a consumer group and commits nothing.
 *   switchyard lag [GROUP...] [--topic PATTERN]... [--json]
 *       Per group and partition: the committed offset, the high watermark
 *       and the lag (high watermark - committed; without a committed offset
 *       the whole retained partition, high - low watermark).  Groups
 *       default to those of the enabled plugins of the configuration.
 *       Committed offsets are read with OffsetFetch through a consumer that
 *       has the group's group.id but never subscribes, so the group is not
 *       disturbed.  Without --topic a group shows the topics where it has a
 *       committed offset on some partition (every partition of them); with
 *       --topic, every partition of the matching topics.
 *
 * Common options: --conf-dir DIR (default default_conf_dir) for [kafka]
 * (every property is applied, bootstrap.servers is the broker list),
 * [topics] and schema_dir; --brokers LIST (or SWITCHYARD_KAFKA_BROKERS)
 * overrides bootstrap.servers, and with it the default configuration is
 * optional (used when it loads), so the commands work on a machine with
 * no configuration; --timeout SEC
 * bounds each broker operation (default 30); --help.
 *
 * This module speaks librdkafka, like consumer.c and relay.c: the commands
 * are Kafka tools.
 */
#ifndef YARD_CLI_KAFKA_H
#define YARD_CLI_KAFKA_H

/* argv[0] is "produce", "tail" or "lag".  Output on stdout, errors on
 * stderr.  Returns the exit code: 0 ok, 1 failure (broker, delivery, a
 * payload that is not JSON or fails its schema, no topic matched), 2
 * usage, 3 configuration error (it does not load, has no broker list, or
 * a schema file does not parse). */
int yard_cli_kafka(int argc, char **argv, const char *default_conf_dir);

#endif
