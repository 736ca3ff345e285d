/*
 * cli_dlq.h — `switchyard dlq`: list, show and replay dead letters.
 *
 *   switchyard dlq [--conf-dir DIR] list [FILTERS] [--json] [--limit N]
 *   switchyard dlq [--conf-dir DIR] show ID [--json]
 *   switchyard dlq [--conf-dir DIR] replay (ID... | FILTERS | --all) [--dry-run]
 *
 * FILTERS: --group G, --type T, --code C, --since T, --until T (a
 * timestamp PostgreSQL accepts, or an age such as 30m, 2h, 7d), --pending
 * (not yet replayed), --replayed.
 *
 * Replay puts the original message back on its original topic through the
 * outbox: original key, value and headers (so the original event id), plus
 * a yard_replay_of header naming the dead letter.  One transaction per
 * dead letter inserts the outbox row, sets replayed_at and deletes the
 * group's inbox row for the event id.  Deleting that row is what lets the
 * group handle the event again, and it is safe: the row was committed with
 * the dead letter, in the transaction that rolled the handler's effects
 * back (savepoint), so the event has never been applied by that group.
 * Other groups on the topic keep their inbox rows and skip the copy as a
 * duplicate.  A dead letter replays at most once (replayed_at is the guard,
 * taken under the row lock): replaying again after the replay was handled
 * would delete the inbox row of an applied event and apply it twice.  If
 * the replay fails again it becomes a new dead letter, which can be
 * replayed in turn.
 *
 * The database comes from [postgres] dsn of the configuration (and
 * SWITCHYARD_POSTGRES_DSN), as for `switchyard run`.
 */
#ifndef YARD_CLI_DLQ_H
#define YARD_CLI_DLQ_H

/* argv[0] is "dlq".  default_conf_dir is used without --conf-dir.  Output
 * on stdout, errors on stderr.  Returns an exit code: 0 ok, 1 failure
 * (database), 2 usage, 3 configuration error, 4 nothing matched (show of
 * an unknown ID, replay of an ID that is unknown or already replayed). */
int yard_cli_dlq(int argc, char **argv, const char *default_conf_dir);

#endif
