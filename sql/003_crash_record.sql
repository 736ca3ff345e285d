-- Events that were inside a plugin's handler when a host died, and in how
-- many consecutive crashes (host/crashrec.h).  At max_crashes the event is
-- dead-lettered as PLUGIN_CRASHED instead of handed to its plugin again;
-- an event finished normally leaves the table.
CREATE TABLE yard_crash_record (
    consumer_group text        NOT NULL,
    event_id       text        NOT NULL,
    plugin         text        NOT NULL,
    crashes        integer     NOT NULL CHECK (crashes > 0),
    last_crash_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
