/*
 * test_models: request and response models (suite "models").
 *
 * Table-driven: JSON bodies and the exact 422 list each must give
 * (compared as parsed JSON, so 1 and 1.0 differ), covering pydantic v2's
 * error types as FastAPI >= 0.100 answers them: missing, string_type,
 * string_too_short/long (singular "1 character"), string_pattern_mismatch,
 * int_type, int_parsing, int_from_float, float_type, float_parsing,
 * bool_type, bool_parsing, greater_than(_equal), less_than(_equal),
 * too_short, too_long, list_type, enum, extra_forbidden,
 * model_attributes_type; nested and array locations; several errors at
 * once.  Then: valid bodies filled with defaults, models refused when the
 * app loads, serialization (exclude_none, floats), and requests driven
 * through the request layer: path, query and body errors in one 422 in
 * FastAPI's order, json_invalid, a missing body, the 201 response model.
 */
#include "config.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "log.h"
#include "model.h"
#include "settings.h"
#include "unit.h"

/* ---- models ----------------------------------------------------------- */

struct tag {
    const char *label;
    int64_t weight;
};

EVF_MODEL(tag_model, struct tag, "Tag",
    .fields = EVF_FIELDS(
        EVF_F_STR(struct tag, label),
        EVF_F_INT(struct tag, weight)));

struct thing {
    const char *name;
    const char *code;
    int64_t qty;
    int64_t small;
    double price;
    double ratio;
    bool on;
    int kind;
    evf_str_array tags;
    evf_int_array nums;
    struct tag *main_tag;
    EVF_ARRAY(struct tag) more;
    evf_opt_int maybe;
    evf_opt_float of;
    evf_opt_bool ob;
    const char *note;
    int okind;
};

#define ABC EVF_ENUM_VALUES("a", "b", "c")

EVF_MODEL(thing_model, struct thing, "Thing",
    .description = "Every field type",
    .fields = EVF_FIELDS(
        EVF_F_STR(struct thing, name, .min_length = 1, .max_length = 5),
        EVF_F_STR(struct thing, code, .pattern = "^[A-Z]{3}$",
                  .def = "\"ABC\""),
        EVF_F_INT(struct thing, qty, EVF_GE(1), EVF_LE(100)),
        EVF_F_INT(struct thing, small, EVF_GT(0), EVF_LT(10), .def = "5"),
        EVF_F_FLOAT(struct thing, price, EVF_GT(0)),
        EVF_F_FLOAT(struct thing, ratio, EVF_LT(1.5), .def = "0.5"),
        EVF_F_BOOL(struct thing, on, .def = "false"),
        EVF_F_ENUM(struct thing, kind, ABC, .def = "\"a\""),
        EVF_F_ARRAY_STR(struct thing, tags, .max_length = 3, .def = "[]"),
        EVF_F_ARRAY_INT(struct thing, nums, .min_length = 1, EVF_GE(0),
                        .def = "[0]"),
        EVF_F_OPT_MODEL(struct thing, main_tag, tag_model, .def = "null"),
        EVF_F_ARRAY_MODEL(struct thing, more, tag_model, .def = "[]"),
        EVF_F_OPT_INT(struct thing, maybe, .def = "null"),
        EVF_F_OPT_FLOAT(struct thing, of, .def = "null"),
        EVF_F_OPT_BOOL(struct thing, ob, .def = "null"),
        EVF_F_OPT_STR(struct thing, note),
        EVF_F_OPT_ENUM(struct thing, okind, ABC, .def = "null")));

struct strict {
    int64_t a;
};

EVF_MODEL(strict_model, struct strict, "Strict",
    .forbid_extra = true,
    .fields = EVF_FIELDS(EVF_F_INT(struct strict, a)));

struct fl {
    double x;
};

EVF_MODEL(fl_model, struct fl, "Fl",
    .fields = EVF_FIELDS(
        EVF_F_FLOAT(struct fl, x, EVF_GE(0.0000001), EVF_LE(1e20))));

struct node {
    EVF_ARRAY(struct node) kids;
};

EVF_MODEL_DECLARE(node_model, struct node);
EVF_MODEL(node_model, struct node, "Node",
    .fields = EVF_FIELDS(
        EVF_F_ARRAY_MODEL(struct node, kids, node_model, .def = "[]")));

/* ---- validation without requests -------------------------------------- */

static void *blocks[4096];
static size_t nblocks;

static void *
test_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (nblocks == sizeof(blocks) / sizeof(blocks[0]))
        return NULL;
    return blocks[nblocks++] = calloc(1, size ? size : 1);
}

static void
free_blocks(void)
{
    while (nblocks)
        free(blocks[--nblocks]);
}

static evf_models_t *set;

/* Validate body; the errors (NULL when valid), *out the struct. */
static json_object *
run(const evf_model *m, const char *body, void **out)
{
    char err[256];
    const evf_cmodel_t *c = evf_models_add(set, m, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    json_object *in = json_tokener_parse(body);
    json_object *errs = NULL;
    void *dst = NULL;
    int rc = evf_model_validate(c, in, "body", test_alloc, NULL, &errs,
                                &dst);
    CU_ASSERT(rc == 0 || rc == 1);
    CU_ASSERT_EQUAL(rc == 1, errs != NULL);
    json_object_put(in);        /* the errors keep their inputs */
    if (out)
        *out = dst;
    return errs;
}

/* Compare as JSON; print both when they differ. */
static bool
same_json(json_object *got, const char *want_text)
{
    json_object *want = json_tokener_parse(want_text);
    if (!want) {
        fprintf(stderr, "\n    bad expectation: %s\n", want_text);
        return false;
    }
    bool ok = json_object_equal(got, want);
    if (!ok)
        fprintf(stderr, "\n    got:  %s\n    want: %s\n",
                got ? json_object_to_json_string(got) : "(null)",
                json_object_to_json_string(want));
    json_object_put(want);
    return ok;
}

/* A valid Thing, with one member replaced: "%s" is where it goes. */
#define BASE "{\"name\":\"n\",\"qty\":1,\"price\":1,\"note\":null"

typedef struct vcase {
    const evf_model *m;
    const char *body;
    const char *want;       /* the detail list */
} vcase_t;

#define ERR(t, l, m, i) \
    "{\"type\":\"" t "\",\"loc\":[\"body\"" l "],\"msg\":\"" m \
    "\",\"input\":" i "}"
#define ERRC(t, l, m, i, c) \
    "{\"type\":\"" t "\",\"loc\":[\"body\"" l "],\"msg\":\"" m \
    "\",\"input\":" i ",\"ctx\":" c "}"

static const vcase_t cases[] = {
    /* Required fields, in declaration order, the object as input. */
    { &thing_model, "{}",
      "[" ERR("missing", ",\"name\"", "Field required", "{}") ","
          ERR("missing", ",\"qty\"", "Field required", "{}") ","
          ERR("missing", ",\"price\"", "Field required", "{}") ","
          ERR("missing", ",\"note\"", "Field required", "{}") "]" },
    /* Not an object. */
    { &thing_model, "[1]",
      "[" ERR("model_attributes_type", "", "Input should be a valid "
              "dictionary or object to extract fields from", "[1]") "]" },
    { &thing_model, "\"x\"",
      "[" ERR("model_attributes_type", "", "Input should be a valid "
              "dictionary or object to extract fields from", "\"x\"") "]" },
    { &thing_model, "null",
      "[" ERR("model_attributes_type", "", "Input should be a valid "
              "dictionary or object to extract fields from", "null") "]" },
    /* Strings. */
    { &thing_model, BASE ",\"name\":\"abcdef\"}",
      "[" ERRC("string_too_long", ",\"name\"", "String should have at most "
               "5 characters", "\"abcdef\"", "{\"max_length\":5}") "]" },
    { &thing_model, BASE ",\"name\":\"\"}",
      "[" ERRC("string_too_short", ",\"name\"", "String should have at "
               "least 1 character", "\"\"", "{\"min_length\":1}") "]" },
    { &thing_model, BASE ",\"name\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}",
      NULL },               /* five characters, ten bytes */
    { &thing_model, BASE ",\"name\":\"a\\u0000b\"}",
      "[" ERR("string_no_nul", ",\"name\"", "Input should not contain a "
              "NUL byte", "\"a\\u0000b\"") "]" },
    { &thing_model, BASE ",\"name\":5}",
      "[" ERR("string_type", ",\"name\"", "Input should be a valid string",
              "5") "]" },
    { &thing_model, BASE ",\"code\":\"abc\"}",
      "[" ERRC("string_pattern_mismatch", ",\"code\"", "String should match "
               "pattern '^[A-Z]{3}$'", "\"abc\"",
               "{\"pattern\":\"^[A-Z]{3}$\"}") "]" },
    /* Integers: lax forms accepted, the rest refused. */
    { &thing_model, BASE ",\"qty\":\" 7 \"}", NULL },
    { &thing_model, BASE ",\"qty\":7.0}", NULL },
    { &thing_model, BASE ",\"qty\":\"7.00\"}", NULL },
    { &thing_model, BASE ",\"qty\":\"1_0\"}", NULL },
    { &thing_model, BASE ",\"qty\":true}", NULL },
    { &thing_model, BASE ",\"qty\":\"x\"}",
      "[" ERR("int_parsing", ",\"qty\"", "Input should be a valid integer, "
              "unable to parse string as an integer", "\"x\"") "]" },
    { &thing_model, BASE ",\"qty\":5.5}",
      "[" ERR("int_from_float", ",\"qty\"", "Input should be a valid "
              "integer, got a number with a fractional part", "5.5") "]" },
    { &thing_model, BASE ",\"qty\":[1]}",
      "[" ERR("int_type", ",\"qty\"", "Input should be a valid integer",
              "[1]") "]" },
    { &thing_model, BASE ",\"qty\":null}",
      "[" ERR("int_type", ",\"qty\"", "Input should be a valid integer",
              "null") "]" },
    { &thing_model, BASE ",\"qty\":0}",
      "[" ERRC("greater_than_equal", ",\"qty\"", "Input should be greater "
               "than or equal to 1", "0", "{\"ge\":1}") "]" },
    { &thing_model, BASE ",\"qty\":101}",
      "[" ERRC("less_than_equal", ",\"qty\"", "Input should be less than "
               "or equal to 100", "101", "{\"le\":100}") "]" },
    { &thing_model, BASE ",\"small\":10}",
      "[" ERRC("less_than", ",\"small\"", "Input should be less than 10",
               "10", "{\"lt\":10}") "]" },
    { &thing_model, BASE ",\"small\":0}",
      "[" ERRC("greater_than", ",\"small\"", "Input should be greater than "
               "0", "0", "{\"gt\":0}") "]" },
    /* NaN and infinities (json-c reads them as Python does) fail bounds
     * and ints; echoed as null, since JSON has no such numbers. */
    { &thing_model, BASE ",\"price\":NaN}",
      "[" ERRC("greater_than", ",\"price\"", "Input should be greater than "
               "0", "null", "{\"gt\":0.0}") "]" },
    { &thing_model, BASE ",\"qty\":-Infinity}",
      "[" ERR("finite_number", ",\"qty\"", "Input should be a finite "
              "number", "null") "]" },
    { &thing_model, BASE ",\"tags\":[1,NaN]}",
      "[" ERR("string_type", ",\"tags\",0", "Input should be a valid string",
              "1") ","
          ERR("string_type", ",\"tags\",1", "Input should be a valid string",
              "null") "]" },
    { &thing_model, "{\"qty\":1,\"price\":1,\"note\":null,\"x\":[NaN]}",
      "[" ERR("missing", ",\"name\"", "Field required", "{\"qty\":1,"
              "\"price\":1,\"note\":null,\"x\":[null]}") "]" },
    /* Floats. */
    { &thing_model, BASE ",\"price\":\"2.5\"}", NULL },
    /* A float's bound: Rust's "0" in msg, Python's 0.0 in ctx. */
    { &thing_model, BASE ",\"price\":0}",
      "[" ERRC("greater_than", ",\"price\"", "Input should be greater than "
               "0", "0", "{\"gt\":0.0}") "]" },
    { &thing_model, BASE ",\"price\":-0.1}",
      "[" ERRC("greater_than", ",\"price\"", "Input should be greater than "
               "0", "-0.1", "{\"gt\":0.0}") "]" },
    { &thing_model, BASE ",\"price\":\"abc\"}",
      "[" ERR("float_parsing", ",\"price\"", "Input should be a valid "
              "number, unable to parse string as a number", "\"abc\"") "]" },
    { &thing_model, BASE ",\"price\":{}}",
      "[" ERR("float_type", ",\"price\"", "Input should be a valid number",
              "{}") "]" },
    { &thing_model, BASE ",\"ratio\":2}",
      "[" ERRC("less_than", ",\"ratio\"", "Input should be less than 1.5",
               "2", "{\"lt\":1.5}") "]" },
    /* Booleans. */
    { &thing_model, BASE ",\"on\":\"yes\"}", NULL },
    { &thing_model, BASE ",\"on\":1}", NULL },
    { &thing_model, BASE ",\"on\":\"maybe\"}",
      "[" ERR("bool_parsing", ",\"on\"", "Input should be a valid boolean, "
              "unable to interpret input", "\"maybe\"") "]" },
    { &thing_model, BASE ",\"on\":2}",
      "[" ERR("bool_parsing", ",\"on\"", "Input should be a valid boolean, "
              "unable to interpret input", "2") "]" },
    { &thing_model, BASE ",\"on\":[]}",
      "[" ERR("bool_type", ",\"on\"", "Input should be a valid boolean",
              "[]") "]" },
    /* Enums. */
    { &thing_model, BASE ",\"kind\":\"d\"}",
      "[" ERRC("enum", ",\"kind\"", "Input should be 'a', 'b' or 'c'",
               "\"d\"", "{\"expected\":\"'a', 'b' or 'c'\"}") "]" },
    { &thing_model, BASE ",\"kind\":null}",
      "[" ERRC("enum", ",\"kind\"", "Input should be 'a', 'b' or 'c'",
               "null", "{\"expected\":\"'a', 'b' or 'c'\"}") "]" },
    /* Arrays: their length, their type, their elements' locations. */
    { &thing_model, BASE ",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}",
      "[" ERRC("too_long", ",\"tags\"", "List should have at most 3 items "
               "after validation, not 4", "[\"a\",\"b\",\"c\",\"d\"]",
               "{\"field_type\":\"List\",\"max_length\":3,"
               "\"actual_length\":4}") "]" },
    { &thing_model, BASE ",\"tags\":\"a\"}",
      "[" ERR("list_type", ",\"tags\"", "Input should be a valid list",
              "\"a\"") "]" },
    { &thing_model, BASE ",\"tags\":[\"a\",2,\"c\"]}",
      "[" ERR("string_type", ",\"tags\",1", "Input should be a valid string",
              "2") "]" },
    { &thing_model, BASE ",\"nums\":[]}",
      "[" ERRC("too_short", ",\"nums\"", "List should have at least 1 item "
               "after validation, not 0", "[]", "{\"field_type\":\"List\","
               "\"min_length\":1,\"actual_length\":0}") "]" },
    { &thing_model, BASE ",\"nums\":[1,-1,\"z\"]}",
      "[" ERRC("greater_than_equal", ",\"nums\",1", "Input should be "
               "greater than or equal to 0", "-1", "{\"ge\":0}") ","
          ERR("int_parsing", ",\"nums\",2", "Input should be a valid "
              "integer, unable to parse string as an integer", "\"z\"") "]" },
    /* Nested models, alone and in arrays. */
    { &thing_model, BASE ",\"main_tag\":{\"label\":1}}",
      "[" ERR("string_type", ",\"main_tag\",\"label\"", "Input should be a "
              "valid string", "1") ","
          ERR("missing", ",\"main_tag\",\"weight\"", "Field required",
              "{\"label\":1}") "]" },
    { &thing_model, BASE ",\"main_tag\":\"x\"}",
      "[" ERR("model_attributes_type", ",\"main_tag\"", "Input should be a "
              "valid dictionary or object to extract fields from",
              "\"x\"") "]" },
    { &thing_model, BASE ",\"more\":[{\"label\":\"a\",\"weight\":1},5,"
      "{\"weight\":\"z\"}]}",
      "[" ERR("model_attributes_type", ",\"more\",1", "Input should be a "
              "valid dictionary or object to extract fields from", "5") ","
          ERR("missing", ",\"more\",2,\"label\"", "Field required",
              "{\"weight\":\"z\"}") ","
          ERR("int_parsing", ",\"more\",2,\"weight\"", "Input should be a "
              "valid integer, unable to parse string as an integer",
              "\"z\"") "]" },
    /* Nullable fields: null accepted, other values checked. */
    { &thing_model, BASE ",\"maybe\":null,\"of\":null,\"ob\":null,"
      "\"okind\":null,\"main_tag\":null}", NULL },
    { &thing_model, BASE ",\"maybe\":\"x\",\"of\":\"x\",\"ob\":3,"
      "\"okind\":\"z\"}",
      "[" ERR("int_parsing", ",\"maybe\"", "Input should be a valid "
              "integer, unable to parse string as an integer", "\"x\"") ","
          ERR("float_parsing", ",\"of\"", "Input should be a valid number, "
              "unable to parse string as a number", "\"x\"") ","
          ERR("bool_parsing", ",\"ob\"", "Input should be a valid boolean, "
              "unable to interpret input", "3") ","
          ERRC("enum", ",\"okind\"", "Input should be 'a', 'b' or 'c'",
               "\"z\"", "{\"expected\":\"'a', 'b' or 'c'\"}") "]" },
    /* Several at once, in field order; unknown keys ignored. */
    { &thing_model, "{\"name\":\"toolong\",\"qty\":\"many\",\"price\":-1,"
      "\"tags\":[1],\"zzz\":1}",
      "[" ERRC("string_too_long", ",\"name\"", "String should have at most "
               "5 characters", "\"toolong\"", "{\"max_length\":5}") ","
          ERR("int_parsing", ",\"qty\"", "Input should be a valid integer, "
              "unable to parse string as an integer", "\"many\"") ","
          ERRC("greater_than", ",\"price\"", "Input should be greater than "
               "0", "-1", "{\"gt\":0.0}") ","
          ERR("string_type", ",\"tags\",0", "Input should be a valid string",
              "1") ","
          ERR("missing", ",\"note\"", "Field required",
              "{\"name\":\"toolong\",\"qty\":\"many\",\"price\":-1,"
              "\"tags\":[1],\"zzz\":1}") "]" },
    /* Extra keys forbidden: after the fields' errors. */
    { &strict_model, "{\"b\":2,\"a\":\"x\",\"c\":[3]}",
      "[" ERR("int_parsing", ",\"a\"", "Input should be a valid integer, "
              "unable to parse string as an integer", "\"x\"") ","
          ERR("extra_forbidden", ",\"b\"", "Extra inputs are not permitted",
              "2") ","
          ERR("extra_forbidden", ",\"c\"", "Extra inputs are not permitted",
              "[3]") "]" },
    { &strict_model, "{\"a\":1}", NULL },
    /* Float bounds: Rust's digits in msg, Python's repr in ctx. */
    { &fl_model, "{\"x\":0}",
      "[" ERRC("greater_than_equal", ",\"x\"", "Input should be greater "
               "than or equal to 0.0000001", "0", "{\"ge\":1e-07}") "]" },
    { &fl_model, "{\"x\":1e21}",
      "[" ERRC("less_than_equal", ",\"x\"", "Input should be less than or "
               "equal to 100000000000000000000", "1e21",
               "{\"le\":1e+20}") "]" },
    { &fl_model, "{\"x\":\"nan\"}",
      "[" ERRC("less_than_equal", ",\"x\"", "Input should be less than or "
               "equal to 100000000000000000000", "\"nan\"",
               "{\"le\":1e+20}") "]" },
};

static void
test_table(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object *errs = run(cases[i].m, cases[i].body, NULL);
        bool ok = cases[i].want ? same_json(errs, cases[i].want)
                                : errs == NULL;
        if (!ok)
            fprintf(stderr, "    case %zu: %s -> %s\n", i, cases[i].body,
                    errs ? json_object_to_json_string(errs) : "valid");
        CU_ASSERT(ok);
        json_object_put(errs);
        free_blocks();
    }
}

/* A model nesting itself: deep inputs end in an error, not a crash. */
static void
test_deep(void)
{
    char text[4096];
    size_t k = 0;
    for (int d = 0; d < 40; d++)
        k += (size_t)sprintf(text + k, "{\"kids\":[");
    k += (size_t)sprintf(text + k, "{}");
    for (int d = 0; d < 40; d++)
        k += (size_t)sprintf(text + k, "]}");
    json_tokener *tok = json_tokener_new_ex(200);
    json_object *in = json_tokener_parse_ex(tok, text, (int)k);
    json_tokener_free(tok);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    char err[256];
    const evf_cmodel_t *c = evf_models_add(set, &node_model, err,
                                           sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    json_object *errs = NULL;
    void *out = NULL;
    CU_ASSERT_EQUAL(evf_model_validate(c, in, "body", test_alloc, NULL,
                                       &errs, &out), 1);
    CU_ASSERT_EQUAL(json_object_array_length(errs), 1);
    json_object *e = json_object_array_get_idx(errs, 0);
    CU_ASSERT_STRING_EQUAL(json_object_get_string(
        json_object_object_get(e, "type")), "recursion_loop");
    json_object_put(errs);
    json_object_put(in);
    free_blocks();
    /* 10 levels are fine. */
    struct node *n = NULL;
    k = 0;
    for (int d = 0; d < 10; d++)
        k += (size_t)sprintf(text + k, "{\"kids\":[");
    for (int d = 0; d < 10; d++)
        k += (size_t)sprintf(text + k, "]}");
    errs = run(&node_model, text, (void **)&n);
    CU_ASSERT_PTR_NULL(errs);
    CU_ASSERT(n && n->kids.n == 1 && n->kids.v[0].kids.n == 1);
    free_blocks();
}

/* A valid body: given values converted, absent ones the defaults. */
static void
test_filled(void)
{
    struct thing *t = NULL;
    json_object *errs = run(&thing_model, "{\"name\":\"caf\\u00e9\","
                            "\"qty\":\"42\",\"price\":2,\"note\":\"hi\","
                            "\"tags\":[\"x\",\"y\"],\"kind\":\"c\","
                            "\"more\":[{\"label\":\"l\",\"weight\":3.0}],"
                            "\"maybe\":7,\"ob\":\"off\"}", (void **)&t);
    CU_ASSERT_PTR_NULL(errs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->name, "caf\xc3\xa9");
    CU_ASSERT_STRING_EQUAL(t->code, "ABC");
    CU_ASSERT_EQUAL(t->qty, 42);
    CU_ASSERT_EQUAL(t->small, 5);
    CU_ASSERT_DOUBLE_EQUAL(t->price, 2.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(t->ratio, 0.5, 0);
    CU_ASSERT_FALSE(t->on);
    CU_ASSERT_EQUAL(t->kind, 2);
    CU_ASSERT_EQUAL_FATAL(t->tags.n, 2);
    CU_ASSERT_STRING_EQUAL(t->tags.v[1], "y");
    CU_ASSERT_EQUAL_FATAL(t->nums.n, 1);
    CU_ASSERT_EQUAL(t->nums.v[0], 0);
    CU_ASSERT_PTR_NULL(t->main_tag);
    CU_ASSERT_EQUAL_FATAL(t->more.n, 1);
    CU_ASSERT_STRING_EQUAL(t->more.v[0].label, "l");
    CU_ASSERT_EQUAL(t->more.v[0].weight, 3);
    CU_ASSERT(t->maybe.has && t->maybe.v == 7);
    CU_ASSERT_FALSE(t->of.has);
    CU_ASSERT(t->ob.has && !t->ob.v);
    CU_ASSERT_STRING_EQUAL(t->note, "hi");
    CU_ASSERT_EQUAL(t->okind, -1);
    json_object_put(errs);
    free_blocks();
    /* An empty array is there (non-NULL v), distinct from null. */
    errs = run(&thing_model, BASE ",\"main_tag\":{\"label\":\"m\","
               "\"weight\":-2}}", (void **)&t);
    CU_ASSERT_PTR_NULL(errs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->tags.n, 0);
    CU_ASSERT_PTR_NOT_NULL(t->tags.v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t->main_tag);
    CU_ASSERT_EQUAL(t->main_tag->weight, -2);
    CU_ASSERT_PTR_NULL(t->note);
    free_blocks();
}

/* ---- models refused when the app loads -------------------------------- */

struct one {
    const char *s;
    int64_t i;
    int e;
};

#define ONE_MODEL(var, ...)                                             \
    static const evf_model var = { .name = #var,                        \
        .size = sizeof(struct one), .fields = EVF_FIELDS(__VA_ARGS__) }

ONE_MODEL(bad_default, EVF_F_STR(struct one, s, .max_length = 2,
                                 .def = "\"long\""));
ONE_MODEL(bad_default_type, EVF_F_INT(struct one, i, .def = "\"x\""));
ONE_MODEL(bad_default_json, EVF_F_INT(struct one, i, .def = "{"));
ONE_MODEL(bad_default_null, EVF_F_STR(struct one, s, .def = "null"));
ONE_MODEL(bad_default_enum, EVF_F_ENUM(struct one, e, ABC, .def = "\"z\""));
ONE_MODEL(bad_pattern, EVF_F_STR(struct one, s, .pattern = "(a"));
ONE_MODEL(bad_bound, EVF_F_INT(struct one, i, .ge = 1));
ONE_MODEL(bad_bound_type, EVF_F_STR(struct one, s, EVF_GE(1)));
ONE_MODEL(bad_lengths, EVF_F_STR(struct one, s, .min_length = 3,
                                 .max_length = 2));
ONE_MODEL(bad_enum, { .name = "e", .offset = offsetof(struct one, e),
                      .csize = sizeof(int), .type = EVF_FT_ENUM });
ONE_MODEL(bad_size, { .name = "i", .offset = offsetof(struct one, i),
                      .csize = 4, .type = EVF_FT_INT });
ONE_MODEL(bad_twice, EVF_F_INT(struct one, i), EVF_F_INT(struct one, i));
ONE_MODEL(good_default, EVF_F_STR(struct one, s, .max_length = 2,
                                  .def = "\"ok\""),
          EVF_F_ENUM(struct one, e, ABC, .def = "\"b\""));
static const evf_model no_name = { .size = 8,
    .fields = EVF_FIELDS(EVF_F_INT(struct one, i)) };
static const evf_model no_fields = { .name = "Empty", .size = 8 };

static void
test_load_errors(void)
{
    static const struct {
        const evf_model *m;
        const char *why;    /* a part of the message */
    } bad[] = {
        { &bad_default, "String should have at most 2 characters" },
        { &bad_default_type, "unable to parse string as an integer" },
        { &bad_default_json, "not JSON" },
        { &bad_default_null, "Input should be a valid string" },
        { &bad_default_enum, "Input should be 'a', 'b' or 'c'" },
        { &bad_pattern, "bad pattern '(a'" },
        { &bad_bound, "has_ flag" },
        { &bad_bound_type, "bounds apply" },
        { &bad_lengths, "min_length" },
        { &bad_enum, "needs values" },
        { &bad_size, "size" },
        { &bad_twice, "declared twice" },
        { &no_name, "no name" },
        { &no_fields, "no fields" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        evf_models_t *s = evf_models_new();
        char err[256] = "";
        CU_ASSERT_PTR_NULL(evf_models_add(s, bad[i].m, err, sizeof(err)));
        if (!strstr(err, bad[i].why)) {
            fprintf(stderr, "\n    %zu: '%s' lacks '%s'\n", i, err,
                    bad[i].why);
            CU_FAIL("message");
        }
        evf_models_free(s);
    }
    evf_models_t *s = evf_models_new();
    char err[256] = "";
    CU_ASSERT_PTR_NOT_NULL(evf_models_add(s, &good_default, err,
                                          sizeof(err)));
    evf_models_free(s);
}

/* ---- serialization ---------------------------------------------------- */

static void
test_serialize(void)
{
    struct tag tags[2] = { { "a", 1 }, { "b", -2 } };
    struct tag main_tag = { "m", 0 };
    const char *names[] = { "x", "y" };
    int64_t nums[] = { 3 };
    struct thing t = {
        .name = "n\"q", .code = "ABC", .qty = 2, .small = 5, .price = 0.1,
        .ratio = 1.0, .on = true, .kind = 1,
        .tags = { 2, names }, .nums = { 1, nums }, .main_tag = &main_tag,
        .more = { 2, tags }, .maybe = { true, 9 }, .of = { false, 0 },
        .ob = { true, false }, .note = NULL, .okind = -1,
    };
    json_object *o = evf_model_to_json(&thing_model, &t, false);
    CU_ASSERT(same_json(o, "{\"name\":\"n\\\"q\",\"code\":\"ABC\",\"qty\":2,"
                        "\"small\":5,\"price\":0.1,\"ratio\":1.0,"
                        "\"on\":true,\"kind\":\"b\",\"tags\":[\"x\",\"y\"],"
                        "\"nums\":[3],\"main_tag\":{\"label\":\"m\","
                        "\"weight\":0},\"more\":[{\"label\":\"a\","
                        "\"weight\":1},{\"label\":\"b\",\"weight\":-2}],"
                        "\"maybe\":9,\"of\":null,\"ob\":false,"
                        "\"note\":null,\"okind\":null}"));
    /* Floats as Python prints them: 0.1, 1.0. */
    const char *text = json_object_to_json_string_ext(o,
                                                      JSON_C_TO_STRING_PLAIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"price\":0.1,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"ratio\":1.0,"));
    json_object_put(o);
    /* exclude_none leaves the null fields out, at every level. */
    t.main_tag = NULL;
    o = evf_model_to_json(&thing_model, &t, true);
    CU_ASSERT_FALSE(json_object_object_get_ex(o, "of", NULL));
    CU_ASSERT_FALSE(json_object_object_get_ex(o, "note", NULL));
    CU_ASSERT_FALSE(json_object_object_get_ex(o, "okind", NULL));
    CU_ASSERT_FALSE(json_object_object_get_ex(o, "main_tag", NULL));
    CU_ASSERT_TRUE(json_object_object_get_ex(o, "maybe", NULL));
    CU_ASSERT_TRUE(json_object_object_get_ex(o, "ob", NULL));
    json_object_put(o);
    CU_ASSERT_PTR_NULL(evf_model_to_json(&thing_model, NULL, false));
    /* What a body gave back serializes to an equal value. */
    struct thing *p = NULL;
    json_object *errs = run(&thing_model, BASE ",\"price\":1e-07,"
                            "\"tags\":[]}", (void **)&p);
    CU_ASSERT_PTR_NULL(errs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    o = evf_model_to_json(&thing_model, p, true);
    CU_ASSERT(same_json(o, "{\"name\":\"n\",\"code\":\"ABC\",\"qty\":1,"
                        "\"small\":5,\"price\":1e-07,\"ratio\":0.5,"
                        "\"on\":false,\"kind\":\"a\",\"tags\":[],"
                        "\"nums\":[0],\"more\":[]}"));
    json_object_put(o);
    free_blocks();
}

/* Python's repr of floats, for ctx values and responses. */
static void
test_float_repr(void)
{
    static const struct {
        double d;
        const char *repr;
    } t[] = {
        { 0.0, "0.0" }, { -0.0, "-0.0" }, { 1.0, "1.0" }, { 0.1, "0.1" },
        { 1.5, "1.5" }, { 0.0001, "0.0001" }, { 0.00001, "1e-05" },
        { 1e15, "1000000000000000.0" }, { 1e16, "1e+16" },
        { 123456789.125, "123456789.125" }, { 1.0 / 3, "0.3333333333333333" },
        { 2.5e-300, "2.5e-300" }, { -1e100, "-1e+100" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char buf[64];
        evf_model_float_repr(t[i].d, buf, sizeof(buf));
        if (strcmp(buf, t[i].repr) != 0)
            fprintf(stderr, "\n    %.17g: %s, want %s\n", t[i].d, buf,
                    t[i].repr);
        CU_ASSERT_STRING_EQUAL(buf, t[i].repr);
    }
}

/* ---- through the request layer ---------------------------------------- */

static struct {
    unsigned runs;
    int64_t id;
    char name[16];
} g;

static void
fresh_state(void)
{
    memset(&g, 0, sizeof(g));
}

struct thing_out {
    int64_t id;
    const char *name;
    const char *note;
    evf_opt_float of;
};

EVF_MODEL(thing_out_model, struct thing_out, "ThingOut",
    .fields = EVF_FIELDS(
        EVF_F_INT(struct thing_out, id),
        EVF_F_STR(struct thing_out, name),
        EVF_F_OPT_STR(struct thing_out, note),
        EVF_F_OPT_FLOAT(struct thing_out, of)));

static void
h_thing(evf_req *r)
{
    g.runs++;
    struct thing *t = evf_body_model(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    g.id = evf_path_int(r, "id");
    snprintf(g.name, sizeof(g.name), "%s", t->name);
    struct thing_out *o = evf_alloc(r, sizeof(*o));
    *o = (struct thing_out){ .id = g.id, .name = t->name, .note = t->note,
                             .of = t->of };
    evf_respond_model(r, o);
}

static void
h_nomodel(evf_req *r)
{
    g.runs++;
    CU_ASSERT_PTR_NULL(evf_body_model(r));
    struct thing_out o = { .id = 1, .name = "x" };
    CU_ASSERT_EQUAL(evf_respond_model(r, &o), EVF_EINVAL);
}

static const evf_query q_spec[] = {
    EVF_Q("n", EVF_INT),
    { .name = NULL },
};

static const evf_route routes[] = {
    EVF_POST("/things/{id:int}", h_thing, .query = q_spec,
             .body = &thing_model, .response_model = &thing_out_model,
             .status_code = 201),
    EVF_POST("/lean/{id:int}", h_thing, .body = &thing_model,
             .response_model = &thing_out_model,
             .response_exclude_none = true,
             .responses = EVF_RESPONSES(
                 { 404, "Not found", NULL },
                 { 409, "Taken", &strict_model })),
    EVF_GET("/nomodel", h_nomodel),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "models",
    .routes = routes,
};

static int
post(const char *uri, const char *body)
{
    open_conn();
    send_req(1, FCGI_KEEP_CONN, "POST", uri, "application/json", body);
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    return status_of(1);
}

static json_object *
answer(void)
{
    size_t len = 0;
    const char *b = body_of(1, &len);
    return b ? json_tokener_parse(b) : NULL;
}

static bool
answer_is(const char *want)
{
    json_object *o = answer();
    bool ok = same_json(o, want);
    json_object_put(o);
    return ok;
}

/* Path, query and body errors in one 422, in FastAPI's order. */
static void
test_req_422(void)
{
    CU_ASSERT_EQUAL(post("/things/abc?n=x", "{\"name\":\"\",\"qty\":0,"
                         "\"price\":1,\"note\":null,\"nums\":[-1]}"), 422);
    CU_ASSERT(has_header(1, "Content-Type: application/json"));
    CU_ASSERT(answer_is(
        "{\"detail\":["
        "{\"type\":\"int_parsing\",\"loc\":[\"path\",\"id\"],\"msg\":\"Input "
        "should be a valid integer, unable to parse string as an integer\","
        "\"input\":\"abc\"},"
        "{\"type\":\"int_parsing\",\"loc\":[\"query\",\"n\"],\"msg\":\"Input "
        "should be a valid integer, unable to parse string as an integer\","
        "\"input\":\"x\"},"
        ERRC("string_too_short", ",\"name\"", "String should have at least "
             "1 character", "\"\"", "{\"min_length\":1}") ","
        ERRC("greater_than_equal", ",\"qty\"", "Input should be greater "
             "than or equal to 1", "0", "{\"ge\":1}") ","
        ERRC("greater_than_equal", ",\"nums\",0", "Input should be greater "
             "than or equal to 0", "-1", "{\"ge\":0}") "]}"));
    CU_ASSERT_EQUAL(g.runs, 0);
    finish_conn();
}

static void
test_req_bad_json(void)
{
    /* FastAPI: the position of the error, input {}, ctx error. */
    CU_ASSERT_EQUAL(post("/things/1?n=1", "{\"name\": }"), 422);
    json_object *o = answer(), *d, *e, *loc, *ctx;
    CU_ASSERT_FATAL(o && json_object_object_get_ex(o, "detail", &d));
    CU_ASSERT_EQUAL(json_object_array_length(d), 1);
    e = json_object_array_get_idx(d, 0);
    CU_ASSERT_STRING_EQUAL(json_object_get_string(
        json_object_object_get(e, "type")), "json_invalid");
    CU_ASSERT_STRING_EQUAL(json_object_get_string(
        json_object_object_get(e, "msg")), "JSON decode error");
    loc = json_object_object_get(e, "loc");
    CU_ASSERT(same_json(json_object_object_get(e, "input"), "{}"));
    CU_ASSERT_EQUAL(json_object_array_length(loc), 2);
    CU_ASSERT(json_object_is_type(json_object_array_get_idx(loc, 1),
                                  json_type_int));
    CU_ASSERT(json_object_object_get_ex(e, "ctx", &ctx) &&
              json_object_object_get_ex(ctx, "error", NULL));
    json_object_put(o);
    CU_ASSERT_EQUAL(g.runs, 0);
    finish_conn();
    /* Not UTF-8: refused as json.loads refuses it, never echoed. */
    CU_ASSERT_EQUAL(post("/things/1?n=1", "{\"name\":\"a\xff\",\"qty\":1,"
                         "\"price\":1,\"note\":null}"), 422);
    CU_ASSERT(answer_is("{\"detail\":[{\"type\":\"json_invalid\",\"loc\":"
                        "[\"body\",10],\"msg\":\"JSON decode error\","
                        "\"input\":{},\"ctx\":{\"error\":\"invalid "
                        "UTF-8\"}}]}"));
    finish_conn();
    /* No body at all. */
    CU_ASSERT_EQUAL(post("/things/1?n=1", NULL), 422);
    CU_ASSERT(answer_is("{\"detail\":[{\"type\":\"missing\",\"loc\":"
                        "[\"body\"],\"msg\":\"Field required\","
                        "\"input\":null}]}"));
    finish_conn();
    /* JSON's null is no body either (it was json_invalid before). */
    CU_ASSERT_EQUAL(post("/things/1?n=1", "null"), 422);
    CU_ASSERT(answer_is("{\"detail\":[{\"type\":\"missing\",\"loc\":"
                        "[\"body\"],\"msg\":\"Field required\","
                        "\"input\":null}]}"));
    finish_conn();
    /* A bare number is JSON too: not an object (json_invalid before). */
    CU_ASSERT_EQUAL(post("/things/1?n=1", "5"), 422);
    CU_ASSERT(answer_is("{\"detail\":[" ERR("model_attributes_type", "",
                        "Input should be a valid dictionary or object to "
                        "extract fields from", "5") "]}"));
    finish_conn();
    /* Trailing garbage: json_invalid where it starts, Python's words. */
    CU_ASSERT_EQUAL(post("/things/1?n=1", "{} x"), 422);
    CU_ASSERT(answer_is("{\"detail\":[{\"type\":\"json_invalid\",\"loc\":"
                        "[\"body\",3],\"msg\":\"JSON decode error\","
                        "\"input\":{},\"ctx\":{\"error\":\"Extra "
                        "data\"}}]}"));
    finish_conn();
    /* Nested deeper than the parser allows: an error, not a crash. */
    char deep[600];
    size_t k = 0;
    k += (size_t)sprintf(deep, "{\"name\":\"n\",\"qty\":1,\"price\":1,"
                         "\"note\":null,\"more\":");
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    deep[k++] = '}';
    deep[k] = '\0';
    CU_ASSERT_EQUAL(post("/things/1?n=1", deep), 422);
    finish_conn();
    CU_ASSERT_EQUAL(g.runs, 0);
}

/* The response model: status_code, only the model's fields. */
static void
test_req_response(void)
{
    CU_ASSERT_EQUAL(post("/things/7?n=1", "{\"name\":\"abc\",\"qty\":1,"
                         "\"price\":1,\"note\":null,\"zzz\":1}"), 201);
    CU_ASSERT_EQUAL(g.runs, 1);
    CU_ASSERT_EQUAL(g.id, 7);
    CU_ASSERT_STRING_EQUAL(g.name, "abc");
    CU_ASSERT(has_header(1, "Content-Type: application/json"));
    CU_ASSERT(answer_is("{\"id\":7,\"name\":\"abc\",\"note\":null,"
                        "\"of\":null}"));
    finish_conn();
    /* Whitespace after the value, as files end (json_invalid before). */
    CU_ASSERT_EQUAL(post("/things/9?n=1", " {\"name\":\"abc\",\"qty\":1,"
                         "\"price\":1,\"note\":null}\r\n\t "), 201);
    finish_conn();
    /* Default status 200; nulls left out with response_exclude_none. */
    CU_ASSERT_EQUAL(post("/lean/8", "{\"name\":\"abc\",\"qty\":1,"
                         "\"price\":1,\"note\":null,\"of\":2.5}"), 200);
    CU_ASSERT(answer_is("{\"id\":8,\"name\":\"abc\",\"of\":2.5}"));
    finish_conn();
    /* A route without a response model: a logged 500. */
    open_conn();
    send_get(1, "/nomodel");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT_EQUAL(status_of(1), 500);
    CU_ASSERT_EQUAL(g.runs, 1);
    finish_conn();
}

/* An app whose model is malformed does not load. */
static void
test_req_refused(void)
{
    static const evf_route bad_routes[] = {
        EVF_POST("/bad", h_thing, .body = &bad_default),
        EVF_END
    };
    static const evf_app bad_app = {
        .abi = EVF_ABI_VERSION, .name = "bad-models", .routes = bad_routes,
    };
    CU_ASSERT_EQUAL(evf_app_register(&bad_app, "bad-models"), -1);
    /* The good app still answers. */
    CU_ASSERT_EQUAL(post("/things/7?n=1", "{\"name\":\"a\",\"qty\":1,"
                         "\"price\":1,\"note\":\"x\"}"), 201);
    finish_conn();
}

/* ---- suite ------------------------------------------------------------ */

static int
init(void)
{
    if (!(set = evf_models_new()) || peer_init() < 0)
        return -1;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = 16;
    evf_settings.request_deadline = 0;
    return evf_app_register(&app, "models") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    evf_models_free(set);
    return 0;
}

static CU_TestInfo tests[] = {
    { "422 lists, table-driven", test_table },
    { "valid bodies and defaults", test_filled },
    { "deep nesting", test_deep },
    { "malformed models refused at load", test_load_errors },
    { "serialization and exclude_none", test_serialize },
    { "floats as Python prints them", test_float_repr },
    { "path, query and body errors in one 422", test_req_422 },
    { "invalid JSON, invalid UTF-8, no body", test_req_bad_json },
    { "response models", test_req_response },
    { "an app with a bad model is refused", test_req_refused },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("models", init, cleanup, tests);
}
