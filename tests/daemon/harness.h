/* Integration-test harness: a real hvd on a private socket and state dir, and real hvctl
 * runs against it. */
#ifndef HVKIT_TEST_HARNESS_H
#define HVKIT_TEST_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

struct hvd_instance {
	char dir[256];     /* private temporary folder */
	char state[300];   /* dir/state */
	char sock[300];    /* dir/hvd.sock */
	char ro_sock[300]; /* dir/hvd-ro.sock */
	pid_t pid;
	const char *extra[4]; /* more hvd options, NULL-terminated */
};

/* Makes the folder and starts hvd in it (hvd detaches once it listens). */
void hvd_start(struct hvd_instance *h);
void hvd_start_again(struct hvd_instance *h); /* same folder */
/* SIGTERM (or SIGKILL when hard) and wait until it is gone. */
void hvd_stop(struct hvd_instance *h, bool hard);
void hvd_cleanup(struct hvd_instance *h); /* stop and remove the folder */

struct run_result {
	int status; /* exit status */
	char *out;
	char *err;
};

/* Runs hvctl against the instance's socket (or uri when not NULL) with -c script and
 * optional extra options (NULL-terminated). */
void hvctl_run(const struct hvd_instance *h, const char *uri, const char *script, struct run_result *r, ...);
void run_result_free(struct run_result *r);
/* Runs a program (NULL-terminated argv), collecting its output. */
void run_program(char *const argv[], const char *stdin_text, struct run_result *r);
const char *build_path(const char *rel); /* $top_builddir/rel (static buffer) */

/* cmocka fixtures: a fresh hvd for each test, in *state. */
int hvd_setup(void **state);
int hvd_teardown(void **state);

#define assert_contains(hay, needle)                                                                 \
	do {                                                                                         \
		if (!strstr((hay), (needle)))                                                        \
			fail_msg("expected to find [%s] in:\n%s", (needle), (hay));                  \
	} while (0)

#endif
