/*
 * test_forms: form fields and uploads at the request level (suite
 * "forms"), through a real connection (fcgi_peer.h).
 *
 * Covered: a multipart body sent in small STDIN records reaches the
 * handler as fields and files (names, types, sizes, content read through
 * the fd); the temporary files are gone once the request ends, and also
 * when it is aborted while its handler awaits, when its deadline passes,
 * and when the connection closes in the middle of an upload;
 * max_upload_size, max_upload_total and max_upload_files (and max_body
 * for the fields) give 413 with their detail and leave no file; a
 * required file or field missing gives 422 with loc ["body", name], after
 * the query's errors; urlencoded fields are converted and bounded like
 * query parameters; a malformed body gives 400 with its detail; a route
 * without .form still receives a multipart body whole.
 */
#include "config.h"

#include <dirent.h>
#include <ev.h>
#include <fastcgi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "log.h"
#include "loop.h"
#include "settings.h"
#include "unit.h"

static char updir[256];
static char seen_path[512];     /* the last upload's path, as the handler saw */
static int running;             /* handlers past their start */

/* Files in the upload directory. */
static int
dir_count(void)
{
    DIR *d = opendir(updir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static bool
dir_empty(const void *arg)
{
    (void)arg;
    return dir_count() == 0;
}

static bool
dir_nonempty(const void *arg)
{
    (void)arg;
    return dir_count() > 0;
}

static bool
is_running(const void *arg)
{
    (void)arg;
    return running > 0;
}

/* POST /up: "note=...;" then "field|filename|type|size|content;" a file. */
static void
h_up(evf_req *r)
{
    static char out[8192];
    size_t n, o;
    const evf_upload *f = evf_files(r, "files", &n);
    o = (size_t)snprintf(out, sizeof(out), "note=%s;",
                         evf_form_str(r, "note"));
    for (size_t i = 0; i < n; i++) {
        char buf[256] = "";
        ssize_t k = read(f[i].fd, buf, sizeof(buf) - 1);
        buf[k > 0 ? k : 0] = '\0';
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s|%s|%s|%llu|%s;",
                              f[i].field, f[i].filename, f[i].content_type,
                              (unsigned long long)f[i].size, buf);
        snprintf(seen_path, sizeof(seen_path), "%s", f[i].path);
    }
    if (n) {
        CU_ASSERT_STRING_EQUAL(evf_file(r, "files")->filename, f[0].filename);
    } else {
        CU_ASSERT_PTR_NULL(evf_file(r, "files"));
    }
    evf_text(r, 200, out);
}

/* POST /slow: the upload arrives, then the handler awaits for long. */
static void
h_slow(evf_req *r)
{
    const evf_upload *f = evf_file(r, "files");
    if (f)
        snprintf(seen_path, sizeof(seen_path), "%s", f->path);
    running++;
    evf_sleep(r, 30);
    evf_text(r, 200, "late");
}

/* POST /typed?n=: typed fields. */
static void
h_typed(evf_req *r)
{
    char out[128];
    snprintf(out, sizeof(out), "age=%lld ratio=%g ok=%d has=%d",
             (long long)evf_form_int(r, "age"), evf_form_float(r, "ratio"),
             evf_form_bool(r, "ok"), evf_form_has(r, "ratio"));
    evf_text(r, 200, out);
}

/* POST /raw: a route without .form. */
static void
h_raw(evf_req *r)
{
    size_t len;
    const void *b = evf_body(r, &len);
    evf_respond(r, 200, "text/plain", b, len);
}

static const evf_query up_form[] = {
    EVF_Q("note", EVF_STR),
    EVF_Q("files", EVF_FILE),
    { .name = NULL },
};

static const evf_query typed_form[] = {
    EVF_Q("age", EVF_INT, .has_ge = true, .ge = 0),
    EVF_Q("ratio", EVF_FLOAT, .def = "0.5"),
    EVF_Q("ok", EVF_BOOL, .optional = true),
    { .name = NULL },
};

static const evf_query typed_query[] = {
    EVF_Q("n", EVF_INT),
    { .name = NULL },
};

static const evf_route routes[] = {
    EVF_POST("/up", h_up, .form = up_form),
    EVF_POST("/slow", h_slow, .form = up_form),
    EVF_POST("/expire", h_slow, .form = up_form, .deadline = 0.05),
    EVF_POST("/typed", h_typed, .form = typed_form, .query = typed_query),
    EVF_POST("/raw", h_raw),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "forms",
    .routes = routes,
};

#define MP "multipart/form-data; boundary=XyZ"

/* A multipart body: a note, then files named a.txt, b.txt... of sizes. */
static char *
mp_body(const char *note, size_t nfiles, const size_t *sizes)
{
    size_t cap = 4096;
    for (size_t i = 0; i < nfiles; i++)
        cap += sizes[i] + 256;
    char *b = malloc(cap);
    size_t o = 0;
    if (note)
        o += (size_t)sprintf(b + o, "--XyZ\r\nContent-Disposition: "
                             "form-data; name=\"note\"\r\n\r\n%s\r\n", note);
    for (size_t i = 0; i < nfiles; i++) {
        o += (size_t)sprintf(b + o, "--XyZ\r\nContent-Disposition: "
                             "form-data; name=\"files\"; filename=\"%c.txt\""
                             "\r\nContent-Type: text/plain\r\n\r\n",
                             (int)('a' + i));
        for (size_t k = 0; k < sizes[i]; k++)
            b[o++] = (char)('0' + k % 10);
        o += (size_t)sprintf(b + o, "\r\n");
    }
    sprintf(b + o, "--XyZ--\r\n");
    return b;
}

/* BEGIN and PARAMS of a POST to uri with content type ct. */
static void
start_post(uint16_t id, const char *uri, const char *ct)
{
    put_begin(id, FCGI_KEEP_CONN);
    put_params(id, "POST", uri, ct, NULL);
}

/* body[0..len) as STDIN records of at most chunk bytes. */
static void
put_stdin(uint16_t id, const char *body, size_t len, size_t chunk)
{
    for (size_t at = 0; at < len; at += chunk)
        put_record(FCGI_STDIN, id, body + at,
                   len - at < chunk ? len - at : chunk);
}

/* A whole POST, the body in records of chunk bytes; waits for the end. */
static void
post(uint16_t id, const char *uri, const char *ct, const char *body,
     size_t chunk)
{
    start_post(id, uri, ct);
    put_stdin(id, body, strlen(body), chunk);
    put_record(FCGI_STDIN, id, NULL, 0);
    client_flush();
    CU_ASSERT_TRUE(ended(id, 10.0));
}

static bool
body_has(uint16_t id, const char *s)
{
    size_t len;
    const char *b = body_of(id, &len);
    if (b && strstr(b, s))
        return true;
    fprintf(stderr, "\n    request %u: no \"%s\" in %s\n", id, s,
            b ? b : "(none)");
    return false;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_fields_and_files(void)
{
    static const size_t sizes[] = { 10, 0, 3000 };
    char *b = mp_body("hi there", 3, sizes);
    size_t chunks[] = { 1, 7, 100, 65535 };
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        open_conn();
        seen_path[0] = '\0';
        post(1, "/up", MP, b, chunks[c]);
        CU_ASSERT_EQUAL(status_of(1), 200);
        CU_ASSERT_TRUE(body_has(1, "note=hi there;files|a.txt|text/plain|"
                                   "10|0123456789;files|b.txt|text/plain|0|;"
                                   "files|c.txt|text/plain|3000|0123456789"));
        /* The handler's files are gone with the request. */
        CU_ASSERT_TRUE(run_until(dir_empty, NULL, 5.0));
        CU_ASSERT(seen_path[0] && access(seen_path, F_OK) != 0);
        finish_conn();
    }
    free(b);
}

static void
test_limits(void)
{
    size_t saved_size = evf_settings.max_upload_size;
    size_t saved_total = evf_settings.max_upload_total;
    unsigned saved_files = evf_settings.max_upload_files;
    static const size_t one_big[] = { 101 };
    static const size_t three[] = { 60, 60, 60 };
    char *b;

    open_conn();
    evf_settings.max_upload_size = 100;
    b = mp_body("x", 1, one_big);
    post(1, "/up", MP, b, 16);
    free(b);
    CU_ASSERT_EQUAL(status_of(1), 413);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"File too large: at most 100 "
                              "bytes per file (max_upload_size)\"}"));
    CU_ASSERT_TRUE(run_until(dir_empty, NULL, 5.0));

    evf_settings.max_upload_total = 150;
    b = mp_body("x", 3, three);
    post(2, "/up", MP, b, 16);
    CU_ASSERT_EQUAL(status_of(2), 413);
    CU_ASSERT_TRUE(body_has(2, "Upload too large: at most 150 bytes of "
                               "files per request (max_upload_total)"));
    CU_ASSERT_TRUE(run_until(dir_empty, NULL, 5.0));

    evf_settings.max_upload_total = saved_total;
    evf_settings.max_upload_files = 2;
    post(3, "/up", MP, b, 16);
    CU_ASSERT_EQUAL(status_of(3), 413);
    CU_ASSERT_TRUE(body_has(3, "Too many files: at most 2 per request"));
    CU_ASSERT_TRUE(run_until(dir_empty, NULL, 5.0));

    /* Fields count against max_body, files do not. */
    size_t saved_body = evf_settings.max_body;
    evf_settings.max_body = 20;
    char *fb = mp_body("a note of more than twenty bytes", 0, NULL);
    post(5, "/up", MP, fb, 16);
    free(fb);
    CU_ASSERT_EQUAL(status_of(5), 413);
    CU_ASSERT_TRUE(body_has(5, "Form fields too large: at most 20 bytes in "
                               "all (max_body)"));

    /* Within the limits again: served on the same connection, the files
     * bigger than max_body. */
    evf_settings.max_upload_files = saved_files;
    post(4, "/up", MP, b, 16);
    CU_ASSERT_EQUAL(status_of(4), 200);
    evf_settings.max_body = saved_body;
    free(b);
    CU_ASSERT_FALSE(cl.eof);
    evf_settings.max_upload_size = saved_size;
    finish_conn();
    CU_ASSERT_EQUAL(dir_count(), 0);
}

static void
test_missing_and_order(void)
{
    open_conn();
    char *b = mp_body("only a note", 0, NULL);
    post(1, "/up", MP, b, 1000);
    free(b);
    CU_ASSERT_EQUAL(status_of(1), 422);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":[{\"type\":\"missing\",\"loc\":"
                              "[\"body\",\"files\"],\"msg\":\"Field "
                              "required\",\"input\":null}]}"));

    /* Query errors first, then the body's, each in declaration order. */
    post(2, "/typed", "application/x-www-form-urlencoded", "age=abc", 100);
    CU_ASSERT_EQUAL(status_of(2), 422);
    CU_ASSERT_TRUE(body_has(2, "[{\"type\":\"missing\",\"loc\":[\"query\","
                               "\"n\"]"));
    CU_ASSERT_TRUE(body_has(2, "},{\"type\":\"int_parsing\",\"loc\":"
                               "[\"body\",\"age\"]"));
    post(3, "/typed?n=1", "application/x-www-form-urlencoded", "age=-1",
         100);
    CU_ASSERT_EQUAL(status_of(3), 422);
    CU_ASSERT_TRUE(body_has(3, "\"type\":\"greater_than_equal\",\"loc\":"
                               "[\"body\",\"age\"]"));
    /* No body at all: every required field is missing. */
    post(4, "/typed?n=1", NULL, "", 100);
    CU_ASSERT_EQUAL(status_of(4), 422);
    CU_ASSERT_TRUE(body_has(4, "\"loc\":[\"body\",\"age\"]"));
    finish_conn();
}

static void
test_urlencoded(void)
{
    open_conn();
    post(1, "/typed?n=1", "application/x-www-form-urlencoded",
         "age=%2042&ok=yes&x=1", 3);
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "age=42 ratio=0.5 ok=1 has=0"));
    post(2, "/typed?n=1", "application/x-www-form-urlencoded; charset=utf-8",
         "ratio=2.5&age=7", 100);
    CU_ASSERT_TRUE(body_is(2, "age=7 ratio=2.5 ok=0 has=1"));
    /* The same fields as multipart. */
    post(3, "/typed?n=1", MP, "--XyZ\r\nContent-Disposition: form-data; "
         "name=age\r\n\r\n9\r\n--XyZ--", 5);
    CU_ASSERT_TRUE(body_is(3, "age=9 ratio=0.5 ok=0 has=0"));
    finish_conn();
}

static void
test_malformed(void)
{
    open_conn();
    post(1, "/up", MP, "--XyZ\r\nContent-Disposition: form-data; "
         "name=note\r\n\r\ncut", 4);
    CU_ASSERT_EQUAL(status_of(1), 400);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Malformed multipart body: "
                              "truncated part\"}"));
    post(2, "/up", "multipart/form-data; boundary=\"", "--x--", 4);
    CU_ASSERT_EQUAL(status_of(2), 400);
    CU_ASSERT_TRUE(body_has(2, "no valid boundary"));
    /* A file part, then garbage: the file written so far goes. */
    post(3, "/up", MP, "--XyZ\r\nContent-Disposition: form-data; "
         "name=files; filename=f\r\n\r\n0123456789\r\n--XyZgarbage", 4);
    CU_ASSERT_EQUAL(status_of(3), 400);
    CU_ASSERT_TRUE(body_has(3, "bad delimiter line"));
    CU_ASSERT_TRUE(run_until(dir_empty, NULL, 5.0));
    /* A header bomb in records of 64 KiB: refused at 8 KiB. */
    size_t n = 1 << 20;
    char *bomb = malloc(n + 64);
    strcpy(bomb, "--XyZ\r\nX: ");
    memset(bomb + strlen(bomb), 'a', n);
    bomb[n] = '\0';
    post(4, "/up", MP, bomb, 65535);
    free(bomb);
    CU_ASSERT_EQUAL(status_of(4), 400);
    CU_ASSERT_TRUE(body_has(4, "Multipart part headers too large"));
    CU_ASSERT_FALSE(cl.eof);
    finish_conn();
}

static void
test_abort_and_gone(void)
{
    static const size_t sizes[] = { 5000 };
    char *b = mp_body("x", 1, sizes);

    /* Aborted while the handler awaits: its file goes. */
    open_conn();
    running = 0;
    seen_path[0] = '\0';
    start_post(1, "/slow", MP);
    put_stdin(1, b, strlen(b), 1000);
    put_record(FCGI_STDIN, 1, NULL, 0);
    client_flush();
    CU_ASSERT_TRUE(run_until(is_running, NULL, 5.0));
    CU_ASSERT_EQUAL(dir_count(), 1);
    CU_ASSERT(seen_path[0] && access(seen_path, F_OK) == 0);
    send_abort(1);
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_TRUE(run_until(dir_empty, NULL, 5.0));
    finish_conn();

    /* The deadline passes while the handler awaits: 504, file gone. */
    open_conn();
    running = 0;
    start_post(3, "/expire", MP);
    put_stdin(3, b, strlen(b), 1000);
    put_record(FCGI_STDIN, 3, NULL, 0);
    client_flush();
    CU_ASSERT_TRUE(ended(3, 5.0));
    CU_ASSERT_EQUAL(status_of(3), 504);
    CU_ASSERT_EQUAL(running, 1);
    CU_ASSERT_TRUE(run_until(dir_empty, NULL, 5.0));
    finish_conn();

    /* The connection closes in the middle of the upload. */
    open_conn();
    start_post(2, "/up", MP);
    put_stdin(2, b, strlen(b) / 2, 1000);
    client_flush();
    CU_ASSERT_TRUE(run_until(dir_nonempty, NULL, 5.0));
    disconnect();
    CU_ASSERT_TRUE(run_until(dir_empty, NULL, 5.0));
    finish_conn();
    free(b);
}

static void
test_route_without_form(void)
{
    open_conn();
    const char *b = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                    "1\r\n--XyZ--";
    post(1, "/raw", MP, b, 10);
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, b));
    finish_conn();
}

/* ---- suite -------------------------------------------------------------- */

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    const char *t = getenv("TMPDIR");
    snprintf(updir, sizeof(updir), "%s/test_forms.XXXXXX",
             t && *t ? t : "/tmp");
    if (!mkdtemp(updir))
        return -1;
    evf_settings.upload_dir = updir;
    return evf_app_register(&app, "forms") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    rmdir(updir);
    return 0;
}

static CU_TestInfo tests[] = {
    { "fields and files, any record size", test_fields_and_files },
    { "size, total and count limits: 413", test_limits },
    { "missing fields: 422 after the query's", test_missing_and_order },
    { "urlencoded and typed fields", test_urlencoded },
    { "malformed bodies: 400", test_malformed },
    { "files removed on abort and on close", test_abort_and_gone },
    { "a route without .form gets the body", test_route_without_form },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("forms", init, cleanup, tests);
}
