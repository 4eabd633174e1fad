/*
 * hvctl: options, the interactive shell (libedit: history, multi-line input, completion),
 * scripts from -c, -f, a file or standard input, and the exit status of DESIGN.md:
 * 0 all succeeded, 1 a cmdlet reported an error, 2 usage or parse error, 3 no connection.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/cli.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_NOCONN = 3 };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hvctl [-H URI] [-F SSH_CONFIG] [-o table|list|json|jsonl|csv] [-c COMMANDS | -f FILE | FILE]\n"
		"       hvctl --bridge [--socket PATH]\n"
		"Runs Hyper-V's cmdlets against hvd; interactive when neither -c nor a file is given.\n"
		"\n"
		"  -H, --host URI      unix:///path/to/hvd.sock or ssh://[user@]host[:port][/socket]\n"
		"                      (default: $HVKIT_HOST, else the local hvd's socket)\n"
		"  -F, --ssh-config FILE  SSH settings from FILE instead of ~/.ssh/config (as ssh -F;\n"
		"                      also $HVKIT_SSH_CONFIG)\n"
		"      --accept-new-host-key  trust and record an SSH host key not yet known\n"
		"  -c, --command TEXT  run TEXT and exit\n"
		"  -f, --file FILE     run the script FILE and exit (- for standard input)\n"
		"  -o, --output FMT    how results are written: table (default), list, json, jsonl, csv\n"
		"      --bridge        relay standard input and output to the local hvd (for SSH)\n"
		"      --socket PATH   the socket --bridge connects to\n"
		"      --complete LINE print the completions of LINE (for shell completion scripts)\n"
		"      --list-cmdlets  print each cmdlet and its parameters, one per line\n"
		"  -h, --help, --version\n"
		"\n"
		"Exit status: 0 all succeeded, 1 a cmdlet reported an error, 2 usage or parse error,\n"
		"3 no connection to hvd.  Get-Help lists the cmdlets; man hvkit-cmdlets describes them.\n");
}

static int parse_output(const char *s, enum cli_output *out)
{
	static const char *const names[] = { "table", "list", "json", "jsonl", "csv" };
	int i;

	for (i = 0; i < 5; i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum cli_output)i;
			return 0;
		}
	}
	return -1;
}

static void report_parse_error(const char *origin, const struct cli_parse_error *e)
{
	fprintf(stderr, "hvctl: %s:%d:%d: parse error: %s\n", origin, e->line, e->col, e->msg);
}

static int status_of(const struct cli_ctx *ctx, int rc)
{
	if (ctx->no_connection)
		return EXIT_NOCONN;
	return rc || ctx->errors ? EXIT_ERROR : EXIT_OK;
}

static int run_text(struct cli_ctx *ctx, const char *text, const char *origin)
{
	struct cli_parse_error err;
	struct cli_node *script;
	int rc;

	if (cli_parse(text, &script, &err)) {
		report_parse_error(origin, &err);
		return EXIT_USAGE;
	}
	cli_ctx_keep(ctx, script);
	ctx->origin = strchr(text, '\n') && text[strcspn(text, "\n") + 1] ? origin : NULL;
	rc = cli_exec_script(ctx, script);
	return status_of(ctx, rc);
}

static char *read_all(FILE *f)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			if (!buf)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		free(buf);
		errno = EINVAL;
		return NULL;
	}
	return buf;
}

static int run_file(struct cli_ctx *ctx, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	char *text;
	int rc;

	if (!f) {
		fprintf(stderr, "hvctl: cannot open %s: %s\n", path, strerror(errno));
		return EXIT_USAGE;
	}
	text = read_all(f);
	if (f != stdin)
		fclose(f);
	if (!text) {
		fprintf(stderr, "hvctl: cannot read %s: %s\n", path, errno == EINVAL ? "it is not text" : strerror(errno));
		return EXIT_USAGE;
	}
	rc = run_text(ctx, text, strcmp(path, "-") ? path : "<stdin>");
	free(text);
	return rc;
}

/* ---- interactive ---- */

/* mkdir -p for the history's folder; failures show up when the history is written. */
static void make_dirs(char *path)
{
	char *s;

	for (s = path + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(path, 0700);
			*s = '/';
		}
	}
	mkdir(path, 0700);
}

/* $XDG_STATE_HOME/hvkit/hvctl_history, else ~/.local/state/hvkit/hvctl_history. */
static char *history_path(void)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *dir = NULL, *path = NULL;

	if (state && state[0] == '/') {
		if (asprintf(&dir, "%s/hvkit", state) < 0)
			return NULL;
	} else if (home && home[0] == '/') {
		if (asprintf(&dir, "%s/.local/state/hvkit", home) < 0)
			return NULL;
	}
	if (!dir)
		return NULL;
	make_dirs(dir);
	if (asprintf(&path, "%s/hvctl_history", dir) < 0)
		path = NULL;
	free(dir);
	return path;
}

static struct cli_ctx *completion_ctx;
static char **completions;
static size_t ncompletions, next_completion;

static char *complete_next(const char *text, int state)
{
	(void)text;
	if (state == 0)
		next_completion = 0;
	if (next_completion < ncompletions)
		return strdup(completions[next_completion++]);
	return NULL;
}

static char **complete(const char *text, int start, int end)
{
	char *line = strndup(rl_line_buffer, (size_t)end), *out = NULL, *s, *save = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&out, &len);

	(void)text;
	(void)start;
	for (i = 0; i < ncompletions; i++)
		free(completions[i]);
	free(completions);
	completions = NULL;
	ncompletions = 0;
	if (!f || !line) {
		free(line);
		return NULL;
	}
	cli_complete_words(completion_ctx, line, f);
	fclose(f);
	for (s = strtok_r(out, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
		completions = realloc(completions, (ncompletions + 1) * sizeof(*completions));
		if (!completions)
			abort();
		completions[ncompletions++] = strdup(s);
	}
	free(out);
	free(line);
	rl_attempted_completion_over = 1;
	return ncompletions ? rl_completion_matches(text, complete_next) : NULL;
}

static int interactive(struct cli_ctx *ctx)
{
	char *hist = history_path(), *pending = NULL;
	int last = EXIT_OK;

	ctx->interactive = true;
	completion_ctx = ctx;
	rl_readline_name = "hvctl";
	rl_attempted_completion_function = complete;
	rl_completer_word_break_characters = " \t\n|;({";
	using_history();
	if (hist)
		read_history(hist);
	stifle_history(2000);
	for (;;) {
		char prompt[300], *line, *text;
		struct cli_parse_error err;
		struct cli_node *script;

		if (ctx->session_host)
			snprintf(prompt, sizeof(prompt), "[%s]: PS hvctl> ", ctx->session_host);
		else
			snprintf(prompt, sizeof(prompt), "PS hvctl> ");
		line = readline(pending ? ">> " : prompt);
		if (!line) {
			if (pending) {
				/* Ctrl-D in a continuation drops what was being typed. */
				free(pending);
				pending = NULL;
				fputc('\n', stdout);
				continue;
			}
			fputc('\n', stdout);
			break;
		}
		if (!pending && (!strcmp(line, "exit") || !strcmp(line, "quit"))) {
			free(line);
			break;
		}
		if (pending) {
			if (asprintf(&text, "%s\n%s", pending, line) < 0)
				abort();
			free(pending);
			pending = NULL;
		} else {
			text = strdup(line);
		}
		free(line);
		if (cli_parse(text, &script, &err)) {
			if (err.incomplete) {
				pending = text;
				continue;
			}
			report_parse_error("<prompt>", &err);
			last = EXIT_USAGE;
		} else {
			cli_ctx_keep(ctx, script);
			ctx->errors = 0;
			ctx->no_connection = false;
			ctx->conn_failed = false; /* each command may try to connect again */
			last = status_of(ctx, cli_exec_script(ctx, script));
		}
		if (text[strspn(text, " \t\n")])
			add_history(text);
		free(text);
	}
	if (hist) {
		write_history(hist);
		free(hist);
	}
	return last;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "command", required_argument, NULL, 'c' },
		{ "file", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "bridge", no_argument, NULL, 'B' },
		{ "socket", required_argument, NULL, 'S' },
		{ "complete", required_argument, NULL, 'C' },
		{ "list-cmdlets", no_argument, NULL, 'L' },
		{ "ssh-config", required_argument, NULL, 'F' },
		{ "accept-new-host-key", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *command = NULL, *file = NULL, *socket = NULL;
	struct cli_ctx ctx;
	bool bridge = false;
	int c, rc;

	cli_ctx_init(&ctx);
	while ((c = getopt_long(argc, argv, "+H:c:f:o:F:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			ctx.ssh_config = optarg;
			break;
		case 'A':
			ctx.accept_new_host_key = true;
			break;
		case 'H':
			ctx.uri = optarg;
			break;
		case 'c':
			command = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'o':
			if (parse_output(optarg, &ctx.output)) {
				fprintf(stderr, "hvctl: unknown output format '%s': use table, list, json, jsonl or csv\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'B':
			bridge = true;
			break;
		case 'S':
			socket = optarg;
			break;
		case 'C':
			cli_complete_words(&ctx, optarg, stdout);
			cli_ctx_free(&ctx);
			return EXIT_OK;
		case 'L': {
			const struct cli_cmdlet *cm;
			size_t i, k;

			for (i = 0; (cm = cli_cmdlet_at(i)); i++) {
				printf("%s", cm->name);
				for (k = 0; cm->params[k].name; k++)
					printf(" -%s", cm->params[k].name);
				printf("\n");
			}
			return EXIT_OK;
		}
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("hvctl (hvkit) %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (bridge)
		return cli_bridge(socket);
	if (optind + 2 == argc && !strcmp(argv[optind], "__complete")) {
		cli_complete_words(&ctx, argv[optind + 1], stdout);
		cli_ctx_free(&ctx);
		return EXIT_OK;
	}
	if (optind < argc) {
		if (command || file || optind + 1 < argc) {
			fprintf(stderr, "hvctl: give one of -c, -f or a script file\n");
			return EXIT_USAGE;
		}
		file = argv[optind];
	}
	if (command && file) {
		fprintf(stderr, "hvctl: give one of -c, -f or a script file\n");
		return EXIT_USAGE;
	}
	if (command)
		rc = run_text(&ctx, command, "-c");
	else if (file)
		rc = run_file(&ctx, file);
	else if (isatty(0))
		rc = interactive(&ctx);
	else
		rc = run_file(&ctx, "-");
	cli_ctx_free(&ctx);
	return rc;
}
