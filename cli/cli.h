/* hvctl: the language (parse.c), its evaluation (exec.c), the cmdlet table (cmdlets.c,
 * pipeline.c), output (format.c) and the connection to hvd (transport.c). */
#ifndef HVKIT_CLI_H
#define HVKIT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "wire-protocol/conn.h"
#include "wire-protocol/wire.h"

/* ---- syntax tree (parse.c) ---- */
enum cli_node_kind {
	N_SCRIPT,     /* kids: statements */
	N_PIPELINE,   /* kids: elements (N_COMMAND or expressions) */
	N_ASSIGN,     /* text: variable name; kids[0]: pipeline */
	N_COMMAND,    /* text: command name; kids: N_PARAM and argument expressions */
	N_PARAM,      /* text: parameter name as typed (without '-'); kids[0]: value after ':' */
	N_LITERAL,    /* value */
	N_STRING_EXPAND, /* text: "..." body with $variables to expand */
	N_VARIABLE,   /* text: name */
	N_MEMBER,     /* text: property name; kids[0]: object */
	N_INDEX,      /* kids[0]: object, kids[1]: index */
	N_ARRAY,      /* kids: items */
	N_SUBEXPR,    /* kids[0]: pipeline or script; value of (...), $(...), @(...) */
	N_BLOCK,      /* kids[0]: script; a script block { ... } */
	N_HASH,       /* kids: key, value, key, value ... */
	N_BINARY,     /* text: operator ("-eq", "+", ...); kids[0], kids[1] */
	N_UNARY,      /* text: operator ("-not", "!", "-"); kids[0] */
	N_IF,         /* kids: condition, block, [condition, block]... [else block] */
	N_FOREACH,    /* text: loop variable; kids[0]: collection, kids[1]: block */
	N_FUNCTION,   /* text: name; kids[0]: N_ARRAY of N_PARAM (name, [default]), kids[1]: block */
	N_RETURN,     /* kids[0]: pipeline (optional) */
	N_BREAK,
	N_CONTINUE,
};

struct cli_node {
	enum cli_node_kind kind;
	char *text;
	struct wire_value *value;
	struct cli_node **kids;
	size_t nkids, capkids;
	int line, col;
};

struct cli_parse_error {
	int line, col;
	bool incomplete; /* the input ended early: an interactive shell asks for more */
	char msg[256];
};

/* Parses a whole script.  0 and *out, or -EINVAL with err filled in. */
int cli_parse(const char *src, struct cli_node **out, struct cli_parse_error *err);
void cli_node_free(struct cli_node *n);

/* ---- the cmdlet table (cmdlets.c) ---- */
enum cli_ptype {
	P_STRING,  /* one string */
	P_STRINGS, /* one or more strings (a list) */
	P_INT,     /* a whole number; size literals allowed */
	P_SWITCH,  /* present or not; -Switch:$false allowed */
	P_BOOL,    /* $true or $false */
	P_BLOCK,   /* a script block */
	P_ANY,     /* any value, as given */
};

#define PF_MANDATORY 1u
#define PF_NOPOS (-1)

struct cli_param {
	const char *name;
	enum cli_ptype type;
	int position; /* PF_NOPOS when named only */
	unsigned flags;
	const char *aliases; /* comma-separated, or NULL */
	const char *help;
};

struct cli_ctx;
struct cli_bound;
struct cli_stage;

/* A batch cmdlet gets all its input at once (borrowed) and appends what it outputs to out.
 * 0, or -1 after a terminating error it reported. */
typedef int (*cli_run_fn)(struct cli_ctx *ctx, const struct cli_bound *args, struct wire_value *input,
			  struct wire_value *out);
/* A streaming cmdlet: begin once, process each input item (borrowed) as it comes, end once;
 * it outputs with cli_emit.  0, or -1 after a terminating error it reported. */
typedef int (*cli_stage_fn)(struct cli_ctx *ctx, struct cli_stage *st);
typedef int (*cli_process_fn)(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item);

enum cli_cmdlet_flags {
	CLI_DAEMON = 1,  /* needs hvd */
	CLI_CHANGES = 2, /* changes something: takes -WhatIf and -Confirm */
	CLI_CONFIRM = 4, /* asks before it acts, as Hyper-V does (Remove-VM) */
};

struct cli_cmdlet {
	const char *name;
	const char *aliases; /* comma-separated, or NULL */
	const char *synopsis;
	const struct cli_param *params;
	cli_run_fn run;          /* batch, or NULL */
	cli_stage_fn begin;      /* streaming, each may be NULL */
	cli_process_fn process;
	cli_stage_fn end;
	unsigned flags;
	const char *example;     /* shown by Get-Help; "command -> what it does" lines */
};

enum cli_error_action { EA_CONTINUE, EA_STOP, EA_SILENTLY_CONTINUE, EA_IGNORE };

#define CLI_MAX_PARAMS 24
#define CLI_MAX_CALL_DEPTH 100
struct cli_bound {
	const struct cli_cmdlet *cmdlet;
	struct wire_value *values[CLI_MAX_PARAMS]; /* NULL when not given */
	/* Common parameters. */
	bool whatif;
	int confirm; /* -1 not given, 0 -Confirm:$false, 1 -Confirm */
	int error_action; /* -1 not given, else an enum cli_error_action */
	struct wire_value *filter; /* a Where-Object filter pushed down to this cmdlet, or NULL */
	struct wire_value *computers; /* -ComputerName: the hosts to run on, or NULL */
};

/* One running stage of a pipeline. */
struct cli_stage {
	const struct cli_cmdlet *cmdlet;
	const struct cli_node *function; /* a user function instead of a cmdlet */
	const struct cli_node *node;     /* where it stands in the script */
	struct cli_bound args;
	struct cli_pipe *pipe;
	size_t index;
	struct wire_value *acc; /* input collected for a batch cmdlet, or for a streaming one's own use */
	int64_t count;          /* a streaming cmdlet's own counter */
};

struct cli_pipe;

/* Outputs item (consumed) from a stage.  0, CLI_STOP once nothing downstream wants more from
 * this stage (stop producing), or -1 after a terminating error downstream. */
#define CLI_STOP 1
int cli_emit(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item);
/* Tells the stages before st to stop (Select-Object -First). */
void cli_stop_upstream(struct cli_ctx *ctx, struct cli_stage *st);
/* For a stage that produces over time (Watch-VM): when it is the last stage of a statement
 * whose output goes to the screen, writes what it output so far now (a table's header only
 * once) instead of at the statement's end. */
void cli_flush_live(struct cli_ctx *ctx, struct cli_stage *st);
/* Whether name matches the wildcard pattern or one of a list of them (case ignored); true
 * when patterns is NULL. */
bool cli_name_matches(const struct wire_value *patterns, const char *name);
/* Watch-VM (watch.c), a streaming cmdlet's end. */
int cli_watch_vm(struct cli_ctx *ctx, struct cli_stage *st);
/* -WhatIf and -Confirm: whether to go ahead with action on target.  Prints "What if: ..."
 * for -WhatIf; asks on a terminal; without one, refuses (and reports) a cmdlet that must
 * ask unless -Force or -Confirm:$false. */
bool cli_should_process(struct cli_ctx *ctx, const struct cli_bound *b, const char *action, const char *target);

const struct cli_cmdlet *cli_cmdlet_find(const char *name);
const struct cli_cmdlet *cli_cmdlet_at(size_t i); /* NULL past the end */
/* The value bound to a parameter, or NULL. */
struct wire_value *cli_arg(const struct cli_bound *b, const char *name);
bool cli_switch(const struct cli_bound *b, const char *name);

/* Cmdlets defined in pipeline.c (the object pipeline) and cmdlets.c (hvd's). */
extern const struct cli_cmdlet cli_pipeline_cmdlets[];
extern const struct cli_cmdlet cli_output_cmdlets[];
extern const struct cli_cmdlet cli_daemon_cmdlets[];
extern const struct cli_cmdlet cli_checkpoint_cmdlets[]; /* cmdlets-ckpt.c */
extern const struct cli_cmdlet cli_pool_cmdlets[];       /* cmdlets-pool.c */
/* Shared by the cmdlet files: copies the bound parameters named in list into args; calls proc
 * (consuming args) and, when show, outputs the reply's objects; one call per VM that b's
 * -Name or the input names (after -WhatIf/-Confirm), sent together. */
void cli_pass(const struct cli_bound *b, struct wire_value *args, const char *const *list);
int cli_call_out(struct cli_ctx *ctx, uint32_t proc, struct wire_value *args, bool show, struct wire_value *out);
int cli_per_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, uint32_t proc,
	       const char *const *pass_names, struct wire_value *out);
/* path made absolute against the working directory (New-VHD, New-VMPool): as it is when it
 * is absolute already or the daemon is on another host (over ssh), where this directory means
 * nothing. */
struct wire_value *cli_path_abs(struct cli_ctx *ctx, const char *path);

/* ---- evaluation (exec.c) ---- */
enum cli_output { OUT_TABLE, OUT_LIST, OUT_JSON, OUT_JSONL, OUT_CSV };

struct cli_var {
	char *name;
	struct wire_value *value;
};

struct cli_ctx {
	const char *uri;         /* -H, or NULL for the default socket */
	const char *ssh_config;  /* -F */
	char *session_host;      /* Enter-PSSession: the host the prompt works on */
	char *session_uri;
	bool accept_new_host_key;
	struct wire_conn *conn;  /* opened on first use */
	bool conn_failed;
	enum cli_output output;
	bool interactive;
	int errors;              /* errors reported so far */
	bool no_connection;      /* the last failure was a connection failure */
	struct cli_var *vars;
	size_t nvars, capvars;
	const char *cmdlet_name; /* the cmdlet running, for error messages */
	int error_action;        /* of the cmdlet running: enum cli_error_action */
	bool stop_script;        /* an error under -ErrorAction Stop ends the script */
	enum { FLOW_NORMAL, FLOW_RETURN, FLOW_BREAK, FLOW_CONTINUE } flow;
	size_t scope_start;      /* variables from here on belong to the innermost function */
	struct cli_node **functions;
	size_t nfunctions, capfunctions;
	bool yes_to_all, no_to_all;
	int call_depth;          /* functions being run, one inside another */
	const char *origin;      /* the script's name, when errors should say where (scripts of several lines) */
	int line, col;           /* where the statement running stands */
	FILE *out;
	/* The list Out-Default will print at the end of the statement running, and whether part of
	 * it was already written as it came (cli_flush_live). */
	struct wire_value *live_sink;
	bool live_started;
	/* Script blocks referred to by ScriptBlock values; the trees they sit in are kept in
	 * scripts until the context ends. */
	const struct cli_node **blocks;
	size_t nblocks, capblocks;
	struct cli_node **scripts;
	size_t nscripts, capscripts;
};

void cli_ctx_init(struct cli_ctx *ctx);
void cli_ctx_free(struct cli_ctx *ctx);
/* Runs a parsed script, writing results through Out-Default.  0, or -1 if anything failed. */
int cli_exec_script(struct cli_ctx *ctx, const struct cli_node *script);
/* Evaluates a script block with $_ set to item; the result list is returned (owned). */
int cli_exec_block(struct cli_ctx *ctx, const struct cli_node *block, struct wire_value *item,
		   struct wire_value **result);
/* The script block a ScriptBlock value stands for, or NULL. */
const struct cli_node *cli_block_node(struct cli_ctx *ctx, const struct wire_value *v);
/* Keeps a parsed script alive as long as the context (script blocks point into it). */
void cli_ctx_keep(struct cli_ctx *ctx, struct cli_node *script);
void cli_var_set(struct cli_ctx *ctx, const char *name, struct wire_value *value); /* consumes */
struct wire_value *cli_var_get(struct cli_ctx *ctx, const char *name);            /* borrowed */
/* Reports an error (PowerShell's concise form: "Cmdlet: message") and counts it. */
void cli_error(struct cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_error_record(struct cli_ctx *ctx, const struct wire_value *rec);
/* PowerShell's truthiness, comparison and conversion rules, shared by the operators and by
 * Where-Object / Sort-Object. */
bool cli_truthy(const struct wire_value *v);
int cli_compare(const struct wire_value *a, const struct wire_value *b, bool *comparable);
bool cli_equal(const struct wire_value *a, const struct wire_value *b);
bool cli_compare_lists(const struct wire_value *a, const struct wire_value *b); /* item by item, cli_equal */
int cli_to_int(const struct wire_value *v, int64_t *out);
bool cli_to_double(const struct wire_value *v, double *out);
/* The display string of a value (what Format-Table shows), appended to out. */
void cli_display(const struct wire_value *v, struct wire_buf *out);
/* Applies a binary operator ("-eq", "-like", "+", ...) to two values. */
int cli_binary_op(struct cli_ctx *ctx, const char *op, const struct wire_value *a, const struct wire_value *b,
		  struct wire_value **out);
/* Internal to the evaluator (eval.c, bind.c, exec.c). */
struct wire_value *cli_eval(struct cli_ctx *ctx, const struct cli_node *n);
void cli_unroll(struct wire_value *list, struct wire_value *v); /* consumes v; lists unrolled */
struct wire_value *cli_collapse(struct wire_value *list);       /* consumes list */
int cli_run_pipeline(struct cli_ctx *ctx, const struct cli_node *pl, struct wire_value *sink);
int cli_run_script(struct cli_ctx *ctx, const struct cli_node *script, struct wire_value *collect);
void cli_scope_pop(struct cli_ctx *ctx, size_t start);
/* A daemon cmdlet's run on each -ComputerName host, outputs tagged PSComputerName (remote.c). */
int cli_run_on_hosts(struct cli_ctx *ctx, const struct cli_cmdlet *c, const struct cli_bound *b, struct wire_value *in,
		     struct wire_value *out);
int cli_bind(struct cli_ctx *ctx, const struct cli_cmdlet *c, const struct cli_node *cmd, struct cli_bound *b);
void cli_unbind(struct cli_bound *b);
const struct cli_param *cli_common_param(size_t k); /* NULL past the end */
bool cli_param_named(const struct cli_cmdlet *c, const char *name);
/* Makes host (a name for ssh://NAME, or a URI) the connection cli_call uses; returns the
 * one it replaced, for cli_host_leave (remote.c). */
struct cli_host_saved {
	const char *uri;
	struct wire_conn *conn;
	bool conn_failed;
};
void cli_host_enter(struct cli_ctx *ctx, const char *host, struct cli_host_saved *saved);
void cli_host_leave(struct cli_ctx *ctx, struct cli_host_saved *saved);
char *cli_host_uri(const char *host);

/* Parses a number with an optional size suffix (KB MB GB TB PB, binary) as PowerShell does. */
bool cli_parse_number(const char *s, size_t len, struct wire_value **out);

/* ---- the daemon (transport.c) ---- */
int cli_connect(struct cli_ctx *ctx); /* 0, or -1 after reporting why */
/* Calls hvd; on success *reply is the reply list (ErrorRecords already reported and
 * removed).  -1 after reporting a failure. */
int cli_call(struct cli_ctx *ctx, uint32_t proc, const struct wire_value *args, struct wire_value **reply);
/* One call per item of args_list, all sent before any reply is awaited; replies' objects go
 * to out (may be NULL), errors are reported (and counted).  -1 only when the connection
 * failed. */
int cli_call_each(struct cli_ctx *ctx, uint32_t proc, const struct wire_value *args_list, struct wire_value *out);
int cli_bridge(const char *socket_path);
#include "cli/ssh.h"
/* Invoke-Command, Enter-PSSession, Exit-PSSession (remote.c). */
int cli_invoke_command(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out);
int cli_enter_session(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out);
int cli_exit_session(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out);
/* Connect-VMConsole (console.c). */
int cli_run_console(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out);

/* ---- output (format.c) ---- */
void cli_out_default(struct cli_ctx *ctx, struct wire_value *items);
/* Out-Default of a part of a statement's output; continued: a part came before (a table's
 * header is not repeated). */
void cli_out_part(struct cli_ctx *ctx, struct wire_value *items, bool continued);
/* What Out-Default would write for items in a given output mode, appended to out. */
void cli_render(enum cli_output mode, const struct wire_value *items, struct wire_buf *out);
void cli_format_table(const struct wire_value *items, const struct wire_value *props, struct wire_buf *out);
void cli_format_list(const struct wire_value *items, const struct wire_value *props, struct wire_buf *out);
void cli_format_csv(const struct wire_value *items, struct wire_buf *out);
void cli_format_json(const struct wire_value *items, int depth, bool compress, struct wire_buf *out);

/* ---- help (help.c) and completion (complete.c) ---- */
void cli_help_cmdlet(const struct cli_cmdlet *c, FILE *f);
/* The completions of the last word of line, one a line (complete.c).  ctx may be NULL: then
 * nothing is asked of hvd. */
void cli_complete_words(struct cli_ctx *ctx, const char *line, FILE *f);

#endif
