#!/usr/bin/env bash
#
# The EVF_F_* field macros check each member's C type at compile time
# (include/evfcgi.h, "Models"): a model declared with the right types
# compiles cleanly (-Wall -Wextra -Werror), and each wrong member type is
# a compile error naming the member.
#
# Run by `make check`, or by hand:
#   top_srcdir=. CC=cc tests/integration/test_model_macros.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${CC:=cc}"
need "${CC%% *}"

compile() {
    $CC -std=gnu11 -Wall -Wextra -Werror -I"$top_srcdir/include" \
        -fsyntax-only -x c "$1" 2>"$tmp/cc.err"
}

cat >"$tmp/good.c" <<'C'
#include <evfcgi.h>
enum kind { K_A, K_B };
struct sub { int64_t n; };
struct item {
    const char *s; char *s2; int64_t i; double f; bool b; int e;
    enum kind k; struct sub *sub; evf_opt_int oi; evf_opt_float of;
    evf_opt_bool ob; evf_str_array as; evf_int_array ai;
    evf_float_array af; evf_bool_array ab; evf_enum_array ae;
    EVF_ARRAY(struct sub) subs;
};
EVF_MODEL(sub_model, struct sub, "Sub",
    .fields = EVF_FIELDS(EVF_F_INT(struct sub, n, EVF_GE(0))));
EVF_MODEL(item_model, struct item, "Item", .forbid_extra = true,
    .fields = EVF_FIELDS(
        EVF_F_STR(struct item, s, .max_length = 5),
        EVF_F_OPT_STR(struct item, s2, .def = "null"),
        EVF_F_INT(struct item, i),
        EVF_F_FLOAT(struct item, f, EVF_GT(0)),
        EVF_F_BOOL(struct item, b),
        EVF_F_ENUM(struct item, e, EVF_ENUM_VALUES("x", "y")),
        EVF_F_ENUM(struct item, k, EVF_ENUM_VALUES("a", "b")),
        EVF_F_OPT_MODEL(struct item, sub, sub_model),
        EVF_F_OPT_INT(struct item, oi),
        EVF_F_OPT_FLOAT(struct item, of),
        EVF_F_OPT_BOOL(struct item, ob),
        EVF_F_ARRAY_STR(struct item, as),
        EVF_F_ARRAY_INT(struct item, ai),
        EVF_F_ARRAY_FLOAT(struct item, af),
        EVF_F_ARRAY_BOOL(struct item, ab),
        EVF_F_ARRAY_ENUM(struct item, ae, EVF_ENUM_VALUES("x")),
        EVF_F_ARRAY_MODEL(struct item, subs, sub_model)));
C
if compile "$tmp/good.c"; then
    pass "a model of every field type compiles without a warning"
else
    not_ok "a model of every field type compiles without a warning" "$(cat "$tmp/cc.err")"
fi

# bad MACRO-LINE: one field whose member has another C type.
bad() {
    local what=$1 field=$2
    cat >"$tmp/bad.c" <<C
#include <evfcgi.h>
struct sub { int64_t n; };
struct other { int64_t n; };
struct item {
    int num; char name[8]; int64_t *ptr; double d; int64_t i;
    evf_int_array ai; struct other *o; evf_opt_int oi;
};
EVF_MODEL(sub_model, struct sub, "Sub",
    .fields = EVF_FIELDS(EVF_F_INT(struct sub, n)));
EVF_MODEL(item_model, struct item, "Item",
    .fields = EVF_FIELDS($field));
C
    if compile "$tmp/bad.c"; then
        not_ok "refused at compile time: $what" "it compiled"
    elif grep -q "has the wrong C type" "$tmp/cc.err"; then
        pass "refused at compile time: $what"
    else
        not_ok "refused at compile time: $what" "another error: $(head -3 "$tmp/cc.err")"
    fi
}
bad "a string field on an int" 'EVF_F_STR(struct item, num)'
bad "a string field on a char array" 'EVF_F_STR(struct item, name)'
bad "an int field on a pointer" 'EVF_F_INT(struct item, ptr)'
bad "an int field on an int" 'EVF_F_INT(struct item, num)'
bad "an int field on a double" 'EVF_F_INT(struct item, d)'
bad "a float field on an int64_t" 'EVF_F_FLOAT(struct item, i)'
bad "a bool field on an int" 'EVF_F_BOOL(struct item, num)'
bad "an enum field on a double" 'EVF_F_ENUM(struct item, d, EVF_ENUM_VALUES("a"))'
bad "a string array on an int array" 'EVF_F_ARRAY_STR(struct item, ai)'
bad "a float array on an int array" 'EVF_F_ARRAY_FLOAT(struct item, ai)'
bad "a nested model of another struct" 'EVF_F_MODEL(struct item, o, sub_model)'
bad "a nullable int on a plain int64_t" 'EVF_F_OPT_INT(struct item, i)'
bad "a plain int on a nullable one" 'EVF_F_INT(struct item, oi)'
