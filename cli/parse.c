/*
 * hvctl's language, scanned and parsed in one pass (a recursive descent over characters,
 * because PowerShell's tokens depend on whether it is reading a command's arguments or an
 * expression).  The subset it accepts is documented in hvkit-cmdlets(7).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

struct parser {
	const char *s;
	size_t pos;
	int line, col;
	int depth;
	struct cli_parse_error *err;
	bool failed;
};

#define MAX_NESTING 200

static struct cli_node *node(struct parser *p, enum cli_node_kind kind)
{
	struct cli_node *n = calloc(1, sizeof(*n));

	if (!n)
		abort();
	n->kind = kind;
	n->line = p->line;
	n->col = p->col;
	return n;
}

static void add(struct cli_node *n, struct cli_node *kid)
{
	if (n->nkids == n->capkids) {
		n->capkids = n->capkids ? n->capkids * 2 : 4;
		n->kids = realloc(n->kids, n->capkids * sizeof(*n->kids));
		if (!n->kids)
			abort();
	}
	n->kids[n->nkids++] = kid;
}

void cli_node_free(struct cli_node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->nkids; i++)
		cli_node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	wire_value_unref(n->value);
	free(n);
}

static char peek_at(const struct parser *p, size_t k)
{
	size_t i;

	for (i = 0; i < k; i++)
		if (!p->s[p->pos + i])
			return '\0';
	return p->s[p->pos + k];
}

static char peek(const struct parser *p)
{
	return p->s[p->pos];
}

static char next(struct parser *p)
{
	char c = p->s[p->pos];

	if (!c)
		return c;
	p->pos++;
	if (c == '\n') {
		p->line++;
		p->col = 1;
	} else {
		p->col++;
	}
	return c;
}

static void fail(struct parser *p, bool incomplete, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct parser *p, bool incomplete, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	p->err->line = p->line;
	p->err->col = p->col;
	p->err->incomplete = incomplete;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
}

/* Spaces, comments and line continuations (a backtick at the end of a line); newlines too
 * when newlines is set. */
static void skip_space(struct parser *p, bool newlines)
{
	for (;;) {
		char c = peek(p);

		if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
			next(p);
		} else if (c == '`' && (peek_at(p, 1) == '\n' || (peek_at(p, 1) == '\r' && peek_at(p, 2) == '\n'))) {
			next(p);
			if (peek(p) == '\r')
				next(p);
			next(p);
		} else if (c == '<' && peek_at(p, 1) == '#') {
			while (peek(p) && !(peek(p) == '#' && peek_at(p, 1) == '>'))
				next(p);
			if (!peek(p)) {
				fail(p, true, "the block comment <# is not closed with #>");
				return;
			}
			next(p);
			next(p);
		} else if (c == '#') {
			while (peek(p) && peek(p) != '\n')
				next(p);
		} else {
			return;
		}
	}
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static bool ends_bareword(char c)
{
	return !c || strchr(" \t\r\n|;,(){}", c) != NULL;
}

static char *take(struct parser *p, size_t start)
{
	char *t = strndup(p->s + start, p->pos - start);

	if (!t)
		abort();
	return t;
}

static struct cli_node *parse_pipeline(struct parser *p);
static struct cli_node *parse_script(struct parser *p, char end);
static struct cli_node *parse_expr(struct parser *p);

static struct cli_node *literal(struct parser *p, struct wire_value *v)
{
	struct cli_node *n = node(p, N_LITERAL);

	n->value = v;
	return n;
}

static struct cli_node *parse_variable(struct parser *p)
{
	struct cli_node *n = node(p, N_VARIABLE);
	size_t start;

	next(p); /* $ */
	if (peek(p) == '{') {
		next(p);
		start = p->pos;
		while (peek(p) && peek(p) != '}')
			next(p);
		if (!peek(p)) {
			fail(p, true, "the variable name ${ is not closed with }");
			return n;
		}
		n->text = take(p, start);
		next(p);
		return n;
	}
	start = p->pos;
	if (peek(p) == '_' && !is_name_char(peek_at(p, 1))) {
		next(p);
	} else {
		if (!strncasecmp(p->s + p->pos, "env:", 4))
			p->pos += 4, p->col += 4;
		while (is_name_char(peek(p)))
			next(p);
	}
	if (p->pos == start)
		fail(p, false, "a variable name must follow $");
	n->text = take(p, start);
	return n;
}

/* '...' with '' for a quote; "..." with `-escapes and $variables expanded when run. */
static struct cli_node *parse_string(struct parser *p)
{
	char q = next(p);
	struct wire_buf b = { 0 };
	struct cli_node *n = node(p, N_STRING_EXPAND), *lit;
	int line = p->line, col = p->col - 1;

	for (;;) {
		char c = peek(p);

		if (!c) {
			p->line = line;
			p->col = col;
			fail(p, true, "the string starting here has no closing %c", q);
			break;
		}
		if (c == q && peek_at(p, 1) == q) {
			next(p);
			next(p);
			wire_buf_put(&b, &q, 1);
			continue;
		}
		if (c == q) {
			next(p);
			break;
		}
		if (q == '"' && c == '`' && peek_at(p, 1)) {
			char e;

			next(p);
			e = next(p);
			switch (e) {
			case 'n': e = '\n'; break;
			case 't': e = '\t'; break;
			case 'r': e = '\r'; break;
			case '0': e = '\0'; break;
			case 'a': e = '\a'; break;
			case 'e': e = 27; break;
			default: break;
			}
			if (e)
				wire_buf_put(&b, &e, 1);
			continue;
		}
		if (q == '"' && c == '$' && (is_name_char(peek_at(p, 1)) || peek_at(p, 1) == '{' || peek_at(p, 1) == '(')) {
			if (b.len) {
				add(n, literal(p, wire_string_len((const char *)b.data, b.len)));
				b.len = 0;
			}
			if (peek_at(p, 1) == '(') {
				struct cli_node *sub = node(p, N_SUBEXPR);

				next(p);
				next(p);
				add(sub, parse_script(p, ')'));
				if (peek(p) == ')')
					next(p);
				add(n, sub);
			} else {
				add(n, parse_variable(p));
			}
			continue;
		}
		wire_buf_put(&b, &c, 1);
		next(p);
	}
	if (n->nkids == 0) {
		/* Nothing to expand: a plain literal. */
		n->kind = N_LITERAL;
		n->value = wire_string_len(b.data ? (const char *)b.data : "", b.len);
	} else if (b.len) {
		lit = literal(p, wire_string_len((const char *)b.data, b.len));
		add(n, lit);
	}
	wire_buf_free(&b);
	return n;
}

bool cli_parse_number(const char *s, size_t len, struct wire_value **out)
{
	static const struct {
		const char *suffix;
		int shift;
	} sizes[] = { { "KB", 10 }, { "MB", 20 }, { "GB", 30 }, { "TB", 40 }, { "PB", 50 } };
	char buf[64], *end;
	size_t i, n = len;
	int shift = 0;
	bool neg = false, is_float;
	double d;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (n > 2) {
		for (i = 0; i < 5; i++) {
			if (strcasecmp(buf + n - 2, sizes[i].suffix) == 0) {
				shift = sizes[i].shift;
				n -= 2;
				buf[n] = '\0';
				break;
			}
		}
	}
	s = buf;
	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1])))
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		unsigned long long v;

		errno = 0;
		v = strtoull(s + 2, &end, 16);
		if (*end || errno || end == s + 2 || v > (unsigned long long)INT64_MAX >> shift)
			return false;
		*out = wire_int(neg ? -(int64_t)(v << shift) : (int64_t)(v << shift));
		return true;
	}
	is_float = strpbrk(s, ".eE") != NULL;
	errno = 0;
	if (!is_float) {
		unsigned long long v = strtoull(s, &end, 10);

		if (*end || errno || v > (unsigned long long)INT64_MAX >> shift)
			return false;
		*out = wire_int(neg ? -(int64_t)(v << shift) : (int64_t)(v << shift));
		return true;
	}
	d = strtod(s, &end);
	if (*end || errno)
		return false;
	d *= (double)(1ull << shift);
	if (neg)
		d = -d;
	if (shift && d == (double)(int64_t)d)
		*out = wire_int((int64_t)d);
	else
		*out = wire_double(d);
	return true;
}

static struct cli_node *parse_hash(struct parser *p)
{
	struct cli_node *n = node(p, N_HASH);

	next(p); /* @ */
	next(p); /* { */
	for (;;) {
		struct cli_node *key;
		size_t start;

		skip_space(p, true);
		while (peek(p) == ';') {
			next(p);
			skip_space(p, true);
		}
		if (peek(p) == '}') {
			next(p);
			return n;
		}
		if (!peek(p)) {
			fail(p, true, "the hash table @{ is not closed with }");
			return n;
		}
		if (peek(p) == '\'' || peek(p) == '"') {
			key = parse_string(p);
		} else {
			start = p->pos;
			while (is_name_char(peek(p)) || peek(p) == '-')
				next(p);
			if (p->pos == start) {
				fail(p, false, "a hash table key must be a name or a string, not '%c'", peek(p));
				return n;
			}
			key = literal(p, wire_string_len(p->s + start, p->pos - start));
		}
		add(n, key);
		skip_space(p, false);
		if (peek(p) != '=') {
			fail(p, !peek(p), "'=' must follow the hash table key");
			return n;
		}
		next(p);
		skip_space(p, true);
		add(n, parse_pipeline(p));
		if (p->failed)
			return n;
	}
}

static struct cli_node *parse_group(struct parser *p, char open)
{
	struct cli_node *n = node(p, N_SUBEXPR);
	char close = open == '{' ? '}' : ')';

	next(p);
	if (open == '{')
		n->kind = N_BLOCK;
	add(n, parse_script(p, close));
	if (peek(p) == close)
		next(p);
	return n;
}

static struct cli_node *postfix(struct parser *p, struct cli_node *n)
{
	while (!p->failed) {
		if (peek(p) == '.' && (is_name_char(peek_at(p, 1)) || peek_at(p, 1) == '\'' || peek_at(p, 1) == '"')) {
			struct cli_node *m = node(p, N_MEMBER);
			size_t start;

			next(p);
			if (peek(p) == '\'' || peek(p) == '"') {
				struct cli_node *s = parse_string(p);

				m->text = strdup(s->value ? s->value->str.p : "");
				cli_node_free(s);
			} else {
				start = p->pos;
				while (is_name_char(peek(p)))
					next(p);
				m->text = take(p, start);
			}
			add(m, n);
			n = m;
		} else if (peek(p) == '[') {
			struct cli_node *ix = node(p, N_INDEX);

			next(p);
			skip_space(p, true);
			add(ix, n);
			add(ix, parse_expr(p));
			skip_space(p, true);
			if (peek(p) != ']') {
				fail(p, !peek(p), "the index [ is not closed with ]");
				return ix;
			}
			next(p);
			n = ix;
		} else {
			return n;
		}
	}
	return n;
}

/* A value in expression mode. */
static struct cli_node *parse_primary(struct parser *p)
{
	char c = peek(p);
	struct cli_node *n;
	size_t start;

	if (++p->depth > MAX_NESTING) {
		fail(p, false, "the expression nests more than %d levels deep", MAX_NESTING);
		return node(p, N_LITERAL);
	}
	if (c == '$' && peek_at(p, 1) == '(') {
		next(p);
		n = parse_group(p, '(');
	} else if (c == '@' && peek_at(p, 1) == '(') {
		next(p);
		n = parse_group(p, '(');
		n->text = strdup("@");
	} else if (c == '@' && peek_at(p, 1) == '{') {
		n = parse_hash(p);
	} else if (c == '$') {
		n = parse_variable(p);
	} else if (c == '(' || c == '{') {
		n = parse_group(p, c);
	} else if (c == '\'' || c == '"') {
		n = parse_string(p);
	} else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)peek_at(p, 1))) ||
		   (c == '-' && isdigit((unsigned char)peek_at(p, 1)))) {
		struct wire_value *v;

		start = p->pos;
		if (c == '-')
			next(p);
		while (isalnum((unsigned char)peek(p)) || (peek(p) == '.' && peek_at(p, 1) != '.') ||
		       ((peek(p) == '+' || peek(p) == '-') && (p->s[p->pos - 1] == 'e' || p->s[p->pos - 1] == 'E')))
			next(p);
		if (!cli_parse_number(p->s + start, p->pos - start, &v)) {
			fail(p, false, "'%.*s' is not a number", (int)(p->pos - start), p->s + start);
			v = wire_null();
		}
		n = literal(p, v);
	} else if (!c) {
		fail(p, true, "an expression was expected");
		n = node(p, N_LITERAL);
	} else {
		int line = p->line, col = p->col;

		start = p->pos;
		while (!ends_bareword(peek(p)))
			next(p);
		if (p->pos == start)
			next(p);
		n = node(p, N_LITERAL);
		p->line = line; /* point at the token, not past it */
		p->col = col;
		fail(p, false, "unexpected token '%.*s' in an expression", (int)(p->pos - start), p->s + start);
	}
	p->depth--;
	return postfix(p, n);
}

/* An operator such as -eq at the cursor (after spaces): its length, or 0. */
static size_t match_op(struct parser *p, const char *const *ops)
{
	size_t i, len;

	if (peek(p) != '-')
		return 0;
	for (i = 0; ops[i]; i++) {
		len = strlen(ops[i]);
		if (strncasecmp(p->s + p->pos, ops[i], len) == 0 && !is_name_char(p->s[p->pos + len]))
			return len;
	}
	return 0;
}

static struct cli_node *binary(struct parser *p, const char *op, size_t len, struct cli_node *l,
			       struct cli_node *(*rhs)(struct parser *))
{
	struct cli_node *b = node(p, N_BINARY);
	size_t i;

	b->text = strndup(op, len);
	for (i = 0; b->text[i]; i++)
		b->text[i] = (char)tolower((unsigned char)b->text[i]);
	p->pos += len;
	p->col += (int)len;
	skip_space(p, true);
	add(b, l);
	add(b, rhs(p));
	return b;
}

/* a..b, a range of whole numbers. */
static struct cli_node *parse_range(struct parser *p)
{
	struct cli_node *l = parse_primary(p), *r;

	if (p->failed || peek(p) != '.' || peek_at(p, 1) != '.')
		return l;
	r = node(p, N_BINARY);
	r->text = strdup("..");
	next(p);
	next(p);
	add(r, l);
	add(r, parse_primary(p));
	return r;
}

static struct cli_node *parse_array(struct parser *p)
{
	struct cli_node *first = parse_range(p), *arr;

	skip_space(p, false);
	if (peek(p) != ',')
		return first;
	arr = node(p, N_ARRAY);
	add(arr, first);
	while (!p->failed && peek(p) == ',') {
		next(p);
		skip_space(p, true);
		add(arr, parse_range(p));
		skip_space(p, false);
	}
	return arr;
}

static struct cli_node *parse_unary(struct parser *p)
{
	static const char *const ops[] = { "-not", NULL };
	struct cli_node *u;
	size_t len;

	skip_space(p, false);
	if ((len = match_op(p, ops)) || peek(p) == '!' ||
	    (peek(p) == '-' && !isdigit((unsigned char)peek_at(p, 1)) && !isalpha((unsigned char)peek_at(p, 1)))) {
		u = node(p, N_UNARY);
		if (!len)
			len = 1;
		u->text = strndup(p->s + p->pos, len);
		p->pos += len;
		p->col += (int)len;
		skip_space(p, false);
		add(u, parse_unary(p));
		return u;
	}
	return parse_array(p); /* -1 is a number: parse_primary reads it */
}

static struct cli_node *parse_mul(struct parser *p)
{
	struct cli_node *l = parse_unary(p);

	for (;;) {
		skip_space(p, false);
		if (p->failed || !strchr("*/%", peek(p)) || !peek(p))
			return l;
		l = binary(p, p->s + p->pos, 1, l, parse_unary);
	}
}

static struct cli_node *parse_add(struct parser *p)
{
	struct cli_node *l = parse_mul(p);

	for (;;) {
		skip_space(p, false);
		if (p->failed || !peek(p) || !strchr("+-", peek(p)) || isalpha((unsigned char)peek_at(p, 1)))
			return l;
		l = binary(p, p->s + p->pos, 1, l, parse_mul);
	}
}

static struct cli_node *parse_cmp(struct parser *p)
{
	static const char *const ops[] = { "-eq", "-ne", "-gt", "-ge", "-lt", "-le", "-like", "-notlike",
					   "-match", "-notmatch", "-contains", "-notcontains", "-in",
					   "-notin", "-ieq", "-ine", NULL };
	struct cli_node *l = parse_add(p);
	size_t len;

	for (;;) {
		skip_space(p, false);
		if (p->failed || !(len = match_op(p, ops)))
			return l;
		l = binary(p, p->s + p->pos, len, l, parse_add);
	}
}

static struct cli_node *parse_expr(struct parser *p)
{
	static const char *const ops[] = { "-and", "-or", "-xor", NULL };
	struct cli_node *l = parse_cmp(p);
	size_t len;

	for (;;) {
		skip_space(p, false);
		if (p->failed || !(len = match_op(p, ops)))
			return l;
		l = binary(p, p->s + p->pos, len, l, parse_cmp);
	}
}

/* One argument of a command: barewords are strings (or numbers), the rest as in
 * expressions; a comma makes a list. */
static struct cli_node *parse_cmd_value(struct parser *p)
{
	char c = peek(p);
	size_t start;

	if (c == '$' || c == '(' || c == '{' || c == '@' || c == '\'' || c == '"')
		return parse_primary(p);
	start = p->pos;
	while (!ends_bareword(peek(p)))
		next(p);
	{
		struct wire_value *v;

		if (!cli_parse_number(p->s + start, p->pos - start, &v))
			v = wire_string_len(p->s + start, p->pos - start);
		return literal(p, v);
	}
}

static struct cli_node *parse_cmd_arg(struct parser *p)
{
	struct cli_node *first = parse_cmd_value(p), *arr;

	if (peek(p) != ',' && !(peek(p) == ' ' && peek_at(p, 1) == ','))
		return first;
	arr = node(p, N_ARRAY);
	add(arr, first);
	skip_space(p, false);
	while (!p->failed && peek(p) == ',') {
		next(p);
		skip_space(p, true);
		add(arr, parse_cmd_value(p));
		skip_space(p, false);
	}
	return arr;
}

static bool at_end_of_command(struct parser *p)
{
	char c = peek(p);

	return !c || c == '\n' || c == ';' || c == '|' || c == ')' || c == '}';
}

static struct cli_node *parse_command(struct parser *p)
{
	struct cli_node *cmd = node(p, N_COMMAND);
	size_t start = p->pos;

	while (!ends_bareword(peek(p)))
		next(p);
	cmd->text = take(p, start);
	for (;;) {
		skip_space(p, false);
		if (p->failed || at_end_of_command(p))
			return cmd;
		if (peek(p) == '-' && (isalpha((unsigned char)peek_at(p, 1)) || peek_at(p, 1) == '_')) {
			struct cli_node *par = node(p, N_PARAM);

			next(p);
			start = p->pos;
			while (is_name_char(peek(p)) || peek(p) == '-')
				next(p);
			par->text = take(p, start);
			if (peek(p) == ':') {
				next(p);
				skip_space(p, false);
				add(par, parse_cmd_arg(p));
			}
			add(cmd, par);
			continue;
		}
		add(cmd, parse_cmd_arg(p));
	}
}

static bool starts_command(struct parser *p)
{
	char c = peek(p);

	/* ? and % alone are Where-Object and ForEach-Object. */
	if ((c == '?' || c == '%') && (isspace((unsigned char)peek_at(p, 1)) || !peek_at(p, 1)))
		return true;
	return isalpha((unsigned char)c) || c == '_' || c == '.' || c == '&';
}

static struct cli_node *parse_pipeline(struct parser *p)
{
	struct cli_node *pl = node(p, N_PIPELINE);

	for (;;) {
		skip_space(p, false);
		if (peek(p) == '&') {
			next(p);
			skip_space(p, false);
		}
		if (starts_command(p))
			add(pl, parse_command(p));
		else if (!peek(p))
			fail(p, true, "the input ended where a command or an expression was expected");
		else if (at_end_of_command(p))
			fail(p, false, "an empty pipe element is not allowed");
		else
			add(pl, parse_expr(p));
		skip_space(p, false);
		if (p->failed || peek(p) != '|')
			return pl;
		next(p);
		skip_space(p, true);
		if (!peek(p)) {
			fail(p, true, "a command must follow the pipe |");
			return pl;
		}
	}
}

/* A keyword at the cursor, as a whole word: its length, else 0. */
static size_t keyword(struct parser *p, const char *kw)
{
	size_t len = strlen(kw);

	if (strncasecmp(p->s + p->pos, kw, len) == 0 && !is_name_char(p->s[p->pos + len]) && p->s[p->pos + len] != '-')
		return len;
	return 0;
}

static void skip_n(struct parser *p, size_t n)
{
	while (n--)
		next(p);
}

static bool expect(struct parser *p, char c, const char *what)
{
	skip_space(p, true);
	if (peek(p) == c) {
		next(p);
		return true;
	}
	fail(p, !peek(p), "'%c' was expected %s", c, what);
	return false;
}

static struct cli_node *parse_block(struct parser *p, const char *what)
{
	skip_space(p, true);
	if (peek(p) != '{') {
		fail(p, !peek(p), "'{' was expected %s", what);
		return node(p, N_BLOCK);
	}
	return parse_group(p, '{');
}

/* ( pipeline ) of if and elseif. */
static struct cli_node *parse_condition(struct parser *p, const char *what)
{
	struct cli_node *c;

	if (!expect(p, '(', what))
		return node(p, N_LITERAL);
	skip_space(p, true);
	c = parse_pipeline(p);
	if (!p->failed)
		expect(p, ')', "to close the condition");
	return c;
}

static struct cli_node *parse_if(struct parser *p)
{
	struct cli_node *n = node(p, N_IF);
	size_t k;

	skip_n(p, 2);
	add(n, parse_condition(p, "after if"));
	add(n, parse_block(p, "after the if condition"));
	while (!p->failed) {
		size_t save = p->pos;
		int line = p->line, col = p->col;

		skip_space(p, true);
		if ((k = keyword(p, "elseif"))) {
			skip_n(p, k);
			add(n, parse_condition(p, "after elseif"));
			add(n, parse_block(p, "after the elseif condition"));
		} else if ((k = keyword(p, "else"))) {
			skip_n(p, k);
			add(n, parse_block(p, "after else"));
			break;
		} else {
			p->pos = save;
			p->line = line;
			p->col = col;
			break;
		}
	}
	return n;
}

static struct cli_node *parse_foreach(struct parser *p)
{
	struct cli_node *n = node(p, N_FOREACH), *var;
	size_t k;

	skip_n(p, 7);
	if (!expect(p, '(', "after foreach"))
		return n;
	skip_space(p, false);
	if (peek(p) != '$') {
		fail(p, !peek(p), "a loop variable ($name) was expected after foreach (");
		return n;
	}
	var = parse_variable(p);
	n->text = var->text;
	var->text = NULL;
	cli_node_free(var);
	skip_space(p, false);
	if (!(k = keyword(p, "in"))) {
		fail(p, !peek(p), "'in' was expected after the loop variable");
		return n;
	}
	skip_n(p, k);
	skip_space(p, true);
	add(n, parse_pipeline(p));
	if (!p->failed && expect(p, ')', "to close foreach ( ... )"))
		add(n, parse_block(p, "after foreach ( ... )"));
	return n;
}

/* ( $a, $b = default ) of a function or of param( ). */
static struct cli_node *parse_params(struct parser *p)
{
	struct cli_node *list = node(p, N_ARRAY);

	next(p); /* ( */
	for (;;) {
		struct cli_node *par, *var;

		skip_space(p, true);
		if (peek(p) == ')') {
			next(p);
			return list;
		}
		if (peek(p) != '$') {
			fail(p, !peek(p), "a parameter ($name) was expected");
			return list;
		}
		var = parse_variable(p);
		par = node(p, N_PARAM);
		par->text = var->text;
		var->text = NULL;
		cli_node_free(var);
		add(list, par);
		skip_space(p, true);
		if (peek(p) == '=') {
			next(p);
			skip_space(p, true);
			add(par, parse_expr(p));
			skip_space(p, true);
		}
		if (p->failed)
			return list;
		if (peek(p) == ',')
			next(p);
		else if (peek(p) != ')') {
			fail(p, !peek(p), "',' or ')' was expected in the parameter list");
			return list;
		}
	}
}

static struct cli_node *parse_function(struct parser *p)
{
	struct cli_node *n = node(p, N_FUNCTION), *body;
	size_t start;

	skip_n(p, 8);
	skip_space(p, false);
	start = p->pos;
	while (is_name_char(peek(p)) || peek(p) == '-')
		next(p);
	if (p->pos == start) {
		fail(p, !peek(p), "a function name was expected after function");
		return n;
	}
	n->text = take(p, start);
	skip_space(p, false);
	add(n, peek(p) == '(' ? parse_params(p) : node(p, N_ARRAY));
	body = parse_block(p, "for the function's body");
	add(n, body);
	/* function f { param($a) ... }: the param( ) opening the body declares the parameters. */
	if (!p->failed && n->kids[0]->nkids == 0 && body->nkids && body->kids[0]->nkids) {
		struct cli_node *script = body->kids[0], *first = script->kids[0];

		if (first->kind == N_ARRAY && first->text && !strcmp(first->text, "param")) {
			cli_node_free(n->kids[0]);
			n->kids[0] = first;
			memmove(script->kids, script->kids + 1, (script->nkids - 1) * sizeof(*script->kids));
			script->nkids--;
		}
	}
	return n;
}

static struct cli_node *parse_statement(struct parser *p)
{
	size_t save = p->pos, k;
	int line = p->line, col = p->col;

	if ((k = keyword(p, "if")))
		return parse_if(p);
	if ((k = keyword(p, "foreach")) && (skip_n(p, k), skip_space(p, false), peek(p) == '(')) {
		p->pos = save;
		p->line = line;
		p->col = col;
		return parse_foreach(p);
	}
	p->pos = save;
	p->line = line;
	p->col = col;
	if ((k = keyword(p, "function")))
		return parse_function(p);
	if ((k = keyword(p, "param"))) {
		struct cli_node *n;

		skip_n(p, k);
		skip_space(p, false);
		if (peek(p) != '(') {
			fail(p, !peek(p), "'(' was expected after param");
			return node(p, N_ARRAY);
		}
		n = parse_params(p);
		n->text = strdup("param");
		return n;
	}
	if ((k = keyword(p, "return"))) {
		struct cli_node *n = node(p, N_RETURN);

		skip_n(p, k);
		skip_space(p, false);
		if (!at_end_of_command(p))
			add(n, parse_pipeline(p));
		return n;
	}
	if ((k = keyword(p, "break")) || (k = keyword(p, "continue"))) {
		struct cli_node *n = node(p, p->s[p->pos] == 'b' || p->s[p->pos] == 'B' ? N_BREAK : N_CONTINUE);

		skip_n(p, k);
		return n;
	}

	if (peek(p) == '$' && peek_at(p, 1) != '(') {
		struct cli_node *var = parse_variable(p);

		skip_space(p, false);
		if (!p->failed && peek(p) == '=' && peek_at(p, 1) != '=') {
			struct cli_node *a = node(p, N_ASSIGN);

			a->text = var->text;
			var->text = NULL;
			cli_node_free(var);
			next(p);
			skip_space(p, true);
			add(a, parse_pipeline(p));
			return a;
		}
		cli_node_free(var);
		p->pos = save;
		p->line = line;
		p->col = col;
		p->failed = false;
	}
	return parse_pipeline(p);
}

static struct cli_node *parse_script(struct parser *p, char end)
{
	struct cli_node *s = node(p, N_SCRIPT);

	if (++p->depth > MAX_NESTING) {
		fail(p, false, "the script nests more than %d levels deep", MAX_NESTING);
		return s;
	}
	for (;;) {
		skip_space(p, true);
		while (peek(p) == ';') {
			next(p);
			skip_space(p, true);
		}
		if (p->failed)
			break;
		if (!peek(p)) {
			if (end)
				fail(p, true, "missing closing '%c'", end);
			break;
		}
		if (peek(p) == end)
			break;
		if (peek(p) == ')' || peek(p) == '}') {
			fail(p, false, "unexpected '%c'", peek(p));
			break;
		}
		add(s, parse_statement(p));
		skip_space(p, false);
		/* param( ) may share its line with what follows, as in { param($a) $a * 2 }. */
		if (s->kids[s->nkids - 1]->kind == N_ARRAY)
			continue;
		if (!p->failed && peek(p) && peek(p) != '\n' && peek(p) != ';' && peek(p) != end)
			fail(p, false, "unexpected '%c'", peek(p));
	}
	p->depth--;
	return s;
}

int cli_parse(const char *src, struct cli_node **out, struct cli_parse_error *err)
{
	struct parser p = { .s = src, .line = 1, .col = 1, .err = err };
	struct cli_node *s;

	memset(err, 0, sizeof(*err));
	s = parse_script(&p, '\0');
	if (p.failed) {
		cli_node_free(s);
		*out = NULL;
		return -EINVAL;
	}
	*out = s;
	return 0;
}
