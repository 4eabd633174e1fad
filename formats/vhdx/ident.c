/*
 * The File Type Identifier (MS-VHDX 2.2.1): "vhdxfile" and a UTF-16LE creator string in the
 * first 64 KiB.  It is written once at creation and never again.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

#define CREATOR_BYTES 512

int vhdx_ident_read(struct vhdx *v)
{
	uint8_t buf[8 + CREATOR_BYTES];
	char *creator;
	int r;

	r = vhdx_pread(v, buf, sizeof(buf), VHDX_IDENT_OFF);
	if (r < 0)
		return r;
	if (le64(buf) != SIG_IDENT)
		return vhdx_fail(v, -EBADMSG, "not a VHDX file: no \"vhdxfile\" signature");
	/* diagnostic only: a malformed creator never fails the open */
	if (vhdx_utf16_to_utf8(buf + 8, CREATOR_BYTES, &creator) == 0) {
		snprintf(v->creator, sizeof(v->creator), "%s", creator);
		free(creator);
	}
	return 0;
}

int vhdx_ident_write(int fd, const char *creator)
{
	uint8_t buf[8 + CREATOR_BYTES] = { 0 };
	long n;

	put64(buf, SIG_IDENT);
	n = vhdx_utf8_to_utf16(creator, buf + 8, CREATOR_BYTES - 2);
	if (n < 0)
		return (int)n;
	if (pwrite(fd, buf, sizeof(buf), VHDX_IDENT_OFF) != (ssize_t)sizeof(buf))
		return -EIO;
	return 0;
}
