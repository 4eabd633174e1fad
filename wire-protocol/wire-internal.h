/* Helpers shared by libhvwire's files; not part of its interface. */
#ifndef HVKIT_WIRE_INTERNAL_H
#define HVKIT_WIRE_INTERNAL_H

#include <stddef.h>

void *wire_xmalloc(size_t n);
void *wire_xrealloc(void *old, size_t n);
char *wire_xstrndup(const char *s, size_t len);

#endif
