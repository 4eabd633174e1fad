noinst_LIBRARIES += wire-protocol/libhvwire.a
wire_protocol_libhvwire_a_SOURCES = \
	wire-protocol/wire.h wire-protocol/wire-internal.h wire-protocol/procedures.def \
	wire-protocol/value.c wire-protocol/codec.c wire-protocol/json.c \
	wire-protocol/conn.h wire-protocol/conn.c wire-protocol/paths.h wire-protocol/paths.c
EXTRA_DIST += wire-protocol/PROTOCOL.md
