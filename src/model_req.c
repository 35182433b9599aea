/*
 * model_req: models on the request layer.  When an app loads, its routes'
 * body and response models are compiled (evf__route_models); before the
 * handler, the JSON body of a route with .body is validated into a struct
 * and its errors join the 422 list (evf__req_body_model); the handler
 * reads the struct (evf_body_model) and answers a response model
 * (evf_respond_model).  Loop thread, or the pool thread owning a blocking
 * request.
 */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "model_req.h"
#include "request_int.h"

static void *
arena_zalloc(void *ctx, size_t size)
{
    void *p = evf_alloc(ctx, size ? size : 1);
    if (p)
        memset(p, 0, size);
    return p;
}

int
evf__req_body_model(evf_req *r, json_object **errs)
{
    const evf_cmodel_t *c = r->route->body_model;
    if (!c || !r->json)
        return 0;               /* missing or invalid JSON: already said */
    size_t bad = evf_model_utf8_error((const char *)r->body.data,
                                      r->body.len);
    if (bad) {
        /* json.loads would refuse it: the same error as bad JSON. */
        if (!*errs && !(*errs = json_object_new_array()))
            return -ENOMEM;
        json_object *e = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string(
                                   "json_invalid"));
        json_object *loc = json_object_new_array();
        json_object_array_add(loc, json_object_new_string("body"));
        json_object_array_add(loc, json_object_new_int64((int64_t)bad - 1));
        json_object_object_add(e, "loc", loc);
        json_object_object_add(e, "msg", json_object_new_string(
                                   "JSON decode error"));
        json_object_object_add(e, "input", json_object_new_object());
        json_object *ctx = json_object_new_object();
        json_object_object_add(ctx, "error", json_object_new_string(
                                   "invalid UTF-8"));
        json_object_object_add(e, "ctx", ctx);
        json_object_array_add(*errs, e);
        return 0;
    }
    void *out = NULL;
    int rc = evf_model_validate(c, r->json, "body", arena_zalloc, r, errs,
                                &out);
    if (rc < 0 || (rc > 0 && !*errs))
        return -ENOMEM;         /* a refusal always has its errors */
    r->body_model = out;
    return 0;
}

void *
evf_body_model(evf_req *r)
{
    return r->body_model;
}

int
evf_respond_model(evf_req *r, const void *obj)
{
    const evf_route *rt = r->route ? r->route->route : NULL;
    if (!rt || !rt->response_model || !obj) {
        evf_log(r, EVF_LOG_ERROR, "evf_respond_model: %s",
                !obj ? "no struct given" : "the route has no response_model");
        evf__req_answer_error(r, 500, "Internal Server Error", NULL);
        return EVF_EINVAL;
    }
    json_object *o = evf_model_to_json(rt->response_model, obj,
                                       rt->response_exclude_none);
    return evf_json(r, rt->status_code ? rt->status_code : 200, o);
}
