/*
 * model: field tables of C structs (include/evfcgi.h, "Models"): request
 * bodies validated into structs with pydantic v2's error objects, and
 * structs serialized back to JSON.  Pure: json-c and libc only.
 */
#include "config.h"

#include <json-c/json.h>

#include "evfcgi.h"

json_object *
evf_model_to_json(const evf_model *m, const void *obj, bool exclude_none)
{
    (void)m, (void)obj, (void)exclude_none;
    return NULL;            /* not yet */
}

void *
evf_body_model(evf_req *r)
{
    (void)r;
    return NULL;            /* not yet */
}

int
evf_respond_model(evf_req *r, const void *obj)
{
    (void)r, (void)obj;
    return EVF_EINVAL;      /* not yet */
}
