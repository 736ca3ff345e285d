/*
 * cli_control.h — `switchyard status` and `switchyard reload`: talk to the
 * running host over its control socket (control.h).
 */
#ifndef YARD_CLI_CONTROL_H
#define YARD_CLI_CONTROL_H

/* argv[0] is "status" or "reload".  Options: --conf-dir DIR (to find
 * [host] control_socket; default default_conf_dir), --socket PATH (instead
 * of the configuration), --json (status: the raw JSON).  Returns the exit
 * code: 0 ok, 1 the host is unreachable or the reload was refused, 2
 * usage, 3 the configuration cannot be read to find the socket. */
int yard_cli_control(int argc, char **argv, const char *default_conf_dir);

#endif
