/*
 * demo.h: what the demo app's files (demo.c, demo_<part>.c) share: the
 * handlers and tables that live in their own files, for demo.c's route
 * table and app.
 */
#ifndef EVF_APPS_DEMO_H
#define EVF_APPS_DEMO_H

#include "evfcgi.h"

/* ---- middleware and CORS (demo_web.c) ---- */
/* Request id, then the timing header (X-Process-Time, milliseconds). */
extern const evf_middleware *const demo_middleware[];
/* CORS for http://app.example.test: GET, POST, credentials allowed. */
extern const evf_cors demo_cors;

/* ---- forms and uploads (demo_forms.c) ---- */
void demo_upload(evf_req *r);
void demo_login(evf_req *r);
extern const evf_query demo_upload_form[];
extern const evf_query demo_login_form[];

/* ---- parameters, cookies, security (demo_toolkit.c) ---- */
extern const evf_query demo_search_query[];
extern const evf_query demo_prefs_query[];
extern const evf_query demo_agent_query[];
extern const evf_dep demo_current_user;
void demo_search(evf_req *r);
void demo_prefs(evf_req *r);
void demo_whoami(evf_req *r);
void demo_agent(evf_req *r);
/* ---- request and response models (demo_models.c) ---- */
/* POST /items: validates an ItemIn, stores it, answers 201 with the Item. */
void demo_create_item(evf_req *r);
extern const evf_model demo_item_in_model;     /* the body: ItemIn */
extern const evf_model demo_item_model;        /* the answer: Item */
/* GET /items/{item_id}'s other answers, for the docs: 404. */
extern const evf_response_doc demo_read_item_responses[];

#endif
