#include "copy.h"

#include <string.h>

static void add_be16(struct buf *b, uint16_t v)
{
	unsigned char c[2] = { v >> 8, v & 0xff };

	buf_add(b, c, 2);
}

static void add_be32(struct buf *b, uint32_t v)
{
	unsigned char c[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };

	buf_add(b, c, 4);
}

void copy_add_header(struct buf *b)
{
	buf_add(b, "PGCOPY\n\377\r\n\0", 11);
	add_be32(b, 0);		/* flags: no OIDs */
	add_be32(b, 0);		/* no header extension */
}

void copy_add_trailer(struct buf *b)
{
	add_be16(b, 0xffff);
}

void copy_add_tuple(struct buf *b, int nfields)
{
	add_be16(b, (uint16_t)nfields);
}

void copy_add_null(struct buf *b)
{
	add_be32(b, 0xffffffffu);
}

void copy_add_int8(struct buf *b, int64_t v)
{
	uint64_t u = (uint64_t)v;
	unsigned char c[12];
	int i;

	c[0] = 0, c[1] = 0, c[2] = 0, c[3] = 8;
	for (i = 0; i < 8; i++)
		c[4 + i] = (u >> (56 - 8 * i)) & 0xff;
	buf_add(b, c, sizeof(c));
}

void copy_add_text(struct buf *b, const char *s, size_t len)
{
	add_be32(b, (uint32_t)len);
	buf_add(b, s, len);
}
