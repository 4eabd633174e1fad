/* Fuzz target: the shell's scanner and parser on any text. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src = malloc(size + 1);
	struct cli_parse_error err;
	struct cli_node *n = NULL;

	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';
	if (cli_parse(src, &n, &err) == 0)
		cli_node_free(n);
	free(src);
	return 0;
}
