/*
 * ndjson_framer.c - see ndjson_framer.h for the contract.
 *
 * Plan: one memchr per line finds the '\n'; each complete line is classified once
 * (over-long, blank, clean, or needing a trim) and handed to the emitter of the form
 * asked for. The bytes before a chunk's first '\n' complete the line carried over
 * from the previous call (`pend`); the bytes after its last '\n' become the new
 * carried line. A carried line that grows past max_line is dropped on the spot and
 * the framer discards input up to the next '\n', so `pend` never exceeds max_line.
 *
 * Cost: O(n) per chunk, one pass, no per-line allocation. Only lines that need a
 * trim, and (segments form) lines that are batched, are copied.
 */
#include "ndjson_framer.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP ((size_t)4096)
#define SHRINK_ABOVE ((size_t)1 << 20) /* idle buffers above 1 MiB are given back */

enum { MODE_LINES, MODE_SEGMENTS };

static inline int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Grow *buf to hold at least `need` bytes. */
static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return NDJSON_OK;
    size_t c = *cap > MIN_CAP ? *cap : MIN_CAP;
    while (c < need)
        c = c > SIZE_MAX / 2 ? need : c * 2;
    char *p = realloc(*buf, c);
    if (p == NULL)
        return NDJSON_ENOMEM;
    *buf = p;
    *cap = c;
    return NDJSON_OK;
}

/* Give back a large buffer whose last use was small, so one huge line does not
 * pin its memory for the rest of the session. */
static void maybe_release(char **buf, size_t *cap, size_t last_used)
{
    if (*cap > SHRINK_ABOVE && last_used < *cap / 4) {
        free(*buf);
        *buf = NULL;
        *cap = 0;
    }
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

ndjson_framer *ndjson_framer_new(size_t max_line, size_t max_pending)
{
    if (max_line == 0 || max_pending < max_line)
        return NULL;
    ndjson_framer *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->max_line = max_line;
    f->max_pending = max_pending;
    return f;
}

void ndjson_framer_free(ndjson_framer *f)
{
    if (f == NULL)
        return;
    free(f->pend);
    free(f->head);
    free(f->out);
    free(f->segs);
    free(f);
}

/* ---- the JSON object check -------------------------------------------------- */

/* Where the string whose body starts at p[i] ends: the index of its closing quote,
 * or n if it never closes. A backslash escapes the byte after it, so a quote is
 * escaped exactly when an odd run of backslashes precedes it; memchr jumps from
 * quote to quote instead of looking at every byte of the string. */
static size_t string_end(const unsigned char *p, size_t i, size_t n)
{
    const unsigned char *q;
    while ((q = memchr(p + i, '"', n - i)) != NULL) {
        size_t quote = (size_t)(q - p), run = quote;
        while (run > i && p[run - 1] == '\\')
            run--;
        if ((quote - run) % 2 == 0)
            return quote;
        i = quote + 1;
    }
    return n;
}

int ndjson_is_single_object(const char *line, size_t n)
{
    const unsigned char *p = (const unsigned char *)line;
    if (n < 2 || p[0] != '{' || p[n - 1] != '}')
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

/* ---- segments form ---------------------------------------------------------- */

typedef struct {
    int open;      /* an array segment is open in out */
    size_t start;  /* its offset in out */
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
    if (reserve(&f->out, &f->out_cap, f->out_len + 1))
        return NDJSON_ENOMEM;
    f->out[f->out_len++] = ']';
    b->open = 0;
    return push_segment(f, NDJSON_SEG_ARRAY, b->start, f->out_len - b->start, b->count);
}

/* One complete, trimmed, non-blank line at base[offset:offset+n]; kind says
 * whether base is the chunk (NDJSON_SEG_DATA) or head (NDJSON_SEG_HEAD). */
static int segment_line(ndjson_framer *f, batch_state *b, uint64_t kind, const char *base, size_t offset, size_t n)
{
    const char *line = base + offset;
    if (n <= NDJSON_BATCH_MAX_LINE && ndjson_is_single_object(line, n)) {
        /* "[" or "\n," then the line: a '\n' never occurs inside a line, so a
         * batch that fails to parse splits back into its lines exactly at "\n,". */
        if (reserve(&f->out, &f->out_cap, f->out_len + n + 2))
            return NDJSON_ENOMEM;
        if (b->open) {
            f->out[f->out_len++] = '\n';
            f->out[f->out_len++] = ',';
        } else {
            b->open = 1;
            b->start = f->out_len;
            b->count = 0;
            f->out[f->out_len++] = '[';
        }
        memcpy(f->out + f->out_len, line, n);
        f->out_len += n;
        b->count++;
        return NDJSON_OK;
    }
    if (close_batch(f, b))
        return NDJSON_ENOMEM;
    return push_segment(f, kind, offset, n, 1);
}

/* ---- lines form ------------------------------------------------------------- */

/* Append a cleaned body line and its '\n' to out. */
static int out_line(ndjson_framer *f, const char *line, size_t n)
{
    if (reserve(&f->out, &f->out_cap, f->out_len + n + 1))
        return NDJSON_ENOMEM;
    memcpy(f->out + f->out_len, line, n);
    f->out_len += n;
    f->out[f->out_len++] = '\n';
    return NDJSON_OK;
}

/* The body stops being clean: the clean lines before this point, each with its
 * '\n', go to out in one copy; from here on every line is appended to out. */
static int leave_clean_body(ndjson_framer *f, const char *body, size_t before)
{
    f->body_clean = 0;
    if (before == 0)
        return NDJSON_OK; /* out may still be NULL: no memcpy from or to it */
    if (reserve(&f->out, &f->out_cap, before))
        return NDJSON_ENOMEM;
    memcpy(f->out, body, before);
    f->out_len = before;
    return NDJSON_OK;
}

/* ---- the framing core ------------------------------------------------------- */

/* Move the completed carried line into head, trimmed, by swapping buffers. */
static int take_carried_line(ndjson_framer *f)
{
    size_t s, e;
    trim(f->pend, f->pend_len, &s, &e);
    f->pend_len = 0;
    if (s == e)
        return 0;
    char *buf = f->head;
    size_t cap = f->head_cap;
    f->head = f->pend;
    f->head_cap = f->pend_cap;
    f->pend = buf;
    f->pend_cap = cap;
    if (s > 0)
        memmove(f->head, f->head + s, e - s);
    f->head_len = e - s;
    return 1;
}

/* Count the run of clean lines starting at p (not blank, no whitespace at either
 * end, within the cap) and return where it stops. Lines form only: these lines need
 * no copy, so this loop is the whole C cost of a typical chunk. */
static const char *skip_clean_lines(ndjson_framer *f, const char *p, const char *end)
{
    const size_t max_line = f->max_line;
    uint64_t n = 0;
    const char *nl;
    while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t len = (size_t)(nl - p);
        if (len == 0 || len > max_line || is_space((unsigned char)p[0]) || is_space((unsigned char)nl[-1]))
            break;
        n++;
        p = nl + 1;
    }
    f->lines += n;
    f->newlines += n;
    return p;
}

/* Keep the bytes after a chunk's last '\n' as the carried line. */
static int carry(ndjson_framer *f, const char *p, size_t n)
{
    if (f->discarding) {
        f->dropped_bytes += n;
        return NDJSON_OK;
    }
    if (f->pend_len + n > f->max_line) {
        f->dropped_bytes += f->pend_len + n;
        f->pend_len = 0;
        f->discarding = 1;
        return NDJSON_OK;
    }
    if (n == 0)
        return NDJSON_OK;
    if (reserve(&f->pend, &f->pend_cap, f->pend_len + n))
        return NDJSON_ENOMEM;
    memcpy(f->pend + f->pend_len, p, n);
    f->pend_len += n;
    return NDJSON_OK;
}

static void begin_call(ndjson_framer *f)
{
    maybe_release(&f->head, &f->head_cap, f->head_len);
    maybe_release(&f->out, &f->out_cap, f->out_len);
    if (f->pend_cap > SHRINK_ABOVE && f->pend_len < f->pend_cap / 4) {
        size_t cap = f->pend_len > MIN_CAP ? f->pend_len : MIN_CAP;
        char *p = realloc(f->pend, cap);
        if (p != NULL) {
            f->pend = p;
            f->pend_cap = cap;
        }
    }
    f->newlines = 0;
    f->head_kind = NDJSON_HEAD_NONE;
    f->body_clean = 1;
    f->head_len = 0;
    f->out_len = 0;
    f->nsegs = 0;
}

static int feed(ndjson_framer *f, const char *data, size_t n, int mode)
{
    begin_call(f);
    f->bytes_in += n;

    const char *end = data + n;
    const char *nl = memchr(data, '\n', n);
    if (nl == NULL)
        return carry(f, data, n);

    batch_state batch = {0, 0, 0};
    int rc = NDJSON_OK;

    /* The head: the text before the first '\n' ends the carried line. */
    size_t k = (size_t)(nl - data);
    f->newlines = 1;
    f->head_kind = NDJSON_HEAD_DROP;
    if (f->discarding) {
        f->dropped_bytes += k;
        f->oversized_lines++;
        f->discarding = 0;
    } else if (f->pend_len + k > f->max_line) {
        f->dropped_bytes += f->pend_len + k;
        f->oversized_lines++;
        f->pend_len = 0;
    } else if (f->pend_len > 0) {
        if ((rc = carry(f, data, k)))
            return rc;
        if (take_carried_line(f)) {
            f->lines++;
            f->head_kind = NDJSON_HEAD_BUFFER;
            if (mode == MODE_SEGMENTS && (rc = segment_line(f, &batch, NDJSON_SEG_HEAD, f->head, 0, f->head_len)))
                return rc;
        }
    } else {
        size_t s, e;
        trim(data, k, &s, &e);
        if (s < e) {
            f->lines++;
            if (mode == MODE_SEGMENTS) {
                if ((rc = segment_line(f, &batch, NDJSON_SEG_DATA, data, s, e - s)))
                    return rc;
            } else if (s == 0 && e == k) {
                f->head_kind = NDJSON_HEAD_KEEP;
            } else {
                if ((rc = reserve(&f->head, &f->head_cap, e - s)))
                    return rc;
                memcpy(f->head, data + s, e - s);
                f->head_len = e - s;
                f->head_kind = NDJSON_HEAD_BUFFER;
            }
        }
    }

    /* The body: every line between the first and the last '\n'. */
    const char *body = nl + 1;
    const char *p = mode == MODE_LINES ? skip_clean_lines(f, body, end) : body;
    while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t len = (size_t)(nl - p);
        size_t off = (size_t)(p - data);
        f->newlines++;
        p = nl + 1;
        if (len > f->max_line) {
            f->oversized_lines++;
            f->dropped_bytes += len;
            if (mode == MODE_LINES && f->body_clean && (rc = leave_clean_body(f, body, off - (size_t)(body - data))))
                return rc;
            continue;
        }
        size_t s, e;
        trim(data + off, len, &s, &e);
        if (mode == MODE_SEGMENTS) {
            if (s < e) {
                f->lines++;
                if ((rc = segment_line(f, &batch, NDJSON_SEG_DATA, data, off + s, e - s)))
                    return rc;
            }
            continue;
        }
        if (s < e)
            f->lines++;
        if (f->body_clean) {
            if (s == 0 && e == len && len > 0)
                continue; /* clean: Python's split of the chunk yields it as is */
            if ((rc = leave_clean_body(f, body, off - (size_t)(body - data))))
                return rc;
        }
        if (s < e && (rc = out_line(f, data + off + s, e - s)))
            return rc;
    }
    if (mode == MODE_LINES && !f->body_clean && f->out_len > 0)
        f->out_len--; /* the last line's '\n': out splits into exactly its lines */
    if (mode == MODE_SEGMENTS && (rc = close_batch(f, &batch)))
        return rc;

    /* The tail: the bytes after the last '\n' start the next carried line. */
    return carry(f, p, (size_t)(end - p));
}

int ndjson_feed_lines(ndjson_framer *f, const char *data, size_t n)
{
    int rc = feed(f, data, n, MODE_LINES);
    if (rc != NDJSON_OK)
        return rc;
    if (f->newlines == 0)
        return NDJSON_HEAD_NONE;
    return f->head_kind | (f->body_clean ? NDJSON_BODY_CLEAN : 0);
}

int ndjson_feed_segments(ndjson_framer *f, const char *data, size_t n)
{
    return feed(f, data, n, MODE_SEGMENTS);
}

int ndjson_finish(ndjson_framer *f)
{
    begin_call(f);
    if (f->discarding) {
        f->oversized_lines++;
        f->discarding = 0;
        f->head_kind = NDJSON_HEAD_DROP;
        return NDJSON_OK;
    }
    if (f->pend_len == 0)
        return NDJSON_OK;
    f->head_kind = NDJSON_HEAD_DROP;
    if (take_carried_line(f)) {
        f->lines++;
        f->head_kind = NDJSON_HEAD_BUFFER;
    }
    return NDJSON_OK;
}
