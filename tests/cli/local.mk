check_PROGRAMS += tests/cli/test-cli tests/fuzz/fuzz-parse-corpus tests/fuzz/fuzz-vmxml-corpus
TESTS += tests/cli/test-cli tests/fuzz/fuzz-parse-corpus tests/fuzz/fuzz-vmxml-corpus
tests_cli_test_cli_SOURCES = tests/cli/test-cli.c tests/daemon/harness.c tests/daemon/harness.h
tests_cli_test_cli_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_cli_test_cli_LDADD = cli/libhvctl.a cli/libhvremote.a wire-protocol/libhvwire.a $(CMOCKA_LIBS) $(LIBSSH_LIBS) -lm

tests_fuzz_fuzz_parse_corpus_SOURCES = tests/fuzz/fuzz-parse.c tests/fuzz/standalone.c
tests_fuzz_fuzz_parse_corpus_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"cli"'
tests_fuzz_fuzz_parse_corpus_LDADD = cli/libhvctl.a cli/libhvremote.a wire-protocol/libhvwire.a $(LIBSSH_LIBS) -lm

tests_fuzz_fuzz_vmxml_corpus_SOURCES = tests/fuzz/fuzz-vmxml.c tests/fuzz/standalone.c daemon/vm.c daemon/pool-xml.c
nodist_tests_fuzz_fuzz_vmxml_corpus_SOURCES = daemon/vm-schema.c
tests_fuzz_fuzz_vmxml_corpus_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"daemon/vmxml-corpus"'
tests_fuzz_fuzz_vmxml_corpus_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS)
tests_fuzz_fuzz_vmxml_corpus_LDADD = wire-protocol/libhvwire.a $(LIBXML2_LIBS)

FUZZ_TARGETS += tests/fuzz/fuzz-parse tests/fuzz/fuzz-vmxml
CLEANFILES += tests/fuzz/fuzz-parse tests/fuzz/fuzz-vmxml
fuzz_parse_srcs = $(filter %.c,$(cli_libhvctl_a_SOURCES) $(cli_libhvremote_a_SOURCES) $(wire_protocol_libhvwire_a_SOURCES))
tests/fuzz/fuzz-parse: $(srcdir)/tests/fuzz/fuzz-parse.c $(fuzz_parse_srcs:%=$(srcdir)/%)
	$(AM_V_CCLD)$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(LIBSSH_LIBS) -lpthread -lm
tests/fuzz/fuzz-vmxml: $(srcdir)/tests/fuzz/fuzz-vmxml.c $(srcdir)/daemon/vm.c $(srcdir)/daemon/pool-xml.c daemon/vm-schema.c $(srcdir)/wire-protocol/value.c
	$(AM_V_CCLD)$(CLANG) $(FUZZ_CFLAGS) $(LIBXML2_CFLAGS) -o $@ $^ $(LIBXML2_LIBS)
