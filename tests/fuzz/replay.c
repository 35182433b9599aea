/*
 * replay: run the fuzz harness over a corpus without libFuzzer.
 *
 *     fuzz_replay [DIR-OR-FILE...]
 *
 * Calls LLVMFuzzerTestOneInput once per regular file of each directory
 * (not recursing; dot files skipped) or per file named, in name order, or
 * over $FUZZ_CORPUS when no argument is given (a harness with a corpus
 * of its own is built with REPLAY_CORPUS_ENV naming another variable).
 * This is how `make check` replays tests/fuzz/corpus* with any compiler,
 * and how a crashing input is reproduced under a debugger.  Exits 0 when
 * every input ran, 77 (the Automake "skip" status) when there is no corpus
 * to replay, and 1 when an input cannot be read or a corpus directory is
 * empty.  A broken promise aborts in the harness itself.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SKIP 77

#ifndef REPLAY_CORPUS_ENV
#define REPLAY_CORPUS_ENV "FUZZ_CORPUS"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file.  0, or -1 when it cannot be read. */
static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        abort();
    for (;;) {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb)
                abort();
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "fuzz_replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* An exact-size copy, as libFuzzer gives, so ASan bounds the input. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact)
        abort();
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of dir.  The count run, or -1. */
static long
run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn)
                abort();
            names = nn;
        }
        size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
        names[n] = malloc(len);
        if (!names[n])
            abort();
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), by_name);

    long ran = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (ran >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(names[i]) < 0)
                ran = -1;
            else
                ran++;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int
main(int argc, char **argv)
{
    const char *env = getenv(REPLAY_CORPUS_ENV);
    char *const *paths = argv + 1;
    int npaths = argc - 1;
    char *one[1];

    if (npaths == 0) {
        if (!env || !*env) {
            fprintf(stderr, "fuzz_replay: no corpus given (arguments or "
                    "$" REPLAY_CORPUS_ENV "): skipped\n");
            return SKIP;
        }
        one[0] = (char *)env;
        paths = one;
        npaths = 1;
    }

    long total = 0;
    for (int i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            fprintf(stderr, "fuzz_replay: %s: %s: skipped\n", paths[i],
                    strerror(errno));
            return SKIP;
        }
        long ran;
        if (S_ISDIR(st.st_mode)) {
            ran = run_dir(paths[i]);
            if (ran == 0) {
                fprintf(stderr, "fuzz_replay: %s: no input\n", paths[i]);
                return 1;
            }
        } else {
            ran = run_file(paths[i]) < 0 ? -1 : 1;
        }
        if (ran < 0)
            return 1;
        printf("fuzz_replay: %s: %ld input%s\n", paths[i], ran,
               ran == 1 ? "" : "s");
        total += ran;
    }
    printf("fuzz_replay: %ld inputs ran\n", total);
    return 0;
}
