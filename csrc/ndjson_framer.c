/*
 * ndjson_framer.c - see ndjson_framer.h for the contract.
 *
 * Plan: one memchr per line finds the '\n'. The framing core, shared by both output
 * forms, decides what each complete line is: first_line() ends the line carried over
 * from the previous call with the bytes before the chunk's first '\n'; body_line()
 * classifies every later line (over-long, blank, or kept with its trim); carry() keeps
 * the bytes after the last '\n' for the next call. A carried line that grows past
 * max_line is dropped on the spot and the framer discards input up to the next '\n',
 * so the carried line never exceeds max_line. Each output form has its own emitter
 * loop over the lines the core hands it:
 *
 *   lines     first skips the run of clean lines (no trim needed, within the cap, not
 *             blank), which the caller can take from the chunk's own split with no copy;
 *             from the first line that is not clean on, every line is copied to `out`.
 *   segments  every kept line is either appended to the open JSON array in `out` (when
 *             it is one JSON object) or becomes a segment of its own, without a copy.
 *
 * Cost: O(n) per chunk, one pass, no allocation per line once the buffers have grown.
 * Only lines that need a trim (lines form) or that are batched (segments form) are copied.
 */
#include "ndjson_framer.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MIN_CAP ((size_t)4096)
#define SHRINK_ABOVE ((size_t)1 << 20) /* idle buffers above 1 MiB are given back */

typedef struct {
    char *p;
    size_t len;
    size_t cap;
} buffer;

struct ndjson_framer {
    size_t max_line;  /* fixed at creation */
    size_t max_batch; /* the most bytes of one array segment; 0: no limit */

    /* cumulative counters */
    uint64_t lines;
    uint64_t oversized_lines;
    uint64_t dropped_bytes;
    uint64_t bytes_in;

    buffer pend;    /* the partial line carried between calls, at most max_line bytes */
    int discarding; /* inside an over-long line: drop bytes until the next '\n' */

    /* scratch for the results of the last call */
    buffer head; /* the carried line, completed by this chunk */
    buffer out;  /* cleaned lines (lines form) or JSON arrays (segments form) */
    ndjson_segment *segs;
    size_t nsegs;
    size_t segs_cap;
};

static inline int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Grow b to hold at least `need` bytes. */
static int reserve(buffer *b, size_t need)
{
    if (need <= b->cap)
        return NDJSON_OK;
    size_t c = b->cap > MIN_CAP ? b->cap : MIN_CAP;
    while (c < need)
        c = c > SIZE_MAX / 2 ? need : c * 2;
    char *p = realloc(b->p, c);
    if (p == NULL)
        return NDJSON_ENOMEM;
    b->p = p;
    b->cap = c;
    return NDJSON_OK;
}

static int append(buffer *b, const char *p, size_t n)
{
    if (reserve(b, b->len + n))
        return NDJSON_ENOMEM;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return NDJSON_OK;
}

/* Give back a large scratch buffer whose last use was small, so one huge line does
 * not pin its memory for the rest of the stream. */
static void maybe_release(buffer *b)
{
    if (b->cap > SHRINK_ABOVE && b->len < b->cap / 4) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
    b->len = 0;
}

static void trim(const char *p, size_t n, size_t *start, size_t *end)
{
    size_t s = 0, e = n;
    while (s < e && is_space((unsigned char)p[s]))
        s++;
    while (e > s && is_space((unsigned char)p[e - 1]))
        e--;
    *start = s;
    *end = e;
}

int ndjson_framer_new(ndjson_framer **out, size_t max_line)
{
    if (out == NULL)
        return NDJSON_EINVAL;
    *out = NULL;
    if (max_line == 0)
        return NDJSON_EINVAL;
    ndjson_framer *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NDJSON_ENOMEM;
    f->max_line = max_line;
    *out = f;
    return NDJSON_OK;
}

void ndjson_framer_free(ndjson_framer *f)
{
    if (f == NULL)
        return;
    free(f->pend.p);
    free(f->head.p);
    free(f->out.p);
    free(f->segs);
    free(f);
}

int ndjson_set_batch_size(ndjson_framer *f, size_t max_batch)
{
    if (f == NULL)
        return NDJSON_EINVAL;
    f->max_batch = max_batch;
    return NDJSON_OK;
}

int ndjson_stats(const ndjson_framer *f, ndjson_counters *out)
{
    if (f == NULL || out == NULL)
        return NDJSON_EINVAL;
    out->lines = f->lines;
    out->oversized_lines = f->oversized_lines;
    out->dropped_bytes = f->dropped_bytes;
    out->pending = f->pend.len;
    out->bytes_in = f->bytes_in;
    return NDJSON_OK;
}

/* ---- the JSON object check -------------------------------------------------- */

/* The index of the first '"' or '\\' in p[i:n], or n. Sixteen bytes at a time where
 * SSE2 is there (every x86-64), since the strings of a typical line are short and many:
 * a library call per string costs more than its scan. */
static inline size_t quote_or_backslash(const unsigned char *p, size_t i, size_t n)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    while (n - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        if (m != 0)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i < n && p[i] != '"' && p[i] != '\\')
        i++;
    return i;
}

/* Where the string whose body starts at p[i] ends: the index of its closing quote,
 * or n if it never closes. A backslash escapes the byte after it. */
static size_t string_end(const unsigned char *p, size_t i, size_t n)
{
    for (;;) {
        i = quote_or_backslash(p, i, n);
        if (i >= n || p[i] == '"')
            return i;
        if (n - i <= 2)
            return n; /* the escaped byte is the last one, or there is none: no closing quote */
        i += 2;
    }
}

int ndjson_is_single_object(const char *line, size_t n)
{
    const unsigned char *p = (const unsigned char *)line;
    if (line == NULL || n < 2 || p[0] != '{' || p[n - 1] != '}')
        return 0;
    size_t depth = 0;
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '"':
            i = string_end(p, i + 1, n);
            if (i >= n)
                return 0; /* unterminated string */
            break;
        case '{':
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            if (depth == 0)
                return 0;
            if (--depth == 0 && i != n - 1)
                return 0; /* the outer object closes before the line ends */
            break;
        default:
            break;
        }
    }
    return depth == 0;
}

/* ---- the framing core, shared by both forms ---------------------------------- */

/* Reset the scratch of the last call and count the new chunk. */
static void begin_call(ndjson_framer *f, size_t n)
{
    maybe_release(&f->head);
    maybe_release(&f->out);
    if (f->pend.cap > SHRINK_ABOVE && f->pend.len < f->pend.cap / 4) {
        size_t cap = f->pend.len > MIN_CAP ? f->pend.len : MIN_CAP;
        char *p = realloc(f->pend.p, cap);
        if (p != NULL) {
            f->pend.p = p;
            f->pend.cap = cap;
        }
    }
    f->nsegs = 0;
    f->bytes_in += n;
}

/* Keep p[0:n] (the bytes after a chunk's last '\n') as part of the carried line. */
static int carry(ndjson_framer *f, const char *p, size_t n)
{
    if (f->discarding) {
        f->dropped_bytes += n;
        return NDJSON_OK;
    }
    if (f->pend.len + n > f->max_line) {
        f->dropped_bytes += f->pend.len + n;
        f->pend.len = 0;
        f->discarding = 1;
        return NDJSON_OK;
    }
    if (n == 0)
        return NDJSON_OK;
    return append(&f->pend, p, n);
}

/* Move the completed carried line into head, trimmed, by swapping buffers: a long
 * line is never copied. Returns 1 if it is a line, 0 if it was blank. */
static int take_carried_line(ndjson_framer *f)
{
    size_t s, e;
    trim(f->pend.p, f->pend.len, &s, &e);
    f->pend.len = 0;
    if (s == e)
        return 0;
    buffer spare = f->head;
    f->head = f->pend;
    f->pend = spare;
    f->pend.len = 0;
    if (s > 0)
        memmove(f->head.p, f->head.p + s, e - s);
    f->head.len = e - s;
    f->lines++;
    return 1;
}

/* Where the first line of a chunk is. */
typedef enum { FIRST_NONE, FIRST_HEAD, FIRST_CHUNK } first_kind;

/* End the carried line with data[0:k], the bytes before the chunk's first '\n'.
 * FIRST_HEAD: the line is in f->head; FIRST_CHUNK: it is data[*s:*e]; FIRST_NONE: no
 * line (dropped as over-long, or blank). */
static int first_line(ndjson_framer *f, const char *data, size_t k, first_kind *kind, size_t *s, size_t *e)
{
    *kind = FIRST_NONE;
    if (f->discarding) {
        f->dropped_bytes += k;
        f->oversized_lines++;
        f->discarding = 0;
    } else if (f->pend.len + k > f->max_line) {
        f->dropped_bytes += f->pend.len + k;
        f->oversized_lines++;
        f->pend.len = 0;
    } else if (f->pend.len > 0) {
        if (append(&f->pend, data, k))
            return NDJSON_ENOMEM;
        if (take_carried_line(f))
            *kind = FIRST_HEAD;
    } else {
        trim(data, k, s, e);
        if (*s < *e) {
            f->lines++;
            *kind = FIRST_CHUNK;
        }
    }
    return NDJSON_OK;
}

/* One line p[0:len] after the chunk's first '\n'. Returns 1 if it is kept, with
 * p[*s:*e] its trimmed text, or 0 if it is dropped: over-long (counted) or blank. */
static inline int body_line(ndjson_framer *f, const char *p, size_t len, size_t *s, size_t *e)
{
    if (len > f->max_line) {
        f->oversized_lines++;
        f->dropped_bytes += len;
        return 0;
    }
    trim(p, len, s, e);
    if (*s == *e)
        return 0;
    f->lines++;
    return 1;
}

/* ---- lines form --------------------------------------------------------------- */

/* Skip the run of clean lines starting at p (within the cap, not blank, no whitespace
 * at either end), counting them. Returns where the run stops; *dirty_nl is the '\n' of
 * the line it stopped at, or NULL when it ran to the last '\n'. These lines need no
 * copy, so for a typical chunk this loop is the whole of the lines form. */
static const char *skip_clean_lines(ndjson_framer *f, const char *p, const char *end, const char **dirty_nl)
{
    const size_t max_line = f->max_line;
    uint64_t n = 0;
    const char *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t len = (size_t)(nl - p);
        if (len == 0 || len > max_line || is_space((unsigned char)p[0]) || is_space((unsigned char)nl[-1]))
            break;
        n++;
        p = nl + 1;
    }
    f->lines += n;
    *dirty_nl = nl;
    return p;
}

/* Copy every line from p, whose '\n' is at nl, to the chunk's last '\n' into f->out,
 * cleaned and '\n'-separated. Returns where the tail starts in *tail. */
static int copy_dirty_lines(ndjson_framer *f, const char *p, const char *nl, const char *end, const char **tail)
{
    buffer *out = &f->out;
    do {
        size_t len = (size_t)(nl - p), s, e;
        if (body_line(f, p, len, &s, &e)) {
            if (reserve(out, out->len + (e - s) + 1))
                return NDJSON_ENOMEM;
            memcpy(out->p + out->len, p + s, e - s);
            out->len += e - s;
            out->p[out->len++] = '\n';
        }
        p = nl + 1;
    } while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL);
    if (out->len > 0)
        out->len--; /* the last line's '\n': out splits into exactly its lines */
    *tail = p;
    return NDJSON_OK;
}

int ndjson_feed_lines(ndjson_framer *f, const char *data, size_t n, ndjson_lines *out)
{
    if (f == NULL || out == NULL || (data == NULL && n > 0))
        return NDJSON_EINVAL;
    begin_call(f, n);
    out->first = NULL;
    out->first_len = 0;
    out->parts = NDJSON_PARTS_NONE;
    out->out = NULL;
    out->out_len = 0;

    const char *nl = n ? memchr(data, '\n', n) : NULL;
    if (nl == NULL)
        return carry(f, data, n);
    const char *end = data + n;

    first_kind kind;
    size_t s = 0, e = 0, k = (size_t)(nl - data);
    if (first_line(f, data, k, &kind, &s, &e))
        return NDJSON_ENOMEM;
    if (kind == FIRST_HEAD) {
        out->first = f->head.p;
        out->first_len = f->head.len;
    } else if (kind == FIRST_CHUNK) {
        out->first = data + s;
        out->first_len = e - s;
    }

    const char *body = nl + 1, *dirty_nl, *tail;
    const char *p = skip_clean_lines(f, body, end, &dirty_nl);
    if (dirty_nl == NULL) {
        /* Clean to the last '\n': the chunk's own parts are the lines after the first. */
        if (kind == FIRST_CHUNK && s == 0 && e == k) {
            out->parts = NDJSON_PARTS_ALL; /* the first part is a line as it stands */
            out->first = NULL;
            out->first_len = 0;
        } else {
            out->parts = NDJSON_PARTS_REST;
        }
        return carry(f, p, (size_t)(end - p));
    }
    /* The clean lines before the first dirty one go to out in one copy, each with its '\n'. */
    size_t before = (size_t)(p - body);
    if (before > 0 && append(&f->out, body, before))
        return NDJSON_ENOMEM;
    if (copy_dirty_lines(f, p, dirty_nl, end, &tail))
        return NDJSON_ENOMEM;
    out->out = f->out.p;
    out->out_len = f->out.len;
    return carry(f, tail, (size_t)(end - tail));
}

int ndjson_finish(ndjson_framer *f, ndjson_lines *out)
{
    if (f == NULL || out == NULL)
        return NDJSON_EINVAL;
    begin_call(f, 0);
    out->first = NULL;
    out->first_len = 0;
    out->parts = NDJSON_PARTS_NONE;
    out->out = NULL;
    out->out_len = 0;
    if (f->discarding) {
        f->oversized_lines++;
        f->discarding = 0;
    } else if (f->pend.len > 0 && take_carried_line(f)) {
        out->first = f->head.p;
        out->first_len = f->head.len;
    }
    return NDJSON_OK;
}

/* ---- segments form ------------------------------------------------------------ */

typedef struct {
    int open;     /* an array segment is open in out */
    size_t start; /* its offset in out */
    uint64_t count;
} batch_state;

static int push_segment(ndjson_framer *f, uint64_t kind, size_t offset, size_t length, uint64_t count)
{
    if (f->nsegs == f->segs_cap) {
        size_t cap = f->segs_cap ? f->segs_cap * 2 : 64;
        ndjson_segment *s = realloc(f->segs, cap * sizeof *s);
        if (s == NULL)
            return NDJSON_ENOMEM;
        f->segs = s;
        f->segs_cap = cap;
    }
    ndjson_segment *s = &f->segs[f->nsegs++];
    s->kind = kind;
    s->offset = offset;
    s->length = length;
    s->count = count;
    return NDJSON_OK;
}

static int close_batch(ndjson_framer *f, batch_state *b)
{
    if (!b->open)
        return NDJSON_OK;
    if (reserve(&f->out, f->out.len + 1))
        return NDJSON_ENOMEM;
    f->out.p[f->out.len++] = ']';
    b->open = 0;
    return push_segment(f, NDJSON_SEG_ARRAY, b->start, f->out.len - b->start, b->count);
}

/* One kept line at base[offset:offset+n]; kind says whether base is the chunk
 * (NDJSON_SEG_DATA) or head (NDJSON_SEG_HEAD). */
static int segment_line(ndjson_framer *f, batch_state *b, uint64_t kind, const char *base, size_t offset, size_t n)
{
    const char *line = base + offset;
    if (n <= NDJSON_BATCH_MAX_LINE && ndjson_is_single_object(line, n)) {
        /* "[" or "\n," then the line: a '\n' never occurs inside a line, so a
         * batch that fails to parse splits back into its lines exactly at "\n,". */
        buffer *out = &f->out;
        if (b->open && f->max_batch && out->len - b->start + n + 3 > f->max_batch && close_batch(f, b))
            return NDJSON_ENOMEM;
        if (reserve(out, out->len + n + 2))
            return NDJSON_ENOMEM;
        if (b->open) {
            out->p[out->len++] = '\n';
            out->p[out->len++] = ',';
        } else {
            b->open = 1;
            b->start = out->len;
            b->count = 0;
            out->p[out->len++] = '[';
        }
        memcpy(out->p + out->len, line, n);
        out->len += n;
        b->count++;
        return NDJSON_OK;
    }
    if (close_batch(f, b))
        return NDJSON_ENOMEM;
    return push_segment(f, kind, offset, n, 1);
}

int ndjson_feed_segments(ndjson_framer *f, const char *data, size_t n, ndjson_segments *out)
{
    if (f == NULL || out == NULL || (data == NULL && n > 0))
        return NDJSON_EINVAL;
    begin_call(f, n);
    out->segs = NULL;
    out->nsegs = 0;
    out->out = NULL;
    out->out_len = 0;
    out->head = NULL;
    out->head_len = 0;

    const char *nl = n ? memchr(data, '\n', n) : NULL;
    if (nl == NULL)
        return carry(f, data, n);
    const char *end = data + n;

    batch_state batch = {0, 0, 0};
    first_kind kind;
    size_t s = 0, e = 0;
    if (first_line(f, data, (size_t)(nl - data), &kind, &s, &e))
        return NDJSON_ENOMEM;
    if (kind == FIRST_HEAD && segment_line(f, &batch, NDJSON_SEG_HEAD, f->head.p, 0, f->head.len))
        return NDJSON_ENOMEM;
    if (kind == FIRST_CHUNK && segment_line(f, &batch, NDJSON_SEG_DATA, data, s, e - s))
        return NDJSON_ENOMEM;

    const char *p = nl + 1;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t off = (size_t)(p - data);
        if (body_line(f, p, (size_t)(nl - p), &s, &e) &&
            segment_line(f, &batch, NDJSON_SEG_DATA, data, off + s, e - s))
            return NDJSON_ENOMEM;
        p = nl + 1;
    }
    if (close_batch(f, &batch))
        return NDJSON_ENOMEM;

    out->segs = f->segs;
    out->nsegs = f->nsegs;
    out->out = f->out.p;
    out->out_len = f->out.len;
    out->head = f->head.p;
    out->head_len = f->head.len;
    return carry(f, p, (size_t)(end - p));
}
