/* Where hvd listens by default (DESIGN.md, Interface contract), shared by hvd and its clients. */
#ifndef HVKIT_WIRE_PATHS_H
#define HVKIT_WIRE_PATHS_H

#include <stddef.h>

/* root: /run/hvkit/hvd.sock; others: $XDG_RUNTIME_DIR/hvkit/hvd.sock, else
 * /tmp/hvkit-UID/hvd.sock.  0 or -ENAMETOOLONG. */
int wire_path_socket(char *buf, size_t len);
/* The read-only socket beside a main socket: "X.sock" -> "X-ro.sock" (so hvd.sock ->
 * hvd-ro.sock), anything else -> "X-ro". */
int wire_path_ro_socket(const char *main_socket, char *buf, size_t len);
/* root: /var/lib/hvkit; others: $XDG_DATA_HOME/hvkit, else $HOME/.local/share/hvkit. */
int wire_path_state_dir(char *buf, size_t len);

#endif
