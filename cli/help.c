/* Get-Help, read off the cmdlet table. */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

static const char *type_syntax(enum cli_ptype t)
{
	switch (t) {
	case P_STRING: return " <string>";
	case P_STRINGS: return " <string[]>";
	case P_INT: return " <int64>";
	case P_SWITCH: return "";
	case P_BOOL: return " <bool>";
	case P_BLOCK: return " <scriptblock>";
	case P_ANY: return " <object>";
	}
	return "";
}

void cli_help_cmdlet(const struct cli_cmdlet *c, FILE *f)
{
	size_t i;

	fprintf(f, "NAME\n    %s\n\nSYNOPSIS\n    %s\n\nSYNTAX\n    %s", c->name, c->synopsis, c->name);
	for (i = 0; c->params[i].name; i++) {
		const struct cli_param *p = &c->params[i];
		bool opt = !(p->flags & PF_MANDATORY);

		fprintf(f, " %s%s-%s%s%s%s", opt ? "[" : "", p->position >= 0 ? "[" : "", p->name,
			p->position >= 0 ? "]" : "", type_syntax(p->type), opt ? "]" : "");
	}
	fprintf(f, "\n\nPARAMETERS\n");
	for (i = 0; c->params[i].name; i++) {
		const struct cli_param *p = &c->params[i];

		fprintf(f, "    -%s%s\n        %s", p->name, type_syntax(p->type), p->help);
		if (p->flags & PF_MANDATORY)
			fprintf(f, "; required");
		if (p->position >= 0)
			fprintf(f, "; position %d", p->position);
		if (p->aliases)
			fprintf(f, "; aliases: %s", p->aliases);
		fprintf(f, "\n");
	}
	for (i = 0; cli_common_param(i); i++) {
		const struct cli_param *p = cli_common_param(i);

		if (i == 0 || (i < 3 && (c->flags & CLI_CHANGES)) || (i == 3 && (c->flags & CLI_DAEMON)))
			fprintf(f, "    -%s%s\n        %s; common parameter\n", p->name, type_syntax(p->type), p->help);
	}
	if (c->aliases)
		fprintf(f, "\nALIASES\n    %s\n", c->aliases);
	if (c->example) {
		const char *s = c->example;

		fprintf(f, "\nEXAMPLES\n");
		while (*s) {
			size_t n = strcspn(s, "\n");

			fprintf(f, "    PS> %.*s\n", (int)n, s);
			s += n + (s[n] == '\n');
		}
	}
}

