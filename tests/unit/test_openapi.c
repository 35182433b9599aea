/*
 * test_openapi: suite "openapi".
 *
 * The OpenAPI document of a test app's route table, read back with JSON
 * pointers: version and info (defaults and given); FastAPI's operationIds
 * (typed templates, several parameters, a {name:path} tail, the method in
 * lower case) and summaries, an explicit operationId, summary,
 * description and tags; path parameters (required, typed, titled) and
 * query parameters (types, bounds, typed defaults, required flags,
 * Optional as anyOf with null); two methods on one path under one path
 * item; hidden routes left out; the 422 answer with its $ref on exactly
 * the routes that validate, and the HTTPValidationError and
 * ValidationError schemas it points to (none at all when nothing
 * validates); a body model, a response model with its status, declared
 * answers (a model's, and evf_raise's {"detail"} shape); model schemas as
 * pydantic v2 writes them (constraints, enums, Optional as anyOf with
 * null, defaults and examples, arrays, nested models each once under
 * components); two models under one name refused; every $ref resolves; the rendered bytes are the same
 * document; the naming helpers on their own, and a buffer too short.
 */
#include "config.h"

#include <json-c/json.h>
#include <json-c/json_pointer.h>
#include <string.h>

#include "mem.h"
#include "openapi.h"
#include "unit.h"

static void read_item(evf_req *r) { (void)r; }
static void update_item(evf_req *r) { (void)r; }
static void search(evf_req *r) { (void)r; }
static void get_user(evf_req *r) { (void)r; }
static void files(evf_req *r) { (void)r; }
static void secret(evf_req *r) { (void)r; }
static void plain(evf_req *r) { (void)r; }
static void take_json(evf_req *r) { (void)r; }


/* ---- models ---- */
struct user {
    int64_t id;
    const char *email;
};
EVF_MODEL(user_model, struct user, "User",
    .fields = EVF_FIELDS(
        EVF_F_INT(struct user, id),
        EVF_F_STR(struct user, email, .pattern = "^[^@]+@[^@]+$")));

struct item {
    const char *name;
    double price;
    evf_str_array tags;
    const char *description;
    int kind;
    int64_t qty;
    struct user *owner;
    evf_opt_float discount;
    EVF_ARRAY(struct user) watchers;
};
EVF_MODEL(item_model, struct item, "Item",
    .forbid_extra = true, .description = "Something for sale.",
    .fields = EVF_FIELDS(
        EVF_F_STR(struct item, name, .min_length = 1, .max_length = 50,
                  .description = "What it is called",
                  .example = "\"hammer\""),
        EVF_F_FLOAT(struct item, price, EVF_GT(0)),
        EVF_F_ARRAY_STR(struct item, tags, .max_length = 10, .def = "[]"),
        EVF_F_OPT_STR(struct item, description, .def = "null",
                      .example = "null"),
        EVF_F_ENUM(struct item, kind, EVF_ENUM_VALUES("tool", "food", "toy"),
                   .def = "\"tool\""),
        EVF_F_INT(struct item, qty, EVF_GE(1), EVF_LT(100), .def = "1"),
        EVF_F_OPT_MODEL(struct item, owner, user_model, .def = "null"),
        EVF_F_OPT_FLOAT(struct item, discount, EVF_LE(0.5), .def = "null"),
        EVF_F_ARRAY_MODEL(struct item, watchers, user_model, .min_length = 1,
                          .def = "[]")));

struct stored {
    int64_t id;
    struct item *item;
};
EVF_MODEL(stored_model, struct stored, "StoredItem",
    .fields = EVF_FIELDS(
        EVF_F_INT(struct stored, id),
        EVF_F_MODEL(struct stored, item, item_model)));

/* Another model under a name already taken. */
EVF_MODEL(impostor_model, struct user, "User",
    .fields = EVF_FIELDS(EVF_F_INT(struct user, id)));

static void create_item(evf_req *r) { (void)r; }

static const evf_query search_q[] = {
    EVF_Q("q", EVF_STR),
    EVF_Q("limit", EVF_INT, .def = "10", .has_ge = true, .ge = 1,
          .has_le = true, .le = 100),
    EVF_Q("ratio", EVF_FLOAT, .optional = true, .has_ge = true, .ge = 0.5),
    EVF_Q("exact", EVF_BOOL, .def = "yes"),
    { .name = NULL },
};

static const evf_route routes[] = {
    EVF_GET("/items/{item_id:int}", read_item),
    EVF_PUT("/items/{item_id:int}", update_item),
    EVF_GET("/search", search, .query = search_q),
    EVF_GET("/users/{user_id}/posts/{n:float}", get_user,
            .operation_id = "userPosts", .summary = "A user's posts",
            .description = "Every post, newest first.",
            .tags = EVF_TAGS("users", "posts")),
    EVF_GET("/files/{file_path:path}", files),
    EVF_GET("/secret", secret, .hidden = true),
    EVF_GET("/plain", plain),
    EVF_POST("/json", take_json, .json_body = true),
    EVF_POST("/items", create_item, .body = &item_model,
             .response_model = &stored_model, .status_code = 201,
             .responses = EVF_RESPONSES({ 404, NULL, NULL },
                                        { 409, "Taken", &user_model })),
    EVF_END
};

static const evf_route quiet[] = {
    EVF_GET("/plain", plain),
    EVF_GET("/secret/{id:int}", secret, .hidden = true),
    EVF_END
};

static json_object *doc;

static int
setup(void)
{
    char err[128];
    evf_openapi_info_t info = { .title = "Test API", .version = "2.5.1",
                                .description = "For the tests." };
    doc = evf_openapi_build(routes, &info, err, sizeof(err));
    return doc ? 0 : 1;
}

static int
teardown(void)
{
    json_object_put(doc);
    return 0;
}

/* The value at JSON pointer p in o, or NULL. */
static json_object *
at(json_object *o, const char *p)
{
    json_object *v = NULL;
    if (json_pointer_get(o, p, &v) != 0)
        return NULL;
    return v;
}

/* The value at p, as compact JSON ("(absent)" when there is none). */
static const char *
js(const char *p)
{
    json_object *v = at(doc, p);
    if (!v)
        return json_pointer_get(doc, p, &v) == 0 ? "null" : "(absent)";
    return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                          JSON_C_TO_STRING_NOSLASHESCAPE);
}

#define EQ(p, want) CU_ASSERT_STRING_EQUAL(js(p), want)

static void
test_info(void)
{
    EQ("/openapi", "\"3.1.0\"");
    EQ("/info", "{\"title\":\"Test API\",\"description\":\"For the tests.\","
       "\"version\":\"2.5.1\"}");

    char err[64];
    json_object *d = evf_openapi_build(quiet, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(
                               at(d, "/info"), JSON_C_TO_STRING_PLAIN),
                           "{\"title\":\"evfcgi\",\"version\":\"0.1.0\"}");
    json_object_put(d);
}

static void
test_operation_ids(void)
{
    EQ("/paths/~1items~1{item_id}/get/operationId",
       "\"read_item_items__item_id__get\"");
    EQ("/paths/~1items~1{item_id}/put/operationId",
       "\"update_item_items__item_id__put\"");
    EQ("/paths/~1search/get/operationId", "\"search_search_get\"");
    EQ("/paths/~1files~1{file_path}/get/operationId",
       "\"files_files__file_path__get\"");
    EQ("/paths/~1json/post/operationId", "\"take_json_json_post\"");
    /* Explicit. */
    EQ("/paths/~1users~1{user_id}~1posts~1{n}/get/operationId",
       "\"userPosts\"");
}

static void
test_summaries_and_tags(void)
{
    EQ("/paths/~1items~1{item_id}/get/summary", "\"Read Item\"");
    EQ("/paths/~1json/post/summary", "\"Take Json\"");
    EQ("/paths/~1items~1{item_id}/get/tags", "(absent)");
    EQ("/paths/~1items~1{item_id}/get/description", "(absent)");
    const char *u = "/paths/~1users~1{user_id}~1posts~1{n}/get";
    char p[128];
    snprintf(p, sizeof(p), "%s/summary", u);
    EQ(p, "\"A user's posts\"");
    snprintf(p, sizeof(p), "%s/description", u);
    EQ(p, "\"Every post, newest first.\"");
    snprintf(p, sizeof(p), "%s/tags", u);
    EQ(p, "[\"users\",\"posts\"]");
}

static void
test_path_params(void)
{
    EQ("/paths/~1items~1{item_id}/get/parameters",
       "[{\"name\":\"item_id\",\"in\":\"path\",\"required\":true,"
       "\"schema\":{\"type\":\"integer\",\"title\":\"Item Id\"}}]");
    EQ("/paths/~1users~1{user_id}~1posts~1{n}/get/parameters",
       "[{\"name\":\"user_id\",\"in\":\"path\",\"required\":true,"
       "\"schema\":{\"type\":\"string\",\"title\":\"User Id\"}},"
       "{\"name\":\"n\",\"in\":\"path\",\"required\":true,"
       "\"schema\":{\"type\":\"number\",\"title\":\"N\"}}]");
    EQ("/paths/~1files~1{file_path}/get/parameters/0/schema",
       "{\"type\":\"string\",\"title\":\"File Path\"}");
    /* The template's types never reach the document's paths. */
    EQ("/paths/~1items~1{item_id:int}", "(absent)");
}

static void
test_query_params(void)
{
    EQ("/paths/~1search/get/parameters/0",
       "{\"name\":\"q\",\"in\":\"query\",\"required\":true,"
       "\"schema\":{\"type\":\"string\",\"title\":\"Q\"}}");
    EQ("/paths/~1search/get/parameters/1",
       "{\"name\":\"limit\",\"in\":\"query\",\"required\":false,"
       "\"schema\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,"
       "\"default\":10,\"title\":\"Limit\"}}");
    EQ("/paths/~1search/get/parameters/2",
       "{\"name\":\"ratio\",\"in\":\"query\",\"required\":false,"
       "\"schema\":{\"anyOf\":[{\"type\":\"number\",\"minimum\":0.5},"
       "{\"type\":\"null\"}],\"title\":\"Ratio\"}}");
    EQ("/paths/~1search/get/parameters/3/schema",
       "{\"type\":\"boolean\",\"default\":true,\"title\":\"Exact\"}");
    EQ("/paths/~1search/get/parameters/4", "(absent)");
}

static void
test_hidden_and_methods(void)
{
    EQ("/paths/~1secret", "(absent)");
    json_object *item = at(doc, "/paths/~1items~1{item_id}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(item);
    CU_ASSERT_EQUAL(json_object_object_length(item), 2);
    CU_ASSERT_EQUAL(json_object_object_length(at(doc, "/paths")), 7);
    CU_ASSERT_EQUAL(json_object_object_length(at(doc, "/paths/~1items")), 1);
}

static void
test_validation_answers(void)
{
    static const char ref422[] =
        "{\"description\":\"Validation Error\",\"content\":"
        "{\"application/json\":{\"schema\":{\"$ref\":"
        "\"#/components/schemas/HTTPValidationError\"}}}}";
    EQ("/paths/~1items~1{item_id}/get/responses/422", ref422);
    EQ("/paths/~1search/get/responses/422", ref422);
    EQ("/paths/~1json/post/responses/422", ref422);
    EQ("/paths/~1plain/get/responses",
       "{\"200\":{\"description\":\"Successful Response\",\"content\":"
       "{\"application/json\":{\"schema\":{}}}}}");
    EQ("/paths/~1plain/get/parameters", "(absent)");
    EQ("/paths/~1json/post/requestBody",
       "{\"content\":{\"application/json\":{\"schema\":{}}},"
       "\"required\":true}");

    EQ("/components/schemas/HTTPValidationError",
       "{\"type\":\"object\",\"title\":\"HTTPValidationError\","
       "\"properties\":{\"detail\":{\"type\":\"array\",\"title\":"
       "\"Detail\",\"items\":{\"$ref\":"
       "\"#/components/schemas/ValidationError\"}}}}");
    EQ("/components/schemas/ValidationError/required",
       "[\"loc\",\"msg\",\"type\"]");
    EQ("/components/schemas/ValidationError/properties/loc",
       "{\"type\":\"array\",\"title\":\"Location\",\"items\":{\"anyOf\":"
       "[{\"type\":\"string\"},{\"type\":\"integer\"}]}}");
    EQ("/components/schemas/ValidationError/properties/msg/type",
       "\"string\"");
    EQ("/components/schemas/ValidationError/properties/type/title",
       "\"Error Type\"");

    /* Nothing validates: no 422, no components. */
    char err[64];
    json_object *d = evf_openapi_build(quiet, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_PTR_NULL(at(d, "/components"));
    CU_ASSERT_PTR_NULL(at(d, "/paths/~1plain/get/responses/422"));
    CU_ASSERT_EQUAL(json_object_object_length(at(d, "/paths")), 1);
    json_object_put(d);
}

/* Every "$ref" in o resolves within the document. */
static int
bad_refs(json_object *o)
{
    int bad = 0;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v) {
            if (strcmp(k, "$ref") == 0) {
                const char *r = json_object_get_string(v);
                if (strncmp(r, "#/", 2) != 0 || !at(doc, r + 1)) {
                    fprintf(stderr, "\n    unresolved $ref %s\n", r);
                    bad++;
                }
            } else {
                bad += bad_refs(v);
            }
        }
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            bad += bad_refs(json_object_array_get_idx(o, i));
    }
    return bad;
}

static void
test_refs_resolve(void)
{
    CU_ASSERT_EQUAL(bad_refs(doc), 0);
}

static void
test_body_and_responses(void)
{
    EQ("/paths/~1items/post/operationId", "\"create_item_items_post\"");
    EQ("/paths/~1items/post/requestBody",
       "{\"content\":{\"application/json\":{\"schema\":{\"$ref\":"
       "\"#/components/schemas/Item\"}}},\"required\":true}");
    EQ("/paths/~1items/post/responses/200", "(absent)");
    EQ("/paths/~1items/post/responses/201",
       "{\"description\":\"Successful Response\",\"content\":"
       "{\"application/json\":{\"schema\":{\"$ref\":"
       "\"#/components/schemas/StoredItem\"}}}}");
    EQ("/paths/~1items/post/responses/404",
       "{\"description\":\"Not Found\",\"content\":"
       "{\"application/json\":{\"schema\":{\"$ref\":"
       "\"#/components/schemas/HTTPError\"}}}}");
    EQ("/paths/~1items/post/responses/409/description", "\"Taken\"");
    EQ("/paths/~1items/post/responses/409/content/application~1json/schema",
       "{\"$ref\":\"#/components/schemas/User\"}");
    EQ("/paths/~1items/post/responses/422/description",
       "\"Validation Error\"");
    EQ("/components/schemas/HTTPError",
       "{\"type\":\"object\",\"title\":\"HTTPError\",\"properties\":"
       "{\"detail\":{\"type\":\"string\",\"title\":\"Detail\"}},"
       "\"required\":[\"detail\"]}");
}

static void
test_model_schemas(void)
{
    const char *it = "/components/schemas/Item";
    char p[160];
#define ITEM(sub, want) \
    do { \
        snprintf(p, sizeof(p), "%s%s", it, sub); \
        EQ(p, want); \
    } while (0)
    ITEM("/type", "\"object\"");
    ITEM("/title", "\"Item\"");
    ITEM("/description", "\"Something for sale.\"");
    ITEM("/additionalProperties", "false");
    ITEM("/required", "[\"name\",\"price\"]");
    ITEM("/properties/name",
         "{\"type\":\"string\",\"minLength\":1,\"maxLength\":50,"
         "\"title\":\"Name\",\"description\":\"What it is called\","
         "\"examples\":[\"hammer\"]}");
    ITEM("/properties/price",
         "{\"type\":\"number\",\"exclusiveMinimum\":0.0,"
         "\"title\":\"Price\"}");
    ITEM("/properties/tags",
         "{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
         "\"maxItems\":10,\"title\":\"Tags\",\"default\":[]}");
    ITEM("/properties/description",
         "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}],"
         "\"title\":\"Description\",\"default\":null,"
         "\"examples\":[null]}");
    ITEM("/properties/kind",
         "{\"type\":\"string\",\"enum\":[\"tool\",\"food\",\"toy\"],"
         "\"title\":\"Kind\",\"default\":\"tool\"}");
    ITEM("/properties/qty",
         "{\"type\":\"integer\",\"minimum\":1,\"exclusiveMaximum\":100,"
         "\"title\":\"Qty\",\"default\":1}");
    ITEM("/properties/owner",
         "{\"anyOf\":[{\"$ref\":\"#/components/schemas/User\"},"
         "{\"type\":\"null\"}],\"title\":\"Owner\",\"default\":null}");
    ITEM("/properties/discount",
         "{\"anyOf\":[{\"type\":\"number\",\"maximum\":0.5},"
         "{\"type\":\"null\"}],\"title\":\"Discount\",\"default\":null}");
    ITEM("/properties/watchers",
         "{\"type\":\"array\",\"items\":{\"$ref\":"
         "\"#/components/schemas/User\"},\"minItems\":1,"
         "\"title\":\"Watchers\",\"default\":[]}");
#undef ITEM
    EQ("/components/schemas/User",
       "{\"properties\":{\"id\":{\"type\":\"integer\",\"title\":\"Id\"},"
       "\"email\":{\"type\":\"string\",\"pattern\":\"^[^@]+@[^@]+$\","
       "\"title\":\"Email\"}},\"type\":\"object\",\"required\":"
       "[\"id\",\"email\"],\"title\":\"User\"}");
    /* A nested model, not nullable: a bare $ref. */
    EQ("/components/schemas/StoredItem/properties/item",
       "{\"$ref\":\"#/components/schemas/Item\"}");
    EQ("/components/schemas/StoredItem/additionalProperties", "(absent)");
    CU_ASSERT_EQUAL(json_object_object_length(at(doc,
                                                 "/components/schemas")), 6);
}

/*
 * Header, cookie and list parameters, a form with a file, and the security
 * scheme of a dependency (and of a sub-dependency's), as FastAPI
 * documents them.
 */
EVF_HTTP_BEARER(bearer_dep);
EVF_API_KEY_COOKIE(session_dep, "session");
static void *
user_of(evf_req *r)
{
    (void)r;
    return NULL;
}
static const evf_dep current_user = {
    .name = "current_user", .resolve = user_of,
    .deps = EVF_DEPS(&session_dep) };

static const evf_query tk_query[] = {
    EVF_Q("user_agent", EVF_STR, .in = EVF_IN_HEADER),
    EVF_Q("token", EVF_STR, .in = EVF_IN_HEADER, .alias = "X-Token",
          .optional = true),
    EVF_Q("theme", EVF_STR, .in = EVF_IN_COOKIE, .def = "light",
          .choices = EVF_STRS("light", "dark")),
    EVF_Q("tag", EVF_STR, .list = true, .min_items = 1, .max_items = 5),
    { .name = NULL },
};
static const evf_query tk_form[] = {
    EVF_Q("note", EVF_STR),
    EVF_Q("files", EVF_FILE),
    { .name = NULL },
};
static const evf_route tk[] = {
    EVF_GET("/t", plain, .query = tk_query,
            .deps = EVF_DEPS(&bearer_dep, &current_user)),
    EVF_POST("/up", plain, .form = tk_form),
    EVF_END
};

static void
test_toolkit_params(void)
{
    char err[128] = "";
    json_object *saved = doc;
    doc = evf_openapi_build(tk, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    EQ("/paths/~1t/get/parameters/0",
       "{\"name\":\"user-agent\",\"in\":\"header\",\"required\":true,"
       "\"schema\":{\"type\":\"string\",\"title\":\"User-Agent\"}}");
    EQ("/paths/~1t/get/parameters/1/name", "\"X-Token\"");
    EQ("/paths/~1t/get/parameters/1/in", "\"header\"");
    EQ("/paths/~1t/get/parameters/1/required", "false");
    EQ("/paths/~1t/get/parameters/2",
       "{\"name\":\"theme\",\"in\":\"cookie\",\"required\":false,"
       "\"schema\":{\"type\":\"string\",\"enum\":[\"light\",\"dark\"],"
       "\"default\":\"light\",\"title\":\"Theme\"}}");
    EQ("/paths/~1t/get/parameters/3",
       "{\"name\":\"tag\",\"in\":\"query\",\"required\":true,"
       "\"schema\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
       "\"minItems\":1,\"maxItems\":5,\"title\":\"Tag\"}}");
    EQ("/paths/~1t/get/security",
       "[{\"HTTPBearer\":[]},{\"APIKeyCookie\":[]}]");
    EQ("/components/securitySchemes/HTTPBearer",
       "{\"type\":\"http\",\"scheme\":\"bearer\"}");
    EQ("/components/securitySchemes/APIKeyCookie",
       "{\"type\":\"apiKey\",\"in\":\"cookie\",\"name\":\"session\"}");
    EQ("/paths/~1up/post/requestBody/content/multipart~1form-data/schema",
       "{\"type\":\"object\",\"properties\":{\"note\":{\"type\":"
       "\"string\",\"title\":\"Note\"},\"files\":{\"format\":\"binary\","
       "\"type\":\"string\",\"title\":\"Files\"}},"
       "\"required\":[\"note\",\"files\"]}");
    EQ("/paths/~1up/post/responses/422/description",
       "\"Validation Error\"");
    json_object_put(doc);
    doc = saved;
}

static void
test_model_name_clash(void)
{
    static const evf_route clash[] = {
        EVF_POST("/a", plain, .body = &user_model),
        EVF_POST("/b", plain, .body = &impostor_model),
        EVF_END
    };
    char err[128] = "";
    CU_ASSERT_PTR_NULL(evf_openapi_build(clash, NULL, err, sizeof(err)));
    CU_ASSERT_STRING_EQUAL(err, "two models are named 'User'");
    size_t len;
    CU_ASSERT_PTR_NULL(evf_openapi_render(clash, NULL, &len, err,
                                          sizeof(err)));
}

static void
test_render(void)
{
    char err[64];
    size_t len = 0;
    evf_openapi_info_t info = { .title = "Test API", .version = "2.5.1",
                                .description = "For the tests." };
    char *s = evf_openapi_render(routes, &info, &len, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(len, strlen(s));
    json_object *back = json_tokener_parse(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_TRUE(json_object_equal(back, doc));
    /* Slashes are not escaped: paths read as written. */
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"/items/{item_id}\""));
    json_object_put(back);
    evf_free(s);
}

static void
test_names(void)
{
    char buf[64];
    CU_ASSERT_EQUAL(evf_openapi_title("read_item", buf, sizeof(buf)), 9);
    CU_ASSERT_STRING_EQUAL(buf, "Read Item");
    evf_openapi_title("getHTTP_v2x", buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "Gethttp V2X");
    evf_openapi_operation_id("h", "/a-b/{c:int}/{d:path}", "DELETE", buf,
                             sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "h_a_b__c___d__delete");
    /* Too short: cut, terminated, and the length it needed. */
    char small[8];
    CU_ASSERT_EQUAL(evf_openapi_operation_id("read_item", "/items", "GET",
                                             small, sizeof(small)),
                    strlen("read_item_items_get"));
    CU_ASSERT_STRING_EQUAL(small, "read_it");
    CU_ASSERT_EQUAL(evf_openapi_title("abc_def", small, 4), 7);
    CU_ASSERT_STRING_EQUAL(small, "Abc");
}

int
main(void)
{
    static CU_TestInfo tests[] = {
        { "info", test_info },
        { "operation ids", test_operation_ids },
        { "summaries, descriptions and tags", test_summaries_and_tags },
        { "path parameters", test_path_params },
        { "query parameters", test_query_params },
        { "hidden routes, methods on one path", test_hidden_and_methods },
        { "422 answers and schemas", test_validation_answers },
        { "request body and responses", test_body_and_responses },
        { "model schemas", test_model_schemas },
        { "two models with one name", test_model_name_clash },
        { "headers, cookies, lists, forms, security", test_toolkit_params },
        { "every $ref resolves", test_refs_resolve },
        { "rendered bytes", test_render },
        { "names", test_names },
        CU_TEST_INFO_NULL,
    };
    CU_SuiteInfo suites[] = {
        { .pName = "openapi", .pInitFunc = setup, .pCleanupFunc = teardown,
          .pTests = tests },
        CU_SUITE_INFO_NULL,
    };
    return unit_run(suites);
}
