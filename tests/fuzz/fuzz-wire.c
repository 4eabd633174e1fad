/* Fuzz target: frames and values from a hostile peer.  Whatever decodes must re-encode to
 * the same bytes and render as JSON. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wire-protocol/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_value *v = NULL;
	struct wire_frame f;
	struct wire_buf b = { 0 };
	size_t n;

	if (wire_frame_peek(data, size, &n) == 0 && n > 0) {
		if (wire_frame_decode(data, n, &f) == 0) {
			if (wire_frame_encode(&f, &b) == 0 && (b.len != n || memcmp(b.data, data, n) != 0))
				abort();
		}
		wire_frame_clear(&f);
		b.len = 0;
	}
	if (wire_value_decode(data, size, &v) == 0) {
		wire_value_encode(v, &b);
		if (b.len != size || memcmp(b.data, data, size) != 0)
			abort();
		b.len = 0;
		wire_value_to_json(v, &b, 2, -1);
		wire_value_unref(v);
	}
	wire_buf_free(&b);
	return 0;
}
