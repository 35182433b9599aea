/*
 * test_security: the security helpers (suite "security"): HTTP Bearer,
 * HTTP Basic (with and without a realm), API keys in a header, the query
 * and a cookie, and their no_auto_error variants.  Each refusal is
 * checked for FastAPI's status, detail and WWW-Authenticate challenge;
 * each success for the credentials the handler receives; each scheme for
 * the description its dependency carries (for the OpenAPI document).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "log.h"
#include "settings.h"
#include "toolkit_peer.h"
#include "unit.h"

EVF_HTTP_BEARER(bearer, .bearer_format = "JWT");
EVF_HTTP_BEARER(bearer_opt, .no_auto_error = true);
EVF_HTTP_BASIC(basic);
EVF_HTTP_BASIC(basic_realm, .realm = "staff");
EVF_HTTP_BASIC(basic_opt, .no_auto_error = true);
EVF_API_KEY_HEADER(key_h, "X-API-Key");
EVF_API_KEY_QUERY(key_q, "api_key");
EVF_API_KEY_COOKIE(key_c, "session", .no_auto_error = false);
EVF_API_KEY_HEADER(key_opt, "X-API-Key", .no_auto_error = true);

/* What the handler got. */
static struct {
    unsigned runs;
    bool null;
    char scheme[32], cred[64], user[32], pass[32];
} g;

static void
fresh_state(void)
{
    memset(&g, 0, sizeof(g));
}

static void
show(evf_req *r, const evf_dep *d)
{
    const evf_credentials *c = evf_depends(r, d);
    g.runs++;
    g.null = c == NULL;
    if (c) {
        snprintf(g.scheme, sizeof(g.scheme), "%s",
                 c->scheme ? c->scheme : "-");
        snprintf(g.cred, sizeof(g.cred), "%s", c->credentials);
        snprintf(g.user, sizeof(g.user), "%s",
                 c->username ? c->username : "-");
        snprintf(g.pass, sizeof(g.pass), "%s",
                 c->password ? c->password : "-");
    }
    evf_text(r, 200, "ok");
}

#define H(fn, dep)                                                      \
    static void fn(evf_req *r) { show(r, &dep); }
H(h_bearer, bearer)
H(h_bearer_opt, bearer_opt)
H(h_basic, basic)
H(h_basic_realm, basic_realm)
H(h_basic_opt, basic_opt)
H(h_key_h, key_h)
H(h_key_q, key_q)
H(h_key_c, key_c)
H(h_key_opt, key_opt)

static const evf_route routes[] = {
    EVF_GET("/bearer", h_bearer, .deps = EVF_DEPS(&bearer)),
    EVF_GET("/bearer-opt", h_bearer_opt, .deps = EVF_DEPS(&bearer_opt)),
    EVF_GET("/basic", h_basic, .deps = EVF_DEPS(&basic)),
    EVF_GET("/basic-realm", h_basic_realm, .deps = EVF_DEPS(&basic_realm)),
    EVF_GET("/basic-opt", h_basic_opt, .deps = EVF_DEPS(&basic_opt)),
    EVF_GET("/key-h", h_key_h, .deps = EVF_DEPS(&key_h)),
    EVF_GET("/key-q", h_key_q, .deps = EVF_DEPS(&key_q)),
    EVF_GET("/key-c", h_key_c, .deps = EVF_DEPS(&key_c)),
    EVF_GET("/key-opt", h_key_opt, .deps = EVF_DEPS(&key_opt)),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "security",
    .routes = routes,
};

static const char not_auth[] = "{\"detail\":\"Not authenticated\"}";

/* uri with an Authorization header (NULL: none): its status. */
static int
auth(const char *uri, const char *authorization)
{
    const char *const hdrs[] = { "HTTP_AUTHORIZATION", authorization, NULL };
    return get_with(uri, authorization ? hdrs : NULL);
}

/* A 401 "Not authenticated" with this challenge, handler not run. */
static void
refused(const char *challenge)
{
    CU_ASSERT_EQUAL(status_of(1), 401);
    CU_ASSERT(body_exact(not_auth));
    char line[128];
    snprintf(line, sizeof(line), "WWW-Authenticate: %s", challenge);
    CU_ASSERT(has_header(1, line));
    CU_ASSERT_EQUAL(g.runs, 0);
    finish_conn();
}

static void
test_bearer(void)
{
    CU_ASSERT_EQUAL(auth("/bearer", "Bearer abc.def"), 200);
    CU_ASSERT_STRING_EQUAL(g.scheme, "Bearer");
    CU_ASSERT_STRING_EQUAL(g.cred, "abc.def");
    finish_conn();
    CU_ASSERT_EQUAL(auth("/bearer", "bEaReR t"), 200);  /* any case */
    CU_ASSERT_STRING_EQUAL(g.cred, "t");
    finish_conn();

    auth("/bearer", NULL);
    refused("Bearer");
    auth("/bearer", "");
    refused("Bearer");
    auth("/bearer", "Bearer");              /* no credentials */
    refused("Bearer");
    auth("/bearer", "Bearer ");
    refused("Bearer");
    auth("/bearer", "Basic YTpi");          /* another scheme */
    refused("Bearer");

    /* no_auto_error: NULL instead, the handler decides. */
    CU_ASSERT_EQUAL(auth("/bearer-opt", NULL), 200);
    CU_ASSERT(g.runs == 1 && g.null);
    finish_conn();
    CU_ASSERT_EQUAL(auth("/bearer-opt", "Token x"), 200);
    CU_ASSERT(g.null);
    finish_conn();
    CU_ASSERT_EQUAL(auth("/bearer-opt", "Bearer x"), 200);
    CU_ASSERT(!g.null && strcmp(g.cred, "x") == 0);
    finish_conn();
}

static void
test_basic(void)
{
    /* "alice:s3cr:et" */
    CU_ASSERT_EQUAL(auth("/basic", "Basic YWxpY2U6czNjcjpldA=="), 200);
    CU_ASSERT_STRING_EQUAL(g.user, "alice");
    CU_ASSERT_STRING_EQUAL(g.pass, "s3cr:et");
    CU_ASSERT_STRING_EQUAL(g.scheme, "Basic");
    finish_conn();
    /* ":" : empty user and password are still credentials. */
    CU_ASSERT_EQUAL(auth("/basic", "basic Og=="), 200);
    CU_ASSERT(strcmp(g.user, "") == 0 && strcmp(g.pass, "") == 0);
    finish_conn();

    auth("/basic", NULL);
    refused("Basic");
    auth("/basic", "Bearer YTpi");
    refused("Basic");
    auth("/basic", "Basic bm9jb2xvbg==");   /* "nocolon" */
    refused("Basic");
    auth("/basic", "Basic YWJj=");          /* bad padding */
    refused("Basic");
    auth("/basic", "Basic w6k6eA==");       /* "\xc3\xa9:x", not ASCII */
    refused("Basic");
    auth("/basic", "Basic ");
    refused("Basic");
    auth("/basic-realm", NULL);
    refused("Basic realm=\"staff\"");

    /* Optional: missing is NULL, but bad credentials are still 401. */
    CU_ASSERT_EQUAL(auth("/basic-opt", NULL), 200);
    CU_ASSERT(g.null);
    finish_conn();
    auth("/basic-opt", "Basic bm9jb2xvbg==");
    refused("Basic");
}

static void
test_api_key(void)
{
    static const char *const h[] = { "HTTP_X_API_KEY", "k1", NULL };
    CU_ASSERT_EQUAL(get_with("/key-h", h), 200);
    CU_ASSERT_STRING_EQUAL(g.cred, "k1");
    CU_ASSERT_STRING_EQUAL(g.scheme, "-");
    finish_conn();
    get_with("/key-h", NULL);
    refused("APIKey");
    static const char *const empty[] = { "HTTP_X_API_KEY", "", NULL };
    get_with("/key-h", empty);
    refused("APIKey");

    CU_ASSERT_EQUAL(get_with("/key-q?api_key=k%202", NULL), 200);
    CU_ASSERT_STRING_EQUAL(g.cred, "k 2");
    finish_conn();
    get_with("/key-q?other=1", NULL);
    refused("APIKey");

    static const char *const c[] = { "HTTP_COOKIE", "a=1; session=k3", NULL };
    CU_ASSERT_EQUAL(get_with("/key-c", c), 200);
    CU_ASSERT_STRING_EQUAL(g.cred, "k3");
    finish_conn();
    get_with("/key-c", h);
    refused("APIKey");

    CU_ASSERT_EQUAL(get_with("/key-opt", NULL), 200);
    CU_ASSERT(g.null);
    finish_conn();
}

/* Each dependency describes its scheme, for the OpenAPI generator. */
static void
test_descriptions(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(bearer.security);
    CU_ASSERT_STRING_EQUAL(bearer.security->type, "http");
    CU_ASSERT_STRING_EQUAL(bearer.security->scheme, "bearer");
    CU_ASSERT_STRING_EQUAL(bearer.security->scheme_name, "HTTPBearer");
    CU_ASSERT_STRING_EQUAL(bearer.security->bearer_format, "JWT");
    CU_ASSERT_STRING_EQUAL(basic_realm.security->scheme, "basic");
    CU_ASSERT_STRING_EQUAL(basic_realm.security->realm, "staff");
    CU_ASSERT_STRING_EQUAL(key_h.security->type, "apiKey");
    CU_ASSERT_STRING_EQUAL(key_h.security->name, "X-API-Key");
    CU_ASSERT_EQUAL(key_h.security->in, EVF_IN_HEADER);
    CU_ASSERT_STRING_EQUAL(key_h.security->scheme_name, "APIKeyHeader");
    CU_ASSERT_EQUAL(key_q.security->in, EVF_IN_QUERY);
    CU_ASSERT_EQUAL(key_c.security->in, EVF_IN_COOKIE);
    CU_ASSERT_STRING_EQUAL(key_c.name, "key_c");
    CU_ASSERT_PTR_NULL(key_c.security->scheme);
}

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = 16;
    evf_settings.request_deadline = 0;
    return evf_app_register(&app, "security") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    return 0;
}

static CU_TestInfo tests[] = {
    { "HTTP Bearer", test_bearer },
    { "HTTP Basic", test_basic },
    { "API key in a header, the query, a cookie", test_api_key },
    { "scheme descriptions", test_descriptions },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("security", init, cleanup, tests);
}
