/* The SSH transport shared by hvctl and hvtop (cli/ssh.c, libhvremote). */
#ifndef HVKIT_CLI_SSH_H
#define HVKIT_CLI_SSH_H

#include <stdbool.h>

#include "wire-protocol/conn.h"

/* Connects to ssh://[user@]host[:port][/socket], checks the host key, authenticates, runs
 * `hvctl --bridge` there; errors are reported on stderr.  config: like ssh -F (NULL:
 * $HVKIT_SSH_CONFIG, else ~/.ssh/config).  0, or -1. */
int cli_ssh_connect(const char *uri, const char *config, bool accept_new, struct wire_conn **out);

#endif
