/*
 * demo_models: the demo's request and response models (issue 12).
 *
 * POST /items takes FastAPI's tutorial item as a body model,
 *
 *     class ItemIn(BaseModel):
 *         name: str = Field(min_length=1, max_length=50)
 *         price: float = Field(gt=0)
 *         tags: list[str] = Field(default=[], max_length=10)
 *         description: str | None = None
 *         kind: Kind = Kind.tool          # "tool", "food" or "toy"
 *
 * stores it in this worker's small store (the last STORE_MAX items; ids
 * count per worker) and answers 201 with the stored Item (the same fields
 * and its id) as the response model.  Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "demo.h"

enum kind { KIND_TOOL, KIND_FOOD, KIND_TOY };

struct item_in {
    const char *name;
    double price;
    evf_str_array tags;
    const char *description;    /* NULL: null */
    int kind;
};

struct item {
    int64_t id;
    const char *name;
    double price;
    evf_str_array tags;
    const char *description;
    int kind;
};

#define KINDS EVF_ENUM_VALUES("tool", "food", "toy")

EVF_MODEL(demo_item_in_model, struct item_in, "ItemIn",
    .description = "An item to create.",
    .forbid_extra = false,
    .fields = EVF_FIELDS(
        EVF_F_STR(struct item_in, name, .min_length = 1, .max_length = 50,
                  .description = "What the item is called",
                  .example = "\"Hammer\""),
        EVF_F_FLOAT(struct item_in, price, EVF_GT(0),
                    .description = "Its price, above zero",
                    .example = "9.5"),
        EVF_F_ARRAY_STR(struct item_in, tags, .max_length = 10,
                        .def = "[]", .description = "At most 10 tags",
                        .example = "[\"garden\"]"),
        EVF_F_OPT_STR(struct item_in, description, .def = "null"),
        EVF_F_ENUM(struct item_in, kind, KINDS, .def = "\"tool\"")));

EVF_MODEL(demo_item_model, struct item, "Item",
    .description = "A stored item.",
    .fields = EVF_FIELDS(
        EVF_F_INT(struct item, id, .description = "Given by the store"),
        EVF_F_STR(struct item, name),
        EVF_F_FLOAT(struct item, price),
        EVF_F_ARRAY_STR(struct item, tags),
        EVF_F_OPT_STR(struct item, description),
        EVF_F_ENUM(struct item, kind, KINDS)));

const evf_response_doc demo_read_item_responses[] = {
    { 404, "Item not found (a negative id)", NULL },
    { 0 },
};

/* The store: a ring of the last STORE_MAX items, each one malloc block. */
#define STORE_MAX 256

static struct item *store[STORE_MAX];
static int64_t next_id = 1;

static size_t
copy_size(const struct item_in *in)
{
    size_t n = sizeof(struct item) + in->tags.n * sizeof(char *);
    n += strlen(in->name) + 1;
    for (size_t i = 0; i < in->tags.n; i++)
        n += strlen(in->tags.v[i]) + 1;
    if (in->description)
        n += strlen(in->description) + 1;
    return n;
}

static const char *
put_str(char **p, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *at = *p;
    *p += n;
    return at;
}

/* A stored copy of in with the next id, or NULL when out of memory. */
static struct item *
store_item(const struct item_in *in)
{
    struct item *it = malloc(copy_size(in));
    if (!it)
        return NULL;
    char *p = (char *)(it + 1);
    it->tags.v = (const char **)p;
    p += in->tags.n * sizeof(char *);
    it->id = next_id++;
    it->name = put_str(&p, in->name);
    it->price = in->price;
    it->tags.n = in->tags.n;
    for (size_t i = 0; i < in->tags.n; i++)
        it->tags.v[i] = put_str(&p, in->tags.v[i]);
    it->description = in->description ? put_str(&p, in->description)
                                      : NULL;
    it->kind = in->kind;
    size_t slot = (size_t)(it->id % STORE_MAX);
    free(store[slot]);          /* the oldest goes */
    store[slot] = it;
    return it;
}

void
demo_create_item(evf_req *r)
{
    const struct item_in *in = evf_body_model(r);
    struct item *it = store_item(in);
    if (!it) {
        evf_raise(r, EVF_HTTP_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    evf_respond_model(r, it);
}
