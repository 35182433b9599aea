/*
 * app.h: what the items app shows its tests: the app itself and the
 * dependency a test replaces with a fake.
 */
#ifndef ITEMS_APP_H
#define ITEMS_APP_H

#include <evfcgi.h>

extern const evf_app evf_app_entry;
/* The database connection (a name stands in for it here). */
extern const evf_dep get_db;

#endif
