/*
 * demo.h: handlers of the demo app that live in their own files
 * (apps/demo_<topic>.c), for demo.c's route table.
 */
#ifndef EVF_DEMO_H
#define EVF_DEMO_H

#include "evfcgi.h"

/* Forms and uploads (apps/demo_forms.c). */
void demo_upload(evf_req *r);
void demo_login(evf_req *r);
extern const evf_query demo_upload_form[];
extern const evf_query demo_login_form[];

#endif
