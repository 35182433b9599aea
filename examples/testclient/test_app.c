/*
 * test_app.c: the items app's tests, in-process with evfcgi's TestClient
 * (no web server, no daemon).  Exits 0 when every check passed.
 */
#include <evfcgi.h>
#include <evfcgi_test.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

static int failures;

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, \
                    #cond);                                             \
            failures++;                                                 \
        }                                                               \
    } while (0)

/* A member of the answer's JSON body as a string ("" if absent). */
static const char *
member(evf_client_resp *resp, const char *key)
{
    json_object *o = evf_client_resp_json(resp), *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !v)
        return "";
    return json_object_get_string(v);
}

/* The test's stand-in for the database. */
static void *
fake_db(evf_req *r)
{
    (void)r;
    return (void *)"fake-db";
}

static const evf_dep fake_db_dep = { .name = "fake_db", .resolve = fake_db };

int
main(void)
{
    static const char *const options[] = { "db", "test.db", NULL };
    evf_client *c = evf_client_new(&evf_app_entry, &(evf_client_opts){
        .options = options });
    CHECK(c != NULL);
    if (!c)
        return 1;
    evf_client_resp resp;

    CHECK(evf_client_get(c, "/items/5?q=x", &resp) == 0);
    CHECK(resp.status == 200);
    CHECK(strcmp(member(&resp, "item_id"), "5") == 0);
    CHECK(strcmp(member(&resp, "q"), "x") == 0);
    CHECK(strcmp(member(&resp, "db"), "test.db") == 0);
    evf_client_resp_free(&resp);

    CHECK(evf_client_get(c, "/items/abc", &resp) == 0);
    CHECK(resp.status == 422);
    evf_client_resp_free(&resp);

    /* app.dependency_overrides[get_db] = fake_db */
    CHECK(evf_client_override(c, &get_db, &fake_db_dep) == 0);
    CHECK(evf_client_get(c, "/items/6", &resp) == 0);
    CHECK(resp.status == 200);
    CHECK(strcmp(member(&resp, "db"), "fake-db") == 0);
    evf_client_resp_free(&resp);

    evf_client_free(c);
    printf("%s: %d failed\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
