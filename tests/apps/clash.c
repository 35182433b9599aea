/*
 * clash: an app whose route clashes with the demo's /items/{item_id:int};
 * loading both must be refused with a message naming both routes.
 */
#include "evfcgi.h"

static void
mine(evf_req *r)
{
    evf_text(r, 200, "mine");
}

static const evf_route routes[] = {
    EVF_GET("/items/{item_id:int}", mine),
    EVF_END
};

EVF_APP("clash", routes);
