/*
 * demo_forms: the demo app's form and upload routes.
 *
 *   POST /upload  multipart: a text field `note` and one or more files
 *                 `files` -> {"note":..., "files":[{"filename",
 *                 "content_type", "size", "sha256"}]}; files over
 *                 max_upload_size (50 MB by default) are refused (413)
 *                 by the framework while they arrive.
 *   POST /login   form fields `username` and `password`, both required
 *                 -> {"username":...}.
 *
 * /upload is a blocking route: hashing a large file takes a while, so it
 * runs on the thread pool and the loop keeps serving.  The SHA-256 below
 * (FIPS 180-4) is the demo's own: the project links no crypto library.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

/* ---- SHA-256 ------------------------------------------------------------ */

typedef struct sha256 {
    uint32_t h[8];
    uint64_t len;           /* bytes hashed */
    unsigned char buf[64];
    size_t n;               /* bytes in buf */
} sha256_t;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
sha256_block(sha256_t *s, const unsigned char *p)
{
    uint32_t w[64], a[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^
                      (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^
                      (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, s->h, sizeof(a));
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25);
        uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
        uint32_t t1 = a[7] + S1 + ch + K[i] + w[i];
        uint32_t S0 = ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22);
        uint32_t mj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);
        memmove(a + 1, a, 7 * sizeof(a[0]));
        a[4] += t1;
        a[0] = t1 + S0 + mj;
    }
    for (int i = 0; i < 8; i++)
        s->h[i] += a[i];
}

static void
sha256_init(sha256_t *s)
{
    static const uint32_t h0[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    memcpy(s->h, h0, sizeof(h0));
    s->len = 0;
    s->n = 0;
}

static void
sha256_update(sha256_t *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->len += len;
    while (len) {
        if (s->n == 0 && len >= 64) {
            sha256_block(s, p);
            p += 64;
            len -= 64;
            continue;
        }
        size_t k = 64 - s->n < len ? 64 - s->n : len;
        memcpy(s->buf + s->n, p, k);
        s->n += k;
        p += k;
        len -= k;
        if (s->n == 64) {
            sha256_block(s, s->buf);
            s->n = 0;
        }
    }
}

/* The digest as 64 hex digits and a NUL. */
static void
sha256_hex(sha256_t *s, char out[65])
{
    uint64_t bits = s->len * 8;
    unsigned char pad[72] = { 0x80 };
    size_t padlen = (s->n < 56 ? 56 : 120) - s->n;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(s, pad, padlen + 8);
    for (int i = 0; i < 8; i++)
        snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

/* ---- routes ------------------------------------------------------------- */

const evf_query demo_upload_form[] = {
    EVF_Q("note", EVF_STR),
    EVF_Q("files", EVF_FILE),
    { .name = NULL },
};

const evf_query demo_login_form[] = {
    EVF_Q("username", EVF_STR),
    EVF_Q("password", EVF_STR),
    { .name = NULL },
};

/* SHA-256 of an uploaded file, read from its start; -1 on a read error. */
static int
hash_upload(const evf_upload *u, char hex[65])
{
    unsigned char buf[16384];  /* a pool thread's stack */
    sha256_t s;
    sha256_init(&s);
    off_t at = 0;
    for (;;) {
        ssize_t n = pread(u->fd, buf, sizeof(buf), at);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        sha256_update(&s, buf, (size_t)n);
        at += n;
    }
    sha256_hex(&s, hex);
    return 0;
}

void
demo_upload(evf_req *r)
{
    size_t n;
    const evf_upload *files = evf_files(r, "files", &n);
    json_object *o = json_object_new_object();
    json_object *list = json_object_new_array();
    json_object_object_add(o, "note",
                           json_object_new_string(evf_form_str(r, "note")));
    json_object_object_add(o, "files", list);
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        if (hash_upload(&files[i], hex) < 0) {
            json_object_put(o);
            evf_log(r, EVF_LOG_ERROR, "reading %s failed", files[i].path);
            evf_raise(r, 500, NULL);
            return;
        }
        json_object *f = json_object_new_object();
        json_object_object_add(f, "filename",
                               json_object_new_string(files[i].filename));
        json_object_object_add(f, "content_type",
                               json_object_new_string(files[i].content_type));
        json_object_object_add(f, "size",
                               json_object_new_int64((int64_t)files[i].size));
        json_object_object_add(f, "sha256", json_object_new_string(hex));
        json_object_array_add(list, f);
    }
    evf_json(r, 200, o);
}

void
demo_login(evf_req *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "username", json_object_new_string(
                               evf_form_str(r, "username")));
    evf_json(r, 200, o);
}
