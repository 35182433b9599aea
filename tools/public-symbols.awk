# public-symbols.awk: the names a header declares for the library to
# export, one per line: its functions and its extern variables.
#
# Input: the header after the preprocessor (comments, macros and
# attributes gone).  Text inside braces (struct, union and enum bodies,
# inline function bodies) is skipped; what remains is split into
# declarations at ';' (and after a function body).  A declaration whose
# first '(' follows a name declares that function, unless it is a typedef
# or static; one whose first '(' is "(*" declares a function pointer,
# exported when extern; one without '(' is a variable when extern.

function emit(decl,    head, name, rest) {
    gsub(/[ \t\n]+/, " ", decl)
    sub(/^ /, "", decl)
    if (decl == "" || decl ~ /^(typedef|static) / || decl ~ / static /)
        return
    if (index(decl, "(") > 0) {
        head = substr(decl, 1, index(decl, "(") - 1)
        rest = substr(decl, index(decl, "(") + 1)
        if (rest ~ /^ ?\*/) {
            if (decl !~ /^extern /)
                return
            sub(/^ ?\* ?/, "", rest)
            name = rest
            sub(/[^A-Za-z0-9_].*/, "", name)
        } else {
            sub(/ $/, "", head)
            name = head
            sub(/.*[^A-Za-z0-9_]/, "", name)
        }
    } else {
        if (decl !~ /^extern /)
            return
        sub(/ ?=.*/, "", decl)
        sub(/ ?\[.*/, "", decl)
        sub(/ $/, "", decl)
        name = decl
        sub(/.*[^A-Za-z0-9_]/, "", name)
    }
    if (name ~ /^[A-Za-z_][A-Za-z0-9_]*$/)
        print name
}

{
    line = $0 "\n"
    for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (c == "{") {
            if (depth == 0)
                funcbody = index(decl, "(") > 0 && decl !~ /=[^(]*$/
            depth++
        } else if (c == "}") {
            depth--
            if (depth == 0 && funcbody) {
                emit(decl)
                decl = ""
            }
        } else if (depth == 0) {
            if (c == ";") {
                emit(decl)
                decl = ""
            } else {
                decl = decl c
            }
        }
    }
}

END {
    emit(decl)
}
