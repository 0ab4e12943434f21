/*
 * fuzz_framer.c - replay random streams through the C framer in random chunkings and
 * check both output forms against a whole-stream reference.
 *
 * Meant to run under AddressSanitizer + UndefinedBehaviorSanitizer (and valgrind):
 * see run_sanitizers.sh beside it, which CI runs with 20000 cases after the test suite
 * (the suite checks the same properties from Python with hypothesis).
 *
 * Every chunk is copied into a malloc block of exactly its size, so a read one byte
 * past a chunk is caught. The reference splits the whole stream on '\n', drops parts
 * over the cap, trims ASCII whitespace and skips blank parts; the lines form is
 * rebuilt exactly as the Python wrapper (sidecar_sync/_cframer.py) does it, and every
 * array of the segments form is split back on "\n," and checked line by line. Misuse
 * (NULL arguments, a zero cap) must be refused with NDJSON_EINVAL.
 *
 * Usage: fuzz_framer [cases] [seed]      exit status 0 when every case passed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ndjson_framer.h"

/* ---- small helpers ------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t below(size_t n)
{
    return n ? (size_t)(next_random() % n) : 0;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

typedef struct {
    char *data;
    size_t len, cap;
} text;

static void append(text *t, const char *p, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 64;
        t->data = realloc(t->data, t->cap);
        if (t->data == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    if (n)
        memcpy(t->data + t->len, p, n);
    t->len += n;
}

/* Lines are stored back to back in one text, their lengths apart, so that a line
 * may hold any byte, '\0' included. */
typedef struct {
    text bytes;
    size_t *lens;
    size_t n, cap;
} lines;

static void add_line(lines *l, const char *p, size_t n)
{
    if (l->n == l->cap) {
        l->cap = l->cap * 2 + 16;
        l->lens = realloc(l->lens, l->cap * sizeof *l->lens);
        if (l->lens == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    l->lens[l->n++] = n;
    append(&l->bytes, p, n);
}

static void clear_lines(lines *l)
{
    l->n = 0;
    l->bytes.len = 0;
}

static int same_lines(const lines *a, const lines *b)
{
    if (a->n != b->n || a->bytes.len != b->bytes.len)
        return 0;
    if (a->n == 0)
        return 1;
    return memcmp(a->lens, b->lens, a->n * sizeof *a->lens) == 0 &&
           (a->bytes.len == 0 || memcmp(a->bytes.data, b->bytes.data, a->bytes.len) == 0);
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* ---- the reference ---------------------------------------------------------------- */

typedef struct {
    uint64_t lines, oversized, dropped;
} counts;

static void reference(const char *s, size_t n, size_t cap, lines *out, counts *c)
{
    size_t start = 0;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '\n')
            continue;
        size_t len = i - start;
        if (len > cap) {
            c->oversized++;
            c->dropped += len;
        } else {
            size_t a = start, b = i;
            while (a < b && is_space((unsigned char)s[a]))
                a++;
            while (b > a && is_space((unsigned char)s[b - 1]))
                b--;
            if (a < b) {
                add_line(out, s + a, b - a);
                c->lines++;
            }
        }
        start = i + 1;
    }
}

/* ---- collecting the framer's output ------------------------------------------- */

static void split_into(lines *out, const char *p, size_t n, const char *sep, size_t sep_len)
{
    size_t start = 0;
    for (size_t i = 0; i + sep_len <= n; i++) {
        if (memcmp(p + i, sep, sep_len) == 0) {
            add_line(out, p + start, i - start);
            start = i + sep_len;
            i += sep_len - 1;
        }
    }
    add_line(out, p + start, n - start);
}

static int fail(const char *what, size_t case_no)
{
    fprintf(stderr, "case %zu: %s\n", case_no, what);
    return 1;
}

/* The lines of one ndjson_feed_lines or ndjson_finish call, rebuilt as the Python
 * wrapper does it: first, then the chunk's own parts, then out split at '\n'. */
static int collect_lines(const ndjson_lines *r, int rc, const char *chunk, size_t k, lines *out, size_t case_no)
{
    if (rc != NDJSON_OK)
        return fail("ndjson_feed_lines failed", case_no);
    if (r->parts == NDJSON_PARTS_NONE) {
        if (r->first_len > 0)
            add_line(out, r->first, r->first_len);
        if (r->out_len > 0)
            split_into(out, r->out, r->out_len, "\n", 1);
        return 0;
    }
    if (r->parts != NDJSON_PARTS_ALL && r->parts != NDJSON_PARTS_REST)
        return fail("unknown parts kind", case_no);
    if (r->out_len > 0 || (r->parts == NDJSON_PARTS_ALL && r->first_len > 0))
        return fail("chunk parts combined with copied lines", case_no);
    const char *first_nl = memchr(chunk, '\n', k);
    if (first_nl == NULL)
        return fail("chunk parts for a chunk without a newline", case_no);
    if (r->parts == NDJSON_PARTS_ALL)
        add_line(out, chunk, (size_t)(first_nl - chunk));
    else if (r->first_len > 0)
        add_line(out, r->first, r->first_len);
    const char *last_nl = first_nl;
    for (const char *p = first_nl; (p = memchr(p + 1, '\n', (size_t)(chunk + k - p - 1))) != NULL;)
        last_nl = p;
    if (last_nl > first_nl)
        split_into(out, first_nl + 1, (size_t)(last_nl - first_nl - 1), "\n", 1);
    return 0;
}

/* The lines of one ndjson_feed_segments call; arrays are checked on the way. */
static int collect_segments(const ndjson_segments *r, int rc, const char *chunk, lines *out, size_t case_no)
{
    if (rc != NDJSON_OK)
        return fail("ndjson_feed_segments failed", case_no);
    lines batch = {0};
    int failed = 0;
    for (size_t i = 0; i < r->nsegs && !failed; i++) {
        const ndjson_segment *s = &r->segs[i];
        if (s->kind == NDJSON_SEG_DATA) {
            add_line(out, chunk + s->offset, s->length);
        } else if (s->kind == NDJSON_SEG_HEAD) {
            if (s->offset + s->length > r->head_len)
                failed = fail("a head segment runs past head", case_no);
            else
                add_line(out, r->head + s->offset, s->length);
        } else if (s->offset + s->length > r->out_len) {
            failed = fail("an array segment runs past out", case_no);
        } else {
            const char *a = r->out + s->offset;
            if (s->length < 2 || a[0] != '[' || a[s->length - 1] != ']') {
                failed = fail("an array segment is not bracketed", case_no);
                break;
            }
            clear_lines(&batch);
            split_into(&batch, a + 1, s->length - 2, "\n,", 2);
            if (batch.n != s->count) {
                failed = fail("an array segment's count is wrong", case_no);
                break;
            }
            size_t at = 0;
            for (size_t j = 0; j < batch.n && !failed; j++) {
                if (!ndjson_is_single_object(batch.bytes.data + at, batch.lens[j]))
                    failed = fail("a batched line is not a single object", case_no);
                add_line(out, batch.bytes.data + at, batch.lens[j]);
                at += batch.lens[j];
            }
        }
    }
    free(batch.bytes.data);
    free(batch.lens);
    return failed;
}

static ndjson_counters counters(const ndjson_framer *f)
{
    ndjson_counters c;
    if (ndjson_stats(f, &c) != NDJSON_OK) {
        fprintf(stderr, "ndjson_stats failed\n");
        exit(2);
    }
    return c;
}

/* ---- one case ------------------------------------------------------------------------ */

static const char *const PIECES[] = {
    "\n", "\r\n", "\r", " ", "\t", "\v", "\f", "{", "}", "[", "]", "\"", "\\", ",", ":", "a", "\xff", "\xc3",
    "{\"a\":1}", "{\"s\":\"x\\\"}\"}", "{\"a\":1},{\"b\":2}", "{\"x\":\"}", "null", "{}",
};
#define NPIECES (sizeof PIECES / sizeof PIECES[0])

static void make_stream(text *s, size_t cap)
{
    s->len = 0;
    size_t pieces = below(40);
    for (size_t i = 0; i < pieces; i++) {
        size_t kind = below(10);
        if (kind < 6) {
            const char *p = PIECES[below(NPIECES)];
            append(s, p, strlen(p));
        } else if (kind < 9) {
            /* a line at, below or past the cap, or any length up to 3 caps */
            size_t choices[4] = {cap, cap + 1, cap ? cap - 1 : 0, below(3 * cap + 3)};
            size_t len = choices[below(4)];
            for (size_t j = 0; j < len; j++) {
                char c = (char)('a' + below(26));
                append(s, &c, 1);
            }
            append(s, "\n", below(2));
        } else {
            char c = (char)below(256);
            append(s, &c, 1);
        }
    }
}

static int run_case(size_t case_no, const text *s, size_t cap)
{
    int failed = 0;
    lines want = {0}, by_lines = {0}, by_segments = {0};
    counts ref;
    reference(s->data, s->len, cap, &want, &ref);

    ndjson_framer *fl, *fs;
    if (ndjson_framer_new(&fl, cap) != NDJSON_OK)
        return fail("ndjson_framer_new failed", case_no);
    if (ndjson_framer_new(&fs, cap) != NDJSON_OK) {
        ndjson_framer_free(fl);
        return fail("ndjson_framer_new failed", case_no);
    }
    ndjson_lines rl;
    ndjson_segments rs;

    size_t pos = 0;
    while (pos <= s->len && !failed) {
        size_t k = below(s->len - pos + 2);
        if (pos + k > s->len)
            k = s->len - pos;
        /* exactly k bytes, so reads past the chunk are caught; an empty chunk is
         * passed as NULL half of the time, which the API allows */
        char *chunk = k || below(2) ? xmalloc(k) : NULL;
        if (k)
            memcpy(chunk, s->data + pos, k);
        failed |= collect_lines(&rl, ndjson_feed_lines(fl, chunk, k, &rl), chunk, k, &by_lines, case_no);
        failed |= collect_segments(&rs, ndjson_feed_segments(fs, chunk, k, &rs), chunk, &by_segments, case_no);
        if (counters(fl).pending > cap || counters(fs).pending > cap)
            failed |= fail("pending exceeds the cap", case_no);
        free(chunk);
        pos += k;
        if (pos == s->len && below(2))
            break;
    }
    if (!failed) {
        if (ndjson_finish(fl, &rl) != NDJSON_OK)
            failed |= fail("ndjson_finish failed", case_no);
        else if (rl.parts != NDJSON_PARTS_NONE || rl.out_len != 0)
            failed |= fail("ndjson_finish returned more than one line", case_no);
        else if (rl.first_len > 0)
            add_line(&by_lines, rl.first, rl.first_len);
        if (ndjson_finish(fs, &rl) != NDJSON_OK)
            failed |= fail("ndjson_finish failed", case_no);
        else if (rl.first_len > 0)
            add_line(&by_segments, rl.first, rl.first_len);
        if (!same_lines(&want, &by_lines))
            failed |= fail("lines form differs from the reference", case_no);
        if (!same_lines(&want, &by_segments))
            failed |= fail("segments form differs from the reference", case_no);
        ndjson_counters cl = counters(fl), cs = counters(fs);
        if (cl.lines != ref.lines || cl.oversized_lines != ref.oversized || cl.dropped_bytes != ref.dropped ||
            cl.pending != 0 || cl.bytes_in != s->len)
            failed |= fail("counters differ from the reference", case_no);
        if (cs.lines != cl.lines || cs.oversized_lines != cl.oversized_lines || cs.dropped_bytes != cl.dropped_bytes ||
            cs.pending != 0 || cs.bytes_in != cl.bytes_in)
            failed |= fail("the two forms count differently", case_no);
    }
    ndjson_framer_free(fl);
    ndjson_framer_free(fs);
    free(want.bytes.data);
    free(want.lens);
    free(by_lines.bytes.data);
    free(by_lines.lens);
    free(by_segments.bytes.data);
    free(by_segments.lens);
    return failed;
}

/* Big lines make the buffers grow past 1 MiB and shrink again (maybe_release). */
static int run_big_case(size_t case_no)
{
    text s = {0};
    size_t cap = 1 + below(3u << 20);
    for (int i = 0; i < 4; i++) {
        size_t len = below(4u << 20);
        for (size_t j = 0; j < len; j++) {
            char c = j == 0 ? '{' : j + 1 == len ? '}' : 'x';
            append(&s, &c, 1);
        }
        append(&s, "\n{\"small\":1}\n", 13);
    }
    int failed = run_case(case_no, &s, cap);
    free(s.data);
    return failed;
}

static void check_object_scanner(void)
{
    size_t n = below(24);
    char *line = xmalloc(n); /* exact size: the scanner must not read past it */
    for (size_t i = 0; i < n; i++)
        line[i] = "{}[]\"\\,:a "[below(10)];
    (void)ndjson_is_single_object(line, n);
    free(line);
}

/* Every misuse the API can detect is refused with NDJSON_EINVAL and changes nothing. */
static int check_misuse(void)
{
    int failed = 0;
    ndjson_framer *f = (ndjson_framer *)&failed; /* must be overwritten with NULL */
    ndjson_lines rl;
    ndjson_segments rs;
    ndjson_counters c;
    if (ndjson_framer_new(&f, 0) != NDJSON_EINVAL || f != NULL)
        failed |= fail("max_line 0 was accepted", 0);
    if (ndjson_framer_new(NULL, 1) != NDJSON_EINVAL)
        failed |= fail("a NULL out pointer was accepted", 0);
    if (ndjson_framer_new(&f, 4) != NDJSON_OK)
        return fail("ndjson_framer_new failed", 0);
    if (ndjson_feed_lines(NULL, "a\n", 2, &rl) != NDJSON_EINVAL || ndjson_feed_lines(f, "a\n", 2, NULL) != NDJSON_EINVAL ||
        ndjson_feed_lines(f, NULL, 1, &rl) != NDJSON_EINVAL || ndjson_feed_segments(NULL, "a\n", 2, &rs) != NDJSON_EINVAL ||
        ndjson_feed_segments(f, "a\n", 2, NULL) != NDJSON_EINVAL || ndjson_feed_segments(f, NULL, 1, &rs) != NDJSON_EINVAL ||
        ndjson_finish(NULL, &rl) != NDJSON_EINVAL || ndjson_finish(f, NULL) != NDJSON_EINVAL ||
        ndjson_stats(NULL, &c) != NDJSON_EINVAL || ndjson_stats(f, NULL) != NDJSON_EINVAL)
        failed |= fail("a NULL argument was accepted", 0);
    c = counters(f);
    if (c.bytes_in != 0 || c.lines != 0)
        failed |= fail("a refused call changed the framer", 0);
    if (ndjson_is_single_object(NULL, 2))
        failed |= fail("NULL is a single object", 0);
    ndjson_framer_free(f);
    ndjson_framer_free(NULL); /* a no-op, like free(NULL) */
    return failed;
}

int main(int argc, char **argv)
{
    size_t cases = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    if (argc > 2)
        rng = strtoull(argv[2], NULL, 10) | 1;
    int failed = 0;
    text s = {0};
    for (size_t i = 0; i < cases && !failed; i++) {
        size_t cap = below(4) ? 1 + below(6) : 1 + below(60);
        make_stream(&s, cap);
        failed |= run_case(i, &s, cap);
        check_object_scanner();
        if (i % 2000 == 0)
            failed |= run_big_case(i);
    }
    free(s.data);
    failed |= check_misuse();
    printf("%s: %zu cases\n", failed ? "FAILED" : "ok", cases);
    return failed;
}
