/*
 * app.c: a tiny evfcgi app, GET /items/{item_id}?q=..., whose handler
 * needs a database connection (the get_db dependency).  Served by evfcgid
 * when built as a .so; tested in-process by test_app.c.
 */
#include <evfcgi.h>
#include <json-c/json.h>

#include "app.h"

static const char *db_name = "items.db";

/* The app option "db" names the database. */
static int
startup(evf_app_ctx *app)
{
    const char *db = evf_app_option(app, "db");
    if (db)
        db_name = db;
    return 0;
}

static void *
open_db(evf_req *r)
{
    (void)r;
    return (void *)db_name;
}

const evf_dep get_db = { .name = "get_db", .resolve = open_db };

static void
read_item(evf_req *r)
{
    const char *db = evf_depends(r, &get_db);
    const char *q = evf_query_str(r, "q");
    json_object *o = json_object_new_object();
    json_object_object_add(o, "item_id",
                           json_object_new_int64(evf_path_int(r, "item_id")));
    json_object_object_add(o, "q", q ? json_object_new_string(q) : NULL);
    json_object_object_add(o, "db", json_object_new_string(db));
    evf_json(r, EVF_HTTP_OK, o);
}

static const evf_query item_query[] = {
    EVF_Q("q", EVF_STR, .optional = true),
    { .name = NULL },
};

static const evf_route routes[] = {
    EVF_GET("/items/{item_id:int}", read_item, .query = item_query,
            .deps = EVF_DEPS(&get_db)),
    EVF_END
};

EVF_APP("items", routes, .startup = startup);
