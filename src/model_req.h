/*
 * model_req: models on the request layer (see model_req.c): validating a
 * request's body model.
 */
#ifndef EVF_MODEL_REQ_H
#define EVF_MODEL_REQ_H

#include <json-c/json.h>
#include <stddef.h>

#include "model.h"
#include "request.h"

/*
 * Validate r's parsed JSON body against its route's body model (nothing
 * when the route has none, or the body was missing or not JSON: that
 * error is already in *errs), appending errors to *errs.  0, or -ENOMEM.
 */
int evf__req_body_model(evf_req *r, json_object **errs);

#endif
