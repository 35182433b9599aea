/*
 * forms: a request's form fields and uploaded files (evfcgi.h's "Forms
 * and uploads"), in the request layer.
 *
 * Owns the streaming intake of a multipart/form-data body for a route
 * that declares .form (the multipart parser fed STDIN piece by piece,
 * files written to temporary files under the upload limits), the parsing
 * of an urlencoded body, the validation of declared fields (422 items with
 * loc ["body", name]), the accessors, and the removal of the temporary
 * files when the request ends.  Loop thread; the accessors also on the
 * pool thread that owns a blocking request.
 */
#ifndef EVF_FORMS_H
#define EVF_FORMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evfcgi.h"

/*
 * The first STDIN bytes arrived: true when r's body is a multipart body
 * for a route that declares .form, which is then streamed through
 * evf__forms_feed instead of being buffered.  A bad boundary sets r's
 * reject (400) and also returns true.
 */
bool evf__forms_begin(evf_req *r);

/*
 * The next STDIN bytes of a streamed body.  A limit passed (413), a
 * malformed body (400) or a failed write (500) sets r's reject with its
 * detail and removes the files already written; the rest of the body is
 * then dropped by the intake.  Returns 0.
 */
int evf__forms_feed(evf_req *r, const uint8_t *data, size_t len);

/* STDIN ended: a body that stops inside a part is rejected (400). */
void evf__forms_end(evf_req *r);

/*
 * After the path and query validation: check the route's declared form
 * fields and files, appending FastAPI's items to r's 422 list.  0, or
 * -ENOMEM.
 */
int evf__forms_validate(evf_req *r);

/* The request ends: close and remove its temporary files. */
void evf__forms_free(evf_req *r);

#endif
