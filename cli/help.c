/* Get-Help and completion, both read off the cmdlet table. */
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
	if (c->aliases)
		fprintf(f, "\nALIASES\n    %s\n", c->aliases);
}

/* The command a cursor position is in: the word after the last | or ; before it. */
static const struct cli_cmdlet *current_cmdlet(const char *line, size_t end)
{
	size_t start = end, len;
	char name[128];

	while (start > 0 && line[start - 1] != '|' && line[start - 1] != ';' && line[start - 1] != '(' &&
	       line[start - 1] != '{')
		start--;
	while (start < end && isspace((unsigned char)line[start]))
		start++;
	len = start;
	while (len < end && !isspace((unsigned char)line[len]))
		len++;
	len -= start;
	if (len == 0 || len >= sizeof(name))
		return NULL;
	memcpy(name, line + start, len);
	name[len] = '\0';
	return cli_cmdlet_find(name);
}

void cli_complete_words(const char *line, FILE *f)
{
	size_t end = strlen(line), ws = end, i;
	const struct cli_cmdlet *c;
	const char *word;
	bool first = true;

	while (ws > 0 && !isspace((unsigned char)line[ws - 1]) && !strchr("|;({", line[ws - 1]))
		ws--;
	word = line + ws;
	for (i = ws; i > 0; i--) {
		if (strchr("|;({", line[i - 1]))
			break;
		if (!isspace((unsigned char)line[i - 1])) {
			first = false;
			break;
		}
	}
	if (first) {
		for (i = 0; (c = cli_cmdlet_at(i)); i++)
			if (!strncasecmp(c->name, word, strlen(word)))
				fprintf(f, "%s\n", c->name);
		return;
	}
	if (word[0] != '-')
		return;
	c = current_cmdlet(line, ws);
	if (!c)
		return;
	for (i = 0; c->params[i].name; i++)
		if (!strncasecmp(c->params[i].name, word + 1, strlen(word + 1)))
			fprintf(f, "-%s\n", c->params[i].name);
}
