/*
 * control.h — the running host's control socket: a local AF_UNIX stream
 * socket, mode 0600, on which `switchyard status` and `switchyard reload`
 * talk to the daemon.
 *
 * Protocol: the client connects, writes one command line ("status" or
 * "reload"), and reads the reply until the server closes the connection.
 * One connection is served at a time, on the control thread.
 */
#ifndef YARD_CONTROL_H
#define YARD_CONTROL_H

#include <stddef.h>

typedef struct yard_control yard_control;

/* Answer one command: return a malloc'd reply (the caller frees it), or
 * NULL when out of memory.  Runs on the control thread. */
typedef char *(*yard_control_fn)(void *arg, const char *command);

/*
 * Bind `path` (a stale socket of a dead host is replaced; a live one, or
 * any other kind of file, is an error), make it 0600 and start the control
 * thread.  *out owned by the caller: yard_control_stop().
 */
int yard_control_start(const char *path, yard_control_fn fn, void *arg,
                       yard_control **out, char *err, size_t errlen);

/* Stop the thread (after the command it is serving), remove the socket,
 * free.  NULL ok. */
void yard_control_stop(yard_control *c);

/* Client side: send `command` to the host at `path`, wait up to
 * timeout_ms for the whole reply.  *reply is malloc'd, NUL-terminated. */
int yard_control_request(const char *path, const char *command,
                         unsigned timeout_ms, char **reply, char *err,
                         size_t errlen);

#endif
