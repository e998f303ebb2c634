/*
 * bytes.h - big-endian integers in byte buffers: OpenPGP lengths and
 * fields (RFC 9580 is big-endian throughout), the spool's record fields
 * and database keys (big-endian so that Berkeley DB's byte-wise btree
 * order is numeric order).  The caller has checked that the bytes are
 * there.
 */
#ifndef PB_BYTES_H
#define PB_BYTES_H

#include <stdint.h>

static inline uint32_t
be16_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t
be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void
be32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint64_t
be64_get(const unsigned char *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

static inline void
be64_put(unsigned char *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put(p + 4, (uint32_t)v);
}

#endif
