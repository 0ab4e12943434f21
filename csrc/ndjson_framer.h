/*
 * ndjson_framer.h - a streaming NDJSON line framer with a hard cap on line size.
 *
 * Goal: raw byte chunks go in, one call per chunk; the complete lines come out,
 * described so that the caller builds its objects with one copy per call, never
 * one call or one copy per line.
 *
 * Rules:
 *   - a line ends at '\n'; surrounding ASCII whitespace is trimmed; blank lines are skipped;
 *   - a line longer than max_line bytes (raw, before trimming, without its '\n') is dropped
 *     whole: no prefix and no tail of it is ever returned; framing resumes after its '\n';
 *   - the partial line carried between calls never exceeds max_line bytes.
 *
 * Memory: the partial line (at most max_line bytes) is the only input a framer keeps
 * between calls. The result buffers are scratch space reused from call to call; their
 * size follows the chunk passed in (plus one line), so the caller bounds them by
 * bounding its chunks. That is why no budget for the bytes held (sidecar_sync's
 * max_pending) is stored here: C could honour a budget smaller than one chunk's results
 * only by refusing the chunk, so the budget belongs to the caller, who cuts the chunks
 * (sidecar_sync checks max_pending >= max_line and feeds windows of bounded size).
 *
 * Two output forms share one framing core (ndjson_framer.c), each with its own emitter:
 *   ndjson_feed_lines     a list of lines (ndjson_lines);
 *   ndjson_feed_segments  for batched JSON parsing (ndjson_segments): runs of lines that
 *                         are one JSON object each are copied into one JSON array
 *                         "[l1\n,l2\n,...]"; any other line is a segment of its own that
 *                         points into the chunk or into the completed carried line.
 *
 * Status codes: every function returns NDJSON_OK or a negative NDJSON_E* code, except
 * ndjson_framer_free (like free) and the pure predicate ndjson_is_single_object. On
 * NDJSON_ENOMEM the chunk was framed only in part: its lines are lost and the carried
 * line may lack that chunk's bytes, so the framer should be freed, not fed again.
 *
 * Results are written to a caller-provided struct. Their pointers point into the
 * framer's buffers or into the chunk passed in, and stay valid until the next call on
 * the same framer (and while the chunk lives). A framer belongs to one thread at a time;
 * the library holds no global state.
 */
#ifndef NDJSON_FRAMER_H
#define NDJSON_FRAMER_H

#include <stddef.h>
#include <stdint.h>

/* Status codes. */
#define NDJSON_OK 0
#define NDJSON_ENOMEM (-1) /* an allocation failed */
#define NDJSON_EINVAL (-2) /* a NULL pointer, or max_line == 0 */

/* Which of the chunk's own '\n'-terminated parts are lines as they stand (ndjson_lines). */
#define NDJSON_PARTS_NONE 0 /* none: the lines are first, then out */
#define NDJSON_PARTS_ALL 1  /* every part, the first one included */
#define NDJSON_PARTS_REST 2 /* every part but the first one (`first`, if any, replaces it) */

/* Segment kinds (ndjson_segments). */
#define NDJSON_SEG_ARRAY 0 /* out[offset:offset+length] is a JSON array of `count` lines */
#define NDJSON_SEG_DATA 1  /* one line at chunk[offset:offset+length] */
#define NDJSON_SEG_HEAD 2  /* one line at head[offset:offset+length] */

/* Lines longer than this are never batched: their parse cost dwarfs a call. */
#define NDJSON_BATCH_MAX_LINE 65536

typedef struct ndjson_framer ndjson_framer;

/* The lines that one ndjson_feed_lines or ndjson_finish call completed, in order:
 *   1. first[0:first_len], if first_len > 0;
 *   2. the chunk's '\n'-terminated parts as `parts` says (never the text after its last '\n');
 *   3. out[0:out_len] split at '\n', if out_len > 0.
 * Lines are never empty. With NDJSON_PARTS_ALL, first_len and out_len are 0; with
 * NDJSON_PARTS_REST, out_len is 0. */
typedef struct {
    const char *first;
    size_t first_len;
    int parts;
    const char *out;
    size_t out_len;
} ndjson_lines;

/* Four uint64_t and nothing else, so n segments read as 4n uint64_t in one go. */
typedef struct {
    uint64_t kind; /* NDJSON_SEG_* */
    uint64_t offset;
    uint64_t length;
    uint64_t count; /* lines in an array; 1 otherwise */
} ndjson_segment;

/* The segments of one ndjson_feed_segments call, in stream order, and their bases:
 * `out` for NDJSON_SEG_ARRAY, the chunk for NDJSON_SEG_DATA, `head` for NDJSON_SEG_HEAD. */
typedef struct {
    const ndjson_segment *segs;
    size_t nsegs;
    const char *out;
    size_t out_len;
    const char *head;
    size_t head_len;
} ndjson_segments;

/* Counters since the framer was created, and the bytes of the partial line held now. */
typedef struct {
    uint64_t lines;           /* lines returned */
    uint64_t oversized_lines; /* lines dropped for exceeding max_line */
    uint64_t dropped_bytes;   /* raw bytes of those lines, without their '\n' */
    uint64_t pending;         /* bytes of the partial line held now */
    uint64_t bytes_in;        /* bytes fed */
} ndjson_counters;

/* Create a framer in *out (NULL on failure): NDJSON_EINVAL if out is NULL or max_line is 0. */
int ndjson_framer_new(ndjson_framer **out, size_t max_line);
void ndjson_framer_free(ndjson_framer *f);

/* Frame data[0:n] (data may be NULL when n is 0), lines form. */
int ndjson_feed_lines(ndjson_framer *f, const char *data, size_t n, ndjson_lines *out);

/* Frame data[0:n] (data may be NULL when n is 0), segments form. */
int ndjson_feed_segments(ndjson_framer *f, const char *data, size_t n, ndjson_segments *out);

/* End of stream: the residual partial line, if any, becomes out->first; an unterminated
 * over-long line is counted. The framer then starts a new stream (counters go on). */
int ndjson_finish(ndjson_framer *f, ndjson_lines *out);

/* Close an array segment before it would grow past max_batch bytes (brackets and separators
 * included), so that one call's arrays can be parsed and handed on one piece at a time; a
 * single line longer than that still makes an array of its own. 0, the default, means no
 * limit. The setting holds for every later ndjson_feed_segments call. */
int ndjson_set_batch_size(ndjson_framer *f, size_t max_batch);

/* Fill *out with the framer's counters. Like any call, not while another thread is
 * inside a call on the same framer: the caller serialises them. */
int ndjson_stats(const ndjson_framer *f, ndjson_counters *out);

/* 1 if line[0:n] is exactly one JSON object as far as strings and brackets go:
 * it starts with '{', its outermost bracket closes at its last byte, and every
 * string is closed. Syntax inside is left to the JSON parser. */
int ndjson_is_single_object(const char *line, size_t n);

#endif /* NDJSON_FRAMER_H */
