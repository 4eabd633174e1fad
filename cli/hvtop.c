/*
 * hvtop: the partitions of a host at a glance, live from hvd's sample stream, and actions
 * on them.  Options and the exit status; the model is top-model.c, the link to hvd
 * top-conn.c, the views top-batch.c (plain text) and top-view.c/top-ui.c (ncurses).
 * Exit status: 0 done, 2 usage error, 3 no connection to hvd (as hvctl).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/top-conn.h"
#include "cli/top-view.h"

enum { EXIT_OK = 0, EXIT_USAGE = 2, EXIT_NOCONN = 3 };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hvtop [-H URI] [-d SECONDS] [-b] [-n COUNT] [-s COLUMN] [-r] [-f TEXT]\n"
		"Shows hvd's partitions live: state, CPU%%, memory, uptime, heartbeat, status, events;\n"
		"per-vCPU usage and VMBus channel rates in the detail view (Enter) and in batch frames.\n"
		"\n"
		"  -H, --host URI       unix:///path/to/hvd.sock or ssh://[user@]host[:port][/socket]\n"
		"                       (default: $HVKIT_HOST, else the\n"
		"                       local hvd's socket)\n"
		"  -d, --delay SECONDS  refresh interval, fractions allowed (default 1)\n"
		"  -b, --batch          plain-text frames on standard output, no terminal needed\n"
		"  -n, --iterations N   stop after N frames (batch) or refreshes\n"
		"  -s, --sort COLUMN    name, state, cpu, memory, uptime, heartbeat, checkpoints, pool or status\n"
		"                       (default name)\n"
		"  -r, --reverse        reverse the sort order\n"
		"  -f, --filter TEXT    only VMs whose name or state contains TEXT\n"
		"  -h, --help, --version\n"
		"\n"
		"Keys: ? or F1 in hvtop.  Exit status: 0 done, 2 usage error, 3 no connection to hvd.\n");
}

struct options {
	const char *uri;
	int interval_ms;
	bool batch;
	long count;
	enum top_col sort;
	bool reverse;
	const char *filter;
};

static int parse_delay(const char *s, int *ms)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(d) || d < 0.05 || d > 3600)
		return -1;
	*ms = (int)(d * 1000 + 0.5);
	return 0;
}

static int parse_count(const char *s, long *n)
{
	char *end;

	errno = 0;
	*n = strtol(s, &end, 10);
	return errno || end == s || *end || *n < 1 ? -1 : 0;
}

/* 0 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "host", required_argument, NULL, 'H' },     { "delay", required_argument, NULL, 'd' },
		{ "batch", no_argument, NULL, 'b' },          { "iterations", required_argument, NULL, 'n' },
		{ "sort", required_argument, NULL, 's' },     { "reverse", no_argument, NULL, 'r' },
		{ "filter", required_argument, NULL, 'f' },   { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },        { NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "H:d:bn:s:rf:h", longs, NULL)) != -1) {
		switch (c) {
		case 'H':
			o->uri = optarg;
			break;
		case 'd':
			if (parse_delay(optarg, &o->interval_ms)) {
				fprintf(stderr, "hvtop: -d %s: give seconds between 0.05 and 3600\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'b':
			o->batch = true;
			break;
		case 'n':
			if (parse_count(optarg, &o->count)) {
				fprintf(stderr, "hvtop: -n %s: give a count of at least 1\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (top_col_parse(optarg, &o->sort)) {
				fprintf(stderr, "hvtop: -s %s: sort by name, state, cpu, memory, uptime, heartbeat, checkpoints, pool or status\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'r':
			o->reverse = true;
			break;
		case 'f':
			o->filter = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("hvtop (hvkit) %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hvtop: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct options o = { .interval_ms = 1000, .count = -1, .sort = TOP_COL_NAME };
	struct top_model m;
	struct top_conn t;
	char err[4400];
	int rc, status = parse_args(argc, argv, &o);

	if (status >= 0)
		return status;
	setlocale(LC_ALL, "");
	signal(SIGPIPE, SIG_IGN);
	if (!o.batch && (!isatty(0) || !isatty(1))) {
		fprintf(stderr, "hvtop: standard input and output must be a terminal (or use -b)\n");
		return EXIT_USAGE;
	}
	rc = top_conn_open(&t, o.uri, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "hvtop: %s\n", err);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_NOCONN;
	}
	top_model_init(&m);
	m.sort = o.sort;
	m.reverse = o.reverse;
	snprintf(m.filter, sizeof(m.filter), "%s", o.filter ? o.filter : "");
	rc = top_conn_subscribe(&t, &m);
	if (rc == 0)
		rc = o.batch ? top_batch_run(&t, &m, o.interval_ms, o.count)
			     : top_ui_run(&t, &m, t.uri, o.interval_ms, o.count);
	if (rc) {
		fprintf(stderr, "hvtop: lost the connection to hvd at %s: %s\n", t.path, strerror(-rc));
		status = EXIT_NOCONN;
	} else {
		status = EXIT_OK;
	}
	top_conn_close(&t);
	top_model_free(&m);
	return status;
}
