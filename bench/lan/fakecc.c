/* fakecc: a compiler stand-in whose compiles take simulated CPU time, for bench/lan.
 *
 *   fakecc -E SRC            prints SRC (what distcc runs on the client to preprocess)
 *   fakecc -c SRC -o OBJ     asks this host's CPU model (a unix socket named after the
 *                            hostname in CPU_DIR) to run the work written in SRC as
 *                            "work: X [client] [unit]" and writes OBJ once it is done
 *   anything else            runs gcc with the same arguments (-dumpmachine, -v...)
 *
 * Written in C, not Python, so that starting it costs about a millisecond: every
 * compile runs it twice and the benchmark shares a 2-core machine with 10 hosts.
 * The CPU model answers when the work is done under processor sharing, so a compile
 * takes the time it would on that host without burning CPU here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef CPU_DIR
#error "build with -DCPU_DIR=\"/path/of/the/models/sockets\""
#endif

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fakecc: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "fakecc: out of memory\n");
        exit(1);
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Sends "WORK CLIENT UNIT\n" and waits for the model's "done" line. */
static void run_work(const char *request) {
    char host[256] = "", path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    gethostname(host, sizeof host - 1);
    if (snprintf(path, sizeof path, "%s/%s.sock", CPU_DIR, host) >= (int)sizeof path) {
        fprintf(stderr, "fakecc: socket path too long\n");
        exit(1);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "fakecc: no CPU model at %s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t len = strlen(request);
    if (write(fd, request, len) != (ssize_t)len) {
        fprintf(stderr, "fakecc: write to the CPU model: %s\n", strerror(errno));
        exit(1);
    }
    char reply[64];
    ssize_t n = read(fd, reply, sizeof reply - 1);
    if (n <= 0 || strncmp(reply, "done", 4) != 0) {
        fprintf(stderr, "fakecc: the CPU model did not finish the job\n");
        exit(1);
    }
    close(fd);
}

int main(int argc, char **argv) {
    int pre = 0, compile = 0;
    const char *out = NULL, *src = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-E"))
            pre = 1;
        else if (!strcmp(argv[i], "-c"))
            compile = 1;
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] != '-')
            src = argv[i];
    }
    if (!src || (!pre && !compile)) {
        argv[0] = "gcc";
        execvp("gcc", argv);
        fprintf(stderr, "fakecc: exec gcc: %s\n", strerror(errno));
        return 1;
    }
    size_t len;
    char *text = slurp(src, &len);
    if (pre) {
        FILE *f = out ? fopen(out, "wb") : stdout;
        if (!f || fwrite(text, 1, len, f) != len || (out && fclose(f) != 0)) {
            fprintf(stderr, "fakecc: cannot write the preprocessed output\n");
            return 1;
        }
        return 0;
    }
    const char *w = strstr(text, "work: ");
    if (!w) {
        fprintf(stderr, "fakecc: %s carries no \"work: X\" line\n", src);
        return 1;
    }
    char request[256];
    const char *eol = strchr(w, '\n');
    int n = eol ? (int)(eol - w - 6) : (int)strlen(w + 6);
    snprintf(request, sizeof request, "%.*s\n", n < 200 ? n : 200, w + 6);
    run_work(request);
    FILE *f = fopen(out ? out : "a.o", "wb");
    if (!f || fprintf(f, "fake object of %s\n", src) < 0 || fclose(f) != 0) {
        fprintf(stderr, "fakecc: cannot write %s\n", out ? out : "a.o");
        return 1;
    }
    return 0;
}
