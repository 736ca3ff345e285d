-- Dead letters, kept for `switchyard dlq` (list, show, replay) beside the
-- copy published to the group's DLQ topic through the outbox.
CREATE TABLE yard_dead_letter (
    id             bigserial   PRIMARY KEY,
    consumer_group text        NOT NULL,
    plugin         text        NOT NULL,
    plugin_version text,
    event_id       text,
    event_type     text,
    error_code     text        NOT NULL,
    error_message  text        NOT NULL,
    error_details  jsonb,
    attempts       integer     NOT NULL,
    topic          text        NOT NULL,
    kafka_partition integer    NOT NULL,
    kafka_offset   bigint      NOT NULL,
    original_key   bytea,
    original_value bytea,
    original_headers jsonb     NOT NULL DEFAULT '[]',
    failed_at      timestamptz NOT NULL DEFAULT now(),
    replayed_at    timestamptz
);
CREATE INDEX yard_dead_letter_group ON yard_dead_letter (consumer_group, failed_at);
