# Shell completion, generated from hvctl's cmdlet table.
bashcompdir = $(datadir)/bash-completion/completions
zshcompdir = $(datadir)/zsh/site-functions
bashcomp_DATA = completions/hvctl
zshcomp_DATA = completions/_hvctl
CLEANFILES += completions/hvctl completions/_hvctl
EXTRA_DIST += completions/gen.sh

completions/hvctl: cli/hvctl$(EXEEXT) $(srcdir)/completions/gen.sh
	$(AM_V_GEN)$(MKDIR_P) completions && $(SHELL) $(srcdir)/completions/gen.sh bash cli/hvctl$(EXEEXT) > $@-t && mv $@-t $@
completions/_hvctl: cli/hvctl$(EXEEXT) $(srcdir)/completions/gen.sh
	$(AM_V_GEN)$(MKDIR_P) completions && $(SHELL) $(srcdir)/completions/gen.sh zsh cli/hvctl$(EXEEXT) > $@-t && mv $@-t $@
