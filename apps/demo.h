/*
 * demo.h: what the demo app's files (demo.c, demo_<part>.c) share.
 */
#ifndef EVF_APPS_DEMO_H
#define EVF_APPS_DEMO_H

#include "evfcgi.h"

/* ---- request and response models (demo_models.c) ---- */
/* POST /items: validates an ItemIn, stores it, answers 201 with the Item. */
void demo_create_item(evf_req *r);
extern const evf_model demo_item_in_model;     /* the body: ItemIn */
extern const evf_model demo_item_model;        /* the answer: Item */
/* GET /items/{item_id}'s other answers, for the docs: 404. */
extern const evf_response_doc demo_read_item_responses[];

#endif
