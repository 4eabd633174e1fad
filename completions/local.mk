# Shell completion: the scripts ask `hvctl __complete`, which reads the cmdlet table.
bashcompdir = $(datadir)/bash-completion/completions
zshcompdir = $(datadir)/zsh/site-functions
bashcomp_DATA = completions/hvctl
zshcomp_DATA = completions/_hvctl
CLEANFILES += completions/hvctl
EXTRA_DIST += completions/hvctl.bash completions/_hvctl

# bash-completion finds a command's script by the command's name.
completions/hvctl: $(srcdir)/completions/hvctl.bash
	$(AM_V_GEN)$(MKDIR_P) completions && cp $(srcdir)/completions/hvctl.bash $@
