/* hvctl: the parser, golden scripts run by the real hvctl (tests/data/cli/<case>.ps1 ->
 * <case>.out), completion, and the man page kept true to the cmdlet table. */
#include "config.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "tests/daemon/harness.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_parse_ok(void **state)
{
	static const char *const ok[] = {
		"Get-VM",
		"Get-VM web* | Where-Object State -eq Off | Select-Object Name, State",
		"$vm = Get-VM web1; $vm.Name",
		"(Get-VM web1).State",
		"Get-VM | Where-Object { $_.MemoryStartup -gt 1GB -and $_.State -ne 'Running' }",
		"Get-VM | Select-Object Name,@{Name='Mem'; Expression={$_.MemoryAssigned/1MB}}",
		"Get-VM `\n  | Sort-Object Name",
		"Get-VM |\n Sort-Object Name # comment",
		"<# block\ncomment #> Get-VM",
		"\"interp $x and $($y.Name) `t\" ; 'it''s'",
		"1,2,3 | ForEach-Object { $_ * 2 }",
		"New-VM -Name:web1 -MemoryStartupBytes:512MB",
		"@(1) ; @{a=1;b='x'}; -not $true; !$false; -5",
		"$a[0]; $a[-1].Name",
		"",
		"   \n\n ;; ",
	};
	struct cli_parse_error err;
	struct cli_node *n;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (cli_parse(ok[i], &n, &err))
			fail_msg("[%s] did not parse: %d:%d %s", ok[i], err.line, err.col, err.msg);
		cli_node_free(n);
	}
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *src;
		int line, col;
		bool incomplete;
		const char *msg;
	} bad[] = {
		{ "Get-VM | ", 1, 10, true, "must follow the pipe" },
		{ "Get-VM | Where-Object {", 1, 24, true, "missing closing '}'" },
		{ "Get-VM 'abc", 1, 8, true, "no closing '" },
		{ "Get-VM )", 1, 8, false, "unexpected ')'" },
		{ "Get-VM\n| | Sort-Object", 2, 1, false, "empty pipe element" },
		{ "$x = 1 +", 1, 9, true, "expression was expected" },
		{ "(1 + )", 1, 6, false, "unexpected token ')'" },
		{ "$a[1", 1, 5, true, "not closed with ]" },
		{ "@{a}", 1, 4, false, "'=' must follow" },
		{ "1 + 2abc", 1, 9, false, "is not a number" },
	};
	struct cli_parse_error err;
	struct cli_node *n;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cli_parse(bad[i].src, &n, &err) == 0)
			fail_msg("[%s] parsed but should not", bad[i].src);
		if (err.line != bad[i].line || err.col != bad[i].col || err.incomplete != bad[i].incomplete ||
		    !strstr(err.msg, bad[i].msg))
			fail_msg("[%s]: got %d:%d incomplete=%d '%s'", bad[i].src, err.line, err.col, err.incomplete,
				 err.msg);
	}
}

static void test_deep_nesting(void **state)
{
	struct cli_parse_error err;
	struct cli_node *n;
	char *src = malloc(20001);
	int i;

	(void)state;
	for (i = 0; i < 10000; i++) {
		src[i] = '(';
		src[10000 + i] = ')';
	}
	src[20000] = '\0';
	assert_int_not_equal(cli_parse(src, &n, &err), 0);
	assert_non_null(strstr(err.msg, "nests more than"));
	free(src);
}

static void test_numbers(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} nums[] = { { "512MB", 536870912 }, { "4GB", 4294967296LL }, { "1TB", 1099511627776LL },
		     { "2kb", 2048 }, { "0x10", 16 }, { "1.5GB", 1610612736 }, { "-3", -3 } };
	struct wire_value *v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		assert_true(cli_parse_number(nums[i].s, strlen(nums[i].s), &v));
		assert_int_equal(v->type, WIRE_INT);
		assert_int_equal(v->i, nums[i].v);
		wire_value_unref(v);
	}
	assert_false(cli_parse_number("16EB", 4, &v));
	assert_false(cli_parse_number("99999999999999999999", 20, &v));
	assert_false(cli_parse_number("9999999999PB", 12, &v));
	assert_false(cli_parse_number("web1", 4, &v));
}

/* Every case in tests/data/cli: stdout, then stderr, then the exit status. */
static void test_golden_scripts(void **state)
{
	const char *data = getenv("HVKIT_TESTDATA");
	char dir[4096];
	struct dirent **names;
	int n, i, ran = 0;

	(void)state;
	assert_non_null(data);
	snprintf(dir, sizeof(dir), "%s/cli", data);
	n = scandir(dir, &names, NULL, alphasort);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(name);
		char script[4200], expect[4200];
		char *argv[] = { (char *)build_path("cli/hvctl"), "-H", "unix:///nonexistent/hvd.sock", "-f", script, NULL };
		struct run_result r;
		char *got, *want;

		if (len < 5 || strcmp(name + len - 4, ".ps1") != 0) {
			free(names[i]);
			continue;
		}
		snprintf(script, sizeof(script), "%s/%s", dir, name);
		snprintf(expect, sizeof(expect), "%s/%.*s.out", dir, (int)(len - 4), name);
		run_program(argv, NULL, &r);
		/* Messages name the script by the path it was given: keep only its name. */
		for (char *at; (at = strstr(r.err, script));)
			memmove(at, at + strlen(dir) + 1, strlen(at + strlen(dir) + 1) + 1);
		assert_true(asprintf(&got, "%s--- stderr ---\n%s--- exit %d\n", r.out, r.err, r.status) > 0);
		if (getenv("REGENERATE")) {
			FILE *f = fopen(expect, "w");

			assert_non_null(f);
			fputs(got, f);
			fclose(f);
		}
		want = slurp(expect);
		if (!want)
			fail_msg("%s is missing (REGENERATE=1 writes it)", expect);
		if (strcmp(got, want) != 0)
			fail_msg("%s:\n--- got ---\n%s--- want ---\n%s", script, got, want);
		free(want);
		free(got);
		run_result_free(&r);
		free(names[i]);
		ran++;
	}
	free(names);
	assert_true(ran > 0);
}

static void test_completion(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	f = open_memstream(&out, &len);
	cli_complete_words(NULL, "Get-VMPr", f);
	cli_complete_words(NULL, "Get-VM | Set-VMProcessor -Re", f);
	cli_complete_words(NULL, "Get-VM web1 | wh", f);
	cli_complete_words(NULL, "Set-VMMemory x -DynamicMemoryEnabled $t", f);
	cli_complete_words(NULL, "Get-VM -ErrorAction Si", f);
	cli_complete_words(NULL, "Remove-VM -Wh", f);
	cli_complete_words(NULL, "Get-VM -Wh", f);
	fclose(f);
	assert_string_equal(out, "Get-VMProcessor\n-Reserve\n-RelativeWeight\nWhere-Object\n$true\nSilentlyContinue\n-WhatIf\n");
	free(out);
}

static void test_out_file(void **state)
{
	char dir[] = "/tmp/hvkit-outfile-XXXXXX", path[64], script[512], *text;
	char *argv[] = { (char *)build_path("cli/hvctl"), "-c", script, NULL };
	struct run_result r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out.txt", dir);
	snprintf(script, sizeof(script),
		 "1, 2 | Out-File -FilePath %s; @{Name='a'; N=1} | Out-File %s -Append; 3 | Out-File %s -NoClobber",
		 path, path, path);
	run_program(argv, NULL, &r);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "already exists (-NoClobber)"));
	text = slurp(path);
	assert_non_null(text);
	assert_string_equal(text, "1\n2\nName N\n---- -\na    1\n");
	free(text);
	run_result_free(&r);
	unlink(path);
	rmdir(dir);
}

/* hvkit-cmdlets(7) documents exactly the cmdlets of the table, each with every parameter. */
static void test_man_page_matches_table(void **state)
{
	const char *src = getenv("top_srcdir");
	const struct cli_cmdlet *c;
	char path[4096], *page, *p;
	size_t i, k;

	(void)state;
	snprintf(path, sizeof(path), "%s/man/hvkit-cmdlets.7", src ? src : ".");
	page = slurp(path);
	assert_non_null(page);
	for (i = 0; (c = cli_cmdlet_at(i)); i++) {
		char head[128], *sect, *end;

		snprintf(head, sizeof(head), "\n.SS %s\n", c->name);
		sect = strstr(page, head);
		if (!sect)
			fail_msg("hvkit-cmdlets(7) has no section for %s", c->name);
		end = strstr(sect + 1, "\n.S");
		for (k = 0; c->params[k].name; k++) {
			char *at = strstr(sect, c->params[k].name);

			if (!at || (end && at > end))
				fail_msg("hvkit-cmdlets(7) does not describe %s -%s", c->name, c->params[k].name);
		}
	}
	for (p = strstr(page, "\n.SS "); p; p = strstr(p + 1, "\n.SS ")) {
		char name[128];

		if (sscanf(p + 5, "%127s", name) == 1 && strchr(name, '-') && !cli_cmdlet_find(name))
			fail_msg("hvkit-cmdlets(7) describes %s, which hvctl does not have", name);
	}
	free(page);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_golden_scripts),
		cmocka_unit_test(test_completion),
		cmocka_unit_test(test_out_file),
		cmocka_unit_test(test_man_page_matches_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
