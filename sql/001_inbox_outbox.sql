-- The host's own tables.  Applied once, by yard_store_migrate(), inside a
-- transaction that holds an advisory lock so that hosts starting together
-- do not race.

-- One row per (consumer group, event id) the group has handled: a
-- redelivered event finds its row and is acknowledged without a handler.
CREATE TABLE yard_inbox (
    consumer_group text        NOT NULL,
    event_id       text        NOT NULL,
    handled_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);

-- Events waiting to be published, in commit order per key.  Rows are
-- removed once the broker has acknowledged them.
CREATE TABLE yard_outbox (
    id            bigserial   PRIMARY KEY,
    topic         text        NOT NULL,
    partition_key text,
    event_id      text        NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '[]', -- [[name, value], ...]
    payload       bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Wake the relay at commit; one notification per statement is enough.
CREATE FUNCTION yard_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('yard_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER yard_outbox_notify AFTER INSERT ON yard_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION yard_outbox_notify();
