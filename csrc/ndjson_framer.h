/*
 * ndjson_framer.h - a streaming NDJSON line framer with hard memory caps.
 *
 * Raw byte chunks go in, one call per chunk; complete lines come out, described
 * so that Python can build its objects in one pass with no call per line.
 *
 * Rules (see DESIGN.md section 1):
 *   - a line ends at '\n'; surrounding ASCII whitespace is trimmed; blank lines are skipped;
 *   - a line longer than max_line bytes (raw, before trimming, without its '\n') is dropped
 *     whole: no prefix and no tail of it is ever returned; framing resumes after its '\n';
 *   - the partial line carried between calls never exceeds max_line <= max_pending bytes.
 *
 * Two output forms share one framing core:
 *   ndjson_feed_lines     for a list of lines: the chunk's own '\n' split gives the lines
 *                         when the chunk is clean (the common case), else `out` holds the
 *                         cleaned lines joined by '\n';
 *   ndjson_feed_segments  for batched JSON parsing: runs of lines that are one JSON object
 *                         each are copied into `out` as a JSON array "[l1\n,l2\n,...]";
 *                         any other line is a single segment pointing into the chunk or
 *                         into `head`, without a copy.
 * Results stay valid until the next call on the same framer. A framer belongs to one
 * thread at a time; it holds no global state.
 */
#ifndef NDJSON_FRAMER_H
#define NDJSON_FRAMER_H

#include <stddef.h>
#include <stdint.h>

/* Return codes. */
#define NDJSON_OK 0
#define NDJSON_ENOMEM (-1)

/* What to do with the text before a chunk's first '\n' (ndjson_feed_lines). */
#define NDJSON_HEAD_NONE 0   /* the chunk has no '\n' */
#define NDJSON_HEAD_KEEP 1   /* that text is a clean line by itself */
#define NDJSON_HEAD_BUFFER 2 /* the line is head[0:head_len] */
#define NDJSON_HEAD_DROP 3   /* no line: blank, or the end of an over-long line */
/* Added to the head kind that ndjson_feed_lines returns when body_clean is set. */
#define NDJSON_BODY_CLEAN 4

/* Segment kinds (ndjson_feed_segments). */
#define NDJSON_SEG_ARRAY 0 /* out[offset:offset+length] is a JSON array of `count` lines */
#define NDJSON_SEG_DATA 1  /* one line at chunk[offset:offset+length] */
#define NDJSON_SEG_HEAD 2  /* one line at head[offset:offset+length] */

/* Lines longer than this are never batched: their parse cost dwarfs a call. */
#define NDJSON_BATCH_MAX_LINE 65536

typedef struct {
    uint64_t kind;
    uint64_t offset;
    uint64_t length;
    uint64_t count;
} ndjson_segment;

typedef struct {
    /* limits, fixed at creation */
    size_t max_line;
    size_t max_pending;

    /* cumulative counters */
    uint64_t lines;           /* lines returned */
    uint64_t oversized_lines; /* lines dropped for exceeding max_line */
    uint64_t dropped_bytes;   /* raw bytes of those lines, without their '\n' */
    uint64_t bytes_in;        /* bytes fed */

    /* the partial line carried between calls */
    char *pend;
    size_t pend_len;
    size_t pend_cap;
    int discarding; /* inside an over-long line: drop bytes until the next '\n' */

    /* results of the last call */
    size_t newlines; /* '\n' bytes in the last chunk */
    int head_kind;   /* NDJSON_HEAD_* */
    int body_clean;  /* 1: the chunk's lines after its first '\n' need no cleaning */
    char *head;      /* a line assembled across calls, or a trimmed first line */
    size_t head_len;
    size_t head_cap;
    char *out; /* cleaned lines (lines form) or JSON arrays (segments form) */
    size_t out_len;
    size_t out_cap;
    ndjson_segment *segs;
    size_t nsegs;
    size_t segs_cap;
} ndjson_framer;

/* Create a framer; NULL on allocation failure or if 0 < max_line <= max_pending fails. */
ndjson_framer *ndjson_framer_new(size_t max_line, size_t max_pending);
void ndjson_framer_free(ndjson_framer *f);

/* Frame one chunk (lines form). Returns NDJSON_ENOMEM, or a summary that spares the
 * caller two field reads per call: head_kind (NDJSON_HEAD_NONE when the chunk has no
 * '\n'), plus NDJSON_BODY_CLEAN when body_clean is set and the chunk has a '\n'. */
int ndjson_feed_lines(ndjson_framer *f, const char *data, size_t n);

/* Frame one chunk (segments form). Returns NDJSON_OK or NDJSON_ENOMEM. */
int ndjson_feed_segments(ndjson_framer *f, const char *data, size_t n);

/* End of stream: the residual partial line, if any, becomes head[0:head_len]
 * (head_kind NDJSON_HEAD_BUFFER); an unterminated over-long line is counted. */
int ndjson_finish(ndjson_framer *f);

/* 1 if line[0:n] is exactly one JSON object as far as strings and brackets go:
 * it starts with '{', its outermost bracket closes at its last byte, and every
 * string is closed. Syntax inside is left to the JSON parser. */
int ndjson_is_single_object(const char *line, size_t n);

#endif /* NDJSON_FRAMER_H */
