/*
 * The one runner program every peer drives in bench/peers.py: a stand-in for an agent
 * runner (or for the `claude` CLI) that replays a transcript file at full speed.
 *
 * It speaks just enough of each protocol to be driven unchanged by every peer:
 *   - sidecar runner protocol (as sidecar_sync and the original TypeScript
 *     implementation drive their runners): waits for a line on stdin; a
 *     "query" line starts a turn, "stop" exits, "ping" answers "pong";
 *   - Claude Code stream-json input (the official SDK): answers every control_request
 *     with a success control_response, and a "user" line starts a turn.
 * A turn = the transcript written to stdout SIDECAR_BENCH_REPEAT times with sendfile(2)
 * (no copy through user space), then an end line. EOF on stdin exits 0.
 *
 * Environment (all optional except the transcript):
 *   SIDECAR_BENCH_TRANSCRIPT  path of the NDJSON file to replay
 *   SIDECAR_BENCH_REPEAT      times to write it per turn (default 1)
 *   SIDECAR_BENCH_END         "stopped" (default): {"type":"agent_stopped"} ends each turn;
 *                             "none": nothing (the transcript's own result line ends it)
 *   SIDECAR_BENCH_CPU         pin this process to that CPU
 * `-v` / `--version` anywhere in argv prints a Claude-like version (the SDK checks it).
 * Every other argument is ignored (the original implementation passes its runner .mjs path, the
 * SDK its flags).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "bench emitter: %s: %s\n", what, strerror(errno));
    exit(3);
}

static void write_all(const char *p, size_t n) {
    while (n) {
        ssize_t w = write(1, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write stdout");
        }
        p += w;
        n -= (size_t)w;
    }
}

static void copy_file(int fd, off_t size) {
    off_t off = 0;
    while (off < size) {
        ssize_t n = sendfile(1, fd, &off, (size_t)(size - off));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == EINVAL || errno == ENOSYS) break; /* fall back to read/write */
            die("sendfile");
        }
        if (n == 0) break;
    }
    if (off < size) {
        static char buf[1 << 20];
        if (lseek(fd, off, SEEK_SET) < 0) die("lseek");
        while (off < size) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR) continue;
                die("read transcript");
            }
            if (n == 0) break;
            write_all(buf, (size_t)n);
            off += n;
        }
    }
}

/* Copy the value of "request_id":"..." from line into out (empty if absent). */
static void request_id(const char *line, char *out, size_t cap) {
    const char *p = strstr(line, "\"request_id\"");
    out[0] = 0;
    if (!p) return;
    p = strchr(p + 12, '"');
    if (!p) return;
    p++;
    size_t i = 0;
    while (*p && *p != '"' && i + 1 < cap) out[i++] = *p++;
    out[i] = 0;
}

static int has_type(const char *line, const char *type) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"type\":\"%s\"", type);
    if (strstr(line, pat)) return 1;
    snprintf(pat, sizeof pat, "\"type\": \"%s\"", type);
    return strstr(line, pat) != NULL;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--version")) {
            puts("2.1.330 (Claude Code)");
            return 0;
        }
    const char *cpu = getenv("SIDECAR_BENCH_CPU");
    if (cpu && *cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(cpu), &set);
        sched_setaffinity(0, sizeof set, &set); /* best effort */
    }
    const char *path = getenv("SIDECAR_BENCH_TRANSCRIPT");
    if (!path || !*path) {
        fputs("bench emitter: SIDECAR_BENCH_TRANSCRIPT is not set\n", stderr);
        return 2;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) die(path);
    struct stat st;
    if (fstat(fd, &st) < 0) die("fstat");
    const char *rep = getenv("SIDECAR_BENCH_REPEAT");
    long repeat = rep && *rep ? atol(rep) : 1;
    const char *end = getenv("SIDECAR_BENCH_END");
    int end_stopped = !(end && !strcmp(end, "none"));

    /* Read stdin line by line; lines are short commands, so a fixed buffer is enough. */
    static char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        char *nl = memchr(buf, '\n', have);
        if (!nl) {
            if (have == sizeof buf) have = 0; /* an absurdly long command: drop it */
            ssize_t n = read(0, buf + have, sizeof buf - have);
            if (n < 0) {
                if (errno == EINTR) continue;
                die("read stdin");
            }
            if (n == 0) return 0; /* EOF: the supervisor is done with us */
            have += (size_t)n;
            continue;
        }
        *nl = 0;
        const char *line = buf;
        if (has_type(line, "control_request")) {
            char id[256], out[512];
            request_id(line, id, sizeof id);
            int n = snprintf(out, sizeof out,
                             "{\"type\":\"control_response\",\"response\":{\"subtype\":\"success\","
                             "\"request_id\":\"%s\",\"response\":{}}}\n",
                             id);
            write_all(out, (size_t)n);
        } else if (has_type(line, "stop")) {
            return 0;
        } else if (has_type(line, "ping")) {
            write_all("{\"type\":\"pong\"}\n", 16);
        } else if (has_type(line, "query") || has_type(line, "user")) {
            for (long r = 0; r < repeat; r++) copy_file(fd, st.st_size);
            if (end_stopped) write_all("{\"type\":\"agent_stopped\"}\n", 25);
        }
        size_t used = (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, have - used);
        have -= used;
    }
}
