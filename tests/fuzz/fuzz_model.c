/*
 * fuzz_model: libFuzzer harness for body models (src/model.c).
 *
 * The input is a request body (any bytes).  As the request layer does, it
 * must be UTF-8 and is parsed by json-c with a depth limit, from an
 * exact-size heap copy (so ASan sees a read past its end).  What parses is
 * validated against a model with every field type: strings with lengths
 * and a pattern, bounded ints and floats, bools, enums, nullable variants,
 * arrays of each, nested models, a model nesting itself in an array, and
 * extra keys forbidden in a nested model.  Promises checked:
 *
 *  - validation ends with 0 (a struct) or 1 (errors), never -1 here;
 *  - every error has a string type and msg, an input key, a loc starting
 *    with "body" made of strings and non-negative indexes, and the list
 *    serializes to JSON that parses back equal;
 *  - validating again gives the same answer (no state is kept);
 *  - a valid struct serialized, validated and serialized again gives the
 *    same JSON (what the handler got obeys the model; floats read back);
 *  - Python's repr of a double taken from the input reads back the same.
 *
 * Built with -fsanitize=fuzzer for fuzzing; tests/fuzz/replay.c supplies a
 * main() that replays tests/fuzz/corpus-model without libFuzzer.
 */
#include "config.h"

#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            fail(__FILE__, __LINE__, #cond); \
    } while (0)

static void fail(const char *file, int line, const char *what)
    __attribute__((noreturn));

static void
fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

/* ---- the model -------------------------------------------------------- */

struct leaf {
    int64_t n;
    const char *s;
};

EVF_MODEL(leaf_model, struct leaf, "Leaf",
    .forbid_extra = true,
    .fields = EVF_FIELDS(
        EVF_F_INT(struct leaf, n, EVF_GE(-5), EVF_LT(1000)),
        EVF_F_OPT_STR(struct leaf, s, .def = "null", .max_length = 3)));

struct node {
    int64_t v;
    EVF_ARRAY(struct node) kids;
};

EVF_MODEL_DECLARE(node_model, struct node);
EVF_MODEL(node_model, struct node, "Node",
    .fields = EVF_FIELDS(
        EVF_F_INT(struct node, v, .def = "0"),
        EVF_F_ARRAY_MODEL(struct node, kids, node_model, .def = "[]",
                          .max_length = 4)));

#define KINDS EVF_ENUM_VALUES("a", "b'", "c\"d")

struct all {
    const char *s;
    int64_t i;
    double f;
    bool b;
    int e;
    struct leaf *leaf;
    evf_str_array as;
    evf_int_array ai;
    evf_float_array af;
    evf_bool_array ab;
    evf_enum_array ae;
    EVF_ARRAY(struct leaf) al;
    evf_opt_int oi;
    evf_opt_float of;
    evf_opt_bool ob;
    const char *os;
    int oe;
    struct leaf *ol;
    evf_int_array oai;
    struct node *tree;
};

EVF_MODEL(all_model, struct all, "All",
    .fields = EVF_FIELDS(
        EVF_F_STR(struct all, s, .min_length = 1, .max_length = 8,
                  .pattern = "^[a-z\xc3\xa9 ]*$", .def = "\"x\""),
        EVF_F_INT(struct all, i, EVF_GT(-100), EVF_LE(100), .def = "0"),
        EVF_F_FLOAT(struct all, f, EVF_GE(-1e9), EVF_LT(1e9), .def = "0.5"),
        EVF_F_BOOL(struct all, b, .def = "false"),
        EVF_F_ENUM(struct all, e, KINDS, .def = "\"a\""),
        EVF_F_MODEL(struct all, leaf, leaf_model, .def = "{\"n\":1}"),
        EVF_F_ARRAY_STR(struct all, as, .max_length = 5, .def = "[]"),
        EVF_F_ARRAY_INT(struct all, ai, .min_length = 1, EVF_GE(0),
                        .def = "[0]"),
        EVF_F_ARRAY_FLOAT(struct all, af, EVF_GT(-1e300), EVF_LT(1e300),
                          .def = "[]"),
        EVF_F_ARRAY_BOOL(struct all, ab, .def = "[]"),
        EVF_F_ARRAY_ENUM(struct all, ae, KINDS, .def = "[]"),
        EVF_F_ARRAY_MODEL(struct all, al, leaf_model, .def = "[]"),
        EVF_F_OPT_INT(struct all, oi, .def = "null"),
        EVF_F_OPT_FLOAT(struct all, of, EVF_GT(-1e300), EVF_LT(1e300),
                        .def = "null"),
        EVF_F_OPT_BOOL(struct all, ob, .def = "null"),
        EVF_F_OPT_STR(struct all, os, .def = "null"),
        EVF_F_OPT_ENUM(struct all, oe, KINDS, .def = "null"),
        EVF_F_OPT_MODEL(struct all, ol, leaf_model, .def = "null"),
        EVF_F_OPT_ARRAY_INT(struct all, oai, .def = "null"),
        EVF_F_OPT_MODEL(struct all, tree, node_model, .def = "null")));

/* ---- memory: every block freed after each input ---------------------- */

static void **blocks;
static size_t nblocks, capblocks;

static void *
alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (nblocks == capblocks) {
        size_t cap = capblocks ? 2 * capblocks : 64;
        void **b = realloc(blocks, cap * sizeof(*b));
        CHECK(b);
        blocks = b, capblocks = cap;
    }
    void *p = calloc(1, size ? size : 1);
    CHECK(p);
    return blocks[nblocks++] = p;
}

static void
free_blocks(void)
{
    while (nblocks)
        free(blocks[--nblocks]);
}

static const evf_cmodel_t *compiled;

static const evf_cmodel_t *
model(void)
{
    if (!compiled) {
        char err[256];
        evf_models_t *set = evf_models_new();   /* kept for the run */
        CHECK(set);
        compiled = evf_models_add(set, &all_model, err, sizeof(err));
        if (!compiled)
            fprintf(stderr, "fuzz_model: %s\n", err);
        CHECK(compiled);
    }
    return compiled;
}

/* ---- checks ----------------------------------------------------------- */

static void
check_errors(json_object *errs)
{
    CHECK(json_object_is_type(errs, json_type_array));
    size_t n = json_object_array_length(errs);
    CHECK(n > 0);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(errs, i), *v;
        CHECK(json_object_object_get_ex(e, "type", &v) &&
              json_object_is_type(v, json_type_string));
        CHECK(json_object_object_get_ex(e, "msg", &v) &&
              json_object_is_type(v, json_type_string));
        CHECK(json_object_object_get_ex(e, "input", NULL));
        CHECK(json_object_object_get_ex(e, "loc", &v) &&
              json_object_is_type(v, json_type_array));
        size_t nl = json_object_array_length(v);
        CHECK(nl >= 1);
        CHECK(strcmp(json_object_get_string(json_object_array_get_idx(v, 0)),
                     "body") == 0);
        for (size_t k = 1; k < nl; k++) {
            json_object *seg = json_object_array_get_idx(v, k);
            CHECK(json_object_is_type(seg, json_type_string) ||
                  (json_object_is_type(seg, json_type_int) &&
                   json_object_get_int64(seg) >= 0));
        }
    }
    /* What the client gets is JSON that reads back the same. */
    const char *text = json_object_to_json_string_ext(
        errs, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    CHECK(text);
    json_object *back = json_tokener_parse(text);
    CHECK(back);
    CHECK(json_object_equal(back, errs));
    json_object_put(back);
}

static int
validate(json_object *in, json_object **errs, void **out)
{
    *errs = NULL;
    *out = NULL;
    int rc = evf_model_validate(model(), in, "body", alloc, NULL, errs, out);
    CHECK(rc == 0 || rc == 1);
    CHECK((rc == 1) == (*errs != NULL));
    CHECK((rc == 0) == (*out != NULL));
    return rc;
}

static void
check_valid(void *obj)
{
    json_object *once = evf_model_to_json(&all_model, obj, false);
    CHECK(once);
    const char *text = json_object_to_json_string_ext(
        once, JSON_C_TO_STRING_PLAIN);
    json_object *reread = json_tokener_parse(text);
    CHECK(reread);
    json_object *errs;
    void *again;
    int rc = validate(reread, &errs, &again);
    if (rc != 0)
        fprintf(stderr, "fuzz_model: %s\n  refused: %s\n", text,
                json_object_to_json_string(errs));
    CHECK(rc == 0);
    json_object *twice = evf_model_to_json(&all_model, again, false);
    CHECK(twice);
    CHECK(json_object_equal(once, twice));
    json_object_put(twice);
    json_object_put(reread);
    json_object_put(once);
    /* exclude_none gives a subset without nulls. */
    json_object *lean = evf_model_to_json(&all_model, obj, true);
    CHECK(lean);
    json_object_object_foreach(lean, k, v) {
        (void)k;
        CHECK(v != NULL);
    }
    json_object_put(lean);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= sizeof(double)) {
        double d;
        char repr[64];
        memcpy(&d, data, sizeof(d));
        evf_model_float_repr(d, repr, sizeof(repr));
        if (isfinite(d))
            CHECK(strtod(repr, NULL) == d);
    }
    if (size > 65536)
        return 0;
    char *body = malloc(size ? size : 1);
    CHECK(body);
    memcpy(body, data, size);
    if (evf_model_utf8_error(body, size)) {
        free(body);
        return 0;               /* json_invalid, before json-c */
    }
    json_tokener *tok = json_tokener_new_ex(32);
    CHECK(tok);
    /* As src/inputs.c parses a body: a NUL ends a final number or
     * literal; whitespace may follow. */
    json_object *in = json_tokener_parse_ex(tok, body, (int)size);
    size_t end = json_tokener_get_parse_end(tok);
    if (!in && json_tokener_get_error(tok) == json_tokener_continue &&
        end == size)
        in = json_tokener_parse_ex(tok, "", 1);
    bool whole = json_tokener_get_error(tok) == json_tokener_success;
    while (whole && end < size && body[end] && strchr(" \t\r\n", body[end]))
        end++;
    whole = whole && end == size;
    json_tokener_free(tok);
    free(body);
    if (!whole) {
        json_object_put(in);
        return 0;
    }
    json_object *errs, *errs2;
    void *obj, *obj2;
    int rc = validate(in, &errs, &obj);
    int rc2 = validate(in, &errs2, &obj2);
    CHECK(rc == rc2);
    if (getenv("FUZZ_MODEL_VERBOSE"))     /* what a seed exercises */
        fprintf(stderr, "fuzz_model: %s\n", rc ? json_object_to_json_string(
                    errs) : "valid");
    if (rc == 1) {
        check_errors(errs);
        CHECK(json_object_equal(errs, errs2));
    } else {
        check_valid(obj);
    }
    json_object_put(errs);
    json_object_put(errs2);
    json_object_put(in);
    free_blocks();
    return 0;
}
