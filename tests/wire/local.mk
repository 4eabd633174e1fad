check_PROGRAMS += tests/wire/test-wire tests/fuzz/fuzz-wire-corpus
TESTS += tests/wire/test-wire tests/fuzz/fuzz-wire-corpus
tests_wire_test_wire_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_wire_test_wire_LDADD = wire-protocol/libhvwire.a $(CMOCKA_LIBS)

tests_fuzz_fuzz_wire_corpus_SOURCES = tests/fuzz/fuzz-wire.c tests/fuzz/standalone.c
tests_fuzz_fuzz_wire_corpus_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"wire/corpus"'
tests_fuzz_fuzz_wire_corpus_LDADD = wire-protocol/libhvwire.a

FUZZ_TARGETS += tests/fuzz/fuzz-wire
CLEANFILES += tests/fuzz/fuzz-wire
tests/fuzz/fuzz-wire: $(srcdir)/tests/fuzz/fuzz-wire.c $(wire_protocol_libhvwire_a_SOURCES:%=$(srcdir)/%)
	$(AM_V_CCLD)$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)
