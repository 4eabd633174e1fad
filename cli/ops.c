/*
 * PowerShell's value rules as hvctl applies them: display strings, truthiness, conversion to
 * numbers, comparison (case-insensitive for strings, numeric when both sides are numbers)
 * and the operators.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli.h"

void cli_display(const struct wire_value *v, struct wire_buf *out)
{
	size_t i;

	switch (v->type) {
	case WIRE_NULL:
		return;
	case WIRE_BOOL:
		wire_buf_printf(out, "%s", v->b ? "True" : "False");
		return;
	case WIRE_INT:
		wire_buf_printf(out, "%lld", (long long)v->i);
		return;
	case WIRE_UINT:
		wire_buf_printf(out, "%llu", (unsigned long long)v->u);
		return;
	case WIRE_DOUBLE:
		if (v->d == floor(v->d) && fabs(v->d) < 1e15)
			wire_buf_printf(out, "%.0f", v->d);
		else
			wire_buf_printf(out, "%.15g", v->d);
		return;
	case WIRE_STRING:
		wire_buf_put(out, v->str.p, v->str.len);
		return;
	case WIRE_BYTES:
		wire_buf_printf(out, "[%zu bytes]", v->str.len);
		return;
	case WIRE_TIMESTAMP: {
		time_t t = (time_t)(v->i / 1000000000);
		struct tm tm;
		char s[64];

		if (localtime_r(&t, &tm) && strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S", &tm))
			wire_buf_printf(out, "%s", s);
		return;
	}
	case WIRE_DURATION:
		wire_duration_format(out, v->i);
		return;
	case WIRE_LIST:
		wire_buf_put(out, "{", 1);
		for (i = 0; i < v->list.n; i++) {
			if (i)
				wire_buf_put(out, ", ", 2);
			cli_display(v->list.items[i], out);
		}
		wire_buf_put(out, "}", 1);
		return;
	case WIRE_OBJECT:
		wire_buf_put(out, "@{", 2);
		for (i = 0; i < v->obj.n; i++) {
			if (i)
				wire_buf_put(out, "; ", 2);
			wire_buf_printf(out, "%s=", v->obj.props[i].name);
			cli_display(v->obj.props[i].value, out);
		}
		wire_buf_put(out, "}", 1);
		return;
	}
}

bool cli_truthy(const struct wire_value *v)
{
	switch (v->type) {
	case WIRE_NULL: return false;
	case WIRE_BOOL: return v->b;
	case WIRE_INT:
	case WIRE_DURATION:
	case WIRE_TIMESTAMP: return v->i != 0;
	case WIRE_UINT: return v->u != 0;
	case WIRE_DOUBLE: return v->d != 0;
	case WIRE_STRING:
	case WIRE_BYTES: return v->str.len != 0;
	case WIRE_LIST:
		if (v->list.n == 1)
			return cli_truthy(v->list.items[0]);
		return v->list.n != 0;
	case WIRE_OBJECT: return true;
	}
	return false;
}

int cli_to_int(const struct wire_value *v, int64_t *out)
{
	struct wire_value *n = NULL;
	int rc = -EINVAL;

	switch (v->type) {
	case WIRE_INT:
		*out = v->i;
		return 0;
	case WIRE_UINT:
		if (v->u > INT64_MAX)
			return -ERANGE;
		*out = (int64_t)v->u;
		return 0;
	case WIRE_DOUBLE:
		if (!(v->d == floor(v->d)) || fabs(v->d) > 9.2e18)
			return -EINVAL;
		*out = (int64_t)v->d;
		return 0;
	case WIRE_STRING:
		if (cli_parse_number(v->str.p, v->str.len, &n) && n->type == WIRE_INT) {
			*out = n->i;
			rc = 0;
		}
		wire_value_unref(n);
		return rc;
	default:
		return -EINVAL;
	}
}

bool cli_to_double(const struct wire_value *v, double *out)
{
	struct wire_value *n = NULL;
	bool ok = false;

	switch (v->type) {
	case WIRE_INT:
	case WIRE_DURATION:
	case WIRE_TIMESTAMP:
		*out = (double)v->i;
		return true;
	case WIRE_UINT:
		*out = (double)v->u;
		return true;
	case WIRE_DOUBLE:
		*out = v->d;
		return true;
	case WIRE_STRING:
		if (cli_parse_number(v->str.p, v->str.len, &n))
			ok = cli_to_double(n, out);
		wire_value_unref(n);
		return ok;
	default:
		return false;
	}
}

static bool is_number(const struct wire_value *v)
{
	return v->type == WIRE_INT || v->type == WIRE_UINT || v->type == WIRE_DOUBLE ||
	       v->type == WIRE_DURATION || v->type == WIRE_TIMESTAMP;
}

static int cmp_int(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

int cli_compare(const struct wire_value *a, const struct wire_value *b, bool *comparable)
{
	struct wire_buf sa = { 0 }, sb = { 0 };
	double da, db;
	int r;

	*comparable = true;
	if (a->type == WIRE_NULL || b->type == WIRE_NULL)
		return (a->type != WIRE_NULL) - (b->type != WIRE_NULL);
	if (a->type == WIRE_INT && b->type == WIRE_INT)
		return cmp_int(a->i, b->i);
	if (a->type == WIRE_UINT && b->type == WIRE_UINT)
		return a->u < b->u ? -1 : a->u > b->u;
	if ((is_number(a) || is_number(b)) && cli_to_double(a, &da) && cli_to_double(b, &db))
		return da < db ? -1 : da > db;
	if (a->type == WIRE_BOOL || b->type == WIRE_BOOL)
		return (int)cli_truthy(a) - (int)cli_truthy(b);
	if (a->type == WIRE_LIST || b->type == WIRE_LIST || a->type == WIRE_OBJECT || b->type == WIRE_OBJECT) {
		*comparable = wire_value_equal(a, b);
		return *comparable ? 0 : 1;
	}
	cli_display(a, &sa);
	cli_display(b, &sb);
	wire_buf_put(&sa, "", 1);
	wire_buf_put(&sb, "", 1);
	r = strcasecmp((const char *)sa.data, (const char *)sb.data);
	wire_buf_free(&sa);
	wire_buf_free(&sb);
	return r < 0 ? -1 : r > 0;
}

bool cli_equal(const struct wire_value *a, const struct wire_value *b)
{
	bool comparable;

	return cli_compare(a, b, &comparable) == 0 && comparable;
}

bool cli_compare_lists(const struct wire_value *a, const struct wire_value *b)
{
	size_t i;

	if (a->list.n != b->list.n)
		return false;
	for (i = 0; i < a->list.n; i++)
		if (!cli_equal(a->list.items[i], b->list.items[i]))
			return false;
	return true;
}

static char *display_str(const struct wire_value *v)
{
	struct wire_buf b = { 0 };

	cli_display(v, &b);
	wire_buf_put(&b, "", 1);
	return (char *)b.data;
}

static int match_regex(struct cli_ctx *ctx, const char *s, const char *pattern, bool *out)
{
	regex_t re;
	int rc = regcomp(&re, pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB);

	if (rc) {
		char msg[128];

		regerror(rc, &re, msg, sizeof(msg));
		cli_error(ctx, "The regular expression \"%s\" is not valid: %s.", pattern, msg);
		return -1;
	}
	*out = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return 0;
}

/* One comparison of scalars; -1 after reporting an error. */
static int compare_op(struct cli_ctx *ctx, const char *op, const struct wire_value *a, const struct wire_value *b,
		      bool *out)
{
	bool comparable, neg = !strncmp(op, "-not", 4);
	char *sa, *sb;
	int c, rc = 0;

	*out = false;
	if (!strcmp(op, "-like") || !strcmp(op, "-notlike") || !strcmp(op, "-match") || !strcmp(op, "-notmatch")) {
		sa = display_str(a);
		sb = display_str(b);
		if (strstr(op, "like"))
			*out = fnmatch(sb, sa, FNM_CASEFOLD) == 0;
		else
			rc = match_regex(ctx, sa, sb, out);
		*out ^= neg;
		free(sa);
		free(sb);
		return rc;
	}
	c = cli_compare(a, b, &comparable);
	if (!strcmp(op, "-eq") || !strcmp(op, "-ieq"))
		*out = comparable && c == 0;
	else if (!strcmp(op, "-ne") || !strcmp(op, "-ine"))
		*out = !(comparable && c == 0);
	else if (!comparable)
		*out = false;
	else if (!strcmp(op, "-gt"))
		*out = c > 0;
	else if (!strcmp(op, "-ge"))
		*out = c >= 0;
	else if (!strcmp(op, "-lt"))
		*out = c < 0;
	else if (!strcmp(op, "-le"))
		*out = c <= 0;
	else
		return 1; /* not a comparison */
	return 0;
}

static bool contains(const struct wire_value *list, const struct wire_value *item)
{
	size_t i;

	if (list->type != WIRE_LIST)
		return cli_equal(list, item);
	for (i = 0; i < list->list.n; i++)
		if (cli_equal(list->list.items[i], item))
			return true;
	return false;
}

static int arith(struct cli_ctx *ctx, char op, const struct wire_value *a, const struct wire_value *b,
		 struct wire_value **out)
{
	double da, db, r;

	if (op == '+' && a->type == WIRE_STRING) {
		char *sb = display_str(b);

		*out = wire_stringf("%s%s", a->str.p, sb);
		free(sb);
		return 0;
	}
	if (op == '+' && a->type == WIRE_LIST) {
		size_t i;

		*out = wire_list();
		for (i = 0; i < a->list.n; i++)
			wire_list_append(*out, wire_value_ref(a->list.items[i]));
		if (b->type == WIRE_LIST)
			for (i = 0; i < b->list.n; i++)
				wire_list_append(*out, wire_value_ref(b->list.items[i]));
		else
			wire_list_append(*out, wire_value_ref((struct wire_value *)b));
		return 0;
	}
	if (a->type == WIRE_NULL)
		a = b->type == WIRE_STRING ? b : a;
	if (!cli_to_double(a, &da) || !cli_to_double(b, &db)) {
		cli_error(ctx, "The operator '%c' cannot be applied to a %s and a %s.", op, wire_type_name(a->type),
			  wire_type_name(b->type));
		return -1;
	}
	if (a->type == WIRE_INT && b->type == WIRE_INT && op != '/') {
		int64_t x = a->i, y = b->i, z;
		bool ovf = false;

		switch (op) {
		case '+': ovf = __builtin_add_overflow(x, y, &z); break;
		case '-': ovf = __builtin_sub_overflow(x, y, &z); break;
		case '*': ovf = __builtin_mul_overflow(x, y, &z); break;
		default:
			if (y == 0) {
				cli_error(ctx, "Attempted to divide by zero.");
				return -1;
			}
			z = y == -1 ? 0 : x % y;
		}
		if (!ovf) {
			*out = wire_int(z);
			return 0;
		}
	}
	switch (op) {
	case '+': r = da + db; break;
	case '-': r = da - db; break;
	case '*': r = da * db; break;
	case '/':
	case '%':
		if (db == 0) {
			cli_error(ctx, "Attempted to divide by zero.");
			return -1;
		}
		r = op == '/' ? da / db : fmod(da, db);
		break;
	default:
		return -1;
	}
	if (r == floor(r) && fabs(r) < 9e18 && a->type != WIRE_DOUBLE && b->type != WIRE_DOUBLE)
		*out = wire_int((int64_t)r);
	else
		*out = wire_double(r);
	return 0;
}

int cli_binary_op(struct cli_ctx *ctx, const char *op, const struct wire_value *a, const struct wire_value *b,
		  struct wire_value **out)
{
	bool r;
	int rc;

	if (!op[1])
		return arith(ctx, op[0], a, b, out);
	if (!strcmp(op, "-contains") || !strcmp(op, "-notcontains")) {
		*out = wire_bool(contains(a, b) ^ (op[1] == 'n'));
		return 0;
	}
	if (!strcmp(op, "-in") || !strcmp(op, "-notin")) {
		*out = wire_bool(contains(b, a) ^ (op[1] == 'n'));
		return 0;
	}
	if (!strcmp(op, "-xor")) {
		*out = wire_bool(cli_truthy(a) != cli_truthy(b));
		return 0;
	}
	if (a->type == WIRE_LIST) {
		/* A comparison with a list on the left filters the list. */
		size_t i;

		*out = wire_list();
		for (i = 0; i < a->list.n; i++) {
			rc = compare_op(ctx, op, a->list.items[i], b, &r);
			if (rc) {
				wire_value_unref(*out);
				return -1;
			}
			if (r)
				wire_list_append(*out, wire_value_ref(a->list.items[i]));
		}
		return 0;
	}
	rc = compare_op(ctx, op, a, b, &r);
	if (rc > 0)
		cli_error(ctx, "Unknown operator %s.", op);
	if (rc)
		return -1;
	*out = wire_bool(r);
	return 0;
}
