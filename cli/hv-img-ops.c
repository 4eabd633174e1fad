/*
 * hv-img check, resize, merge and compact.
 *
 *   hv-img check [-r] [--output human|json] FILE   exit 0 clean, 2 corrupt, 3 leaks only
 *   hv-img resize FILE [+|-]SIZE
 *   hv-img merge CHILD                              into its parent; CHILD is removed
 *   hv-img compact FILE
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/hv-img.h"

static void print_problem(void *opaque, const char *problem)
{
	bool *json = opaque;

	if (!*json)
		printf("ERROR %s\n", problem);
}

int img_cmd_check(int argc, char **argv)
{
	static const struct option lo[] = { { "output", required_argument, NULL, 'O' },
					    { NULL, 0, NULL, 0 } };
	struct vhdx_check_result res;
	struct vhdx *v;
	bool repair = false, json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "rf:q", lo, NULL)) != -1) {
		if (c == 'r')
			repair = true;
		else if (c == 'O')
			json = strcmp(optarg, "json") == 0;
	}
	/* qemu-img's "-r leaks|all": both repair everything here */
	if (repair && optind == argc - 2 &&
	    (strcmp(argv[optind], "all") == 0 || strcmp(argv[optind], "leaks") == 0))
		optind++;
	if (optind != argc - 1)
		return img_error(0, "usage: hv-img check [-r] [--output human|json] FILE");
	if (img_open(argv[optind], repair ? VHDX_OPEN_RDWR : 0, &v) < 0)
		return 2;
	r = vhdx_check(v, repair, print_problem, &json, &res);
	if (r < 0) {
		img_error(r, "%s: %s", argv[optind], vhdx_why(v));
		vhdx_free(v);
		return IMG_ERR;
	}
	r = vhdx_close(v);
	if (r < 0)
		return img_error(r, "%s", argv[optind]);
	if (json) {
		printf("{\n    \"filename\": ");
		img_json_str(argv[optind]);
		printf(",\n    \"format\": \"vhdx\",\n");
		printf("    \"check-errors\": 0,\n    \"corruptions\": %u,\n    \"leaks\": %u,\n",
		       res.errors - res.fixed, res.leaks);
		printf("    \"corruptions-fixed\": %u,\n    \"allocated-clusters\": %llu\n}\n",
		       res.fixed, (unsigned long long)res.allocated);
	} else {
		if (res.errors == res.fixed && !res.leaks)
			printf("No errors were found on the image.\n");
		if (res.errors > res.fixed)
			printf("\n%u errors were found on the image.\n", res.errors - res.fixed);
		if (res.fixed)
			printf("%u errors were repaired.\n", res.fixed);
		if (res.leaks)
			printf("%u leaked areas were found on the image%s.\n", res.leaks,
			       repair ? " (a leaked tail is cut off by -r)" : "");
		printf("%llu payload blocks are allocated.\n", (unsigned long long)res.allocated);
	}
	return res.errors > res.fixed ? 2 : res.leaks && !repair ? 3 : IMG_OK;
}

int img_cmd_resize(int argc, char **argv)
{
	struct vhdx_info info;
	struct vhdx *v;
	uint64_t n, size;
	const char *arg;
	int r;

	if (argc != 3)
		return img_error(0, "usage: hv-img resize FILE [+|-]SIZE");
	arg = argv[2];
	if (img_parse_size(arg + (arg[0] == '+' || arg[0] == '-'), &n) < 0)
		return img_error(0, "invalid size '%s'", arg);
	if (img_open(argv[1], VHDX_OPEN_RDWR, &v) < 0)
		return IMG_ERR;
	r = vhdx_info_get(v, &info);
	size = arg[0] == '+' ? info.virtual_size + n : arg[0] == '-' ? info.virtual_size - n : n;
	if (r == 0 && arg[0] == '-' && n >= info.virtual_size)
		r = -EINVAL;
	if (r == 0)
		r = vhdx_resize(v, size);
	if (r < 0) {
		img_error(r, "%s: %s", argv[1], vhdx_why(v));
		vhdx_free(v);
		return IMG_ERR;
	}
	r = vhdx_close(v);
	if (r < 0)
		return img_error(r, "%s", argv[1]);
	printf("Image resized.\n");
	return IMG_OK;
}

int img_cmd_merge(int argc, char **argv)
{
	int r;

	if (argc != 2)
		return img_error(0, "usage: hv-img merge CHILD");
	r = vhdx_merge_into_parent(argv[1]);
	if (r == -EINVAL)
		return img_error(0, "%s: not a differencing image", argv[1]);
	if (r < 0)
		return img_error(r, "merge %s", argv[1]);
	printf("Image merged into its parent; %s removed.\n", argv[1]);
	return IMG_OK;
}

int img_cmd_compact(int argc, char **argv)
{
	struct vhdx *v;
	uint64_t released;
	int r;

	if (argc != 2)
		return img_error(0, "usage: hv-img compact FILE");
	if (img_open(argv[1], VHDX_OPEN_RDWR, &v) < 0)
		return IMG_ERR;
	r = vhdx_compact(v, &released);
	if (r < 0) {
		img_error(r, "%s: %s", argv[1], vhdx_why(v));
		vhdx_free(v);
		return IMG_ERR;
	}
	r = vhdx_close(v);
	if (r < 0)
		return img_error(r, "%s", argv[1]);
	printf("%llu blocks released.\n", (unsigned long long)released);
	return IMG_OK;
}
