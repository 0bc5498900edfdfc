# Sourced by generate.sh and check.sh: finds the repository root and a JDK 22+,
# and defines run_bindgen OUTPUT_DIR.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Prints the feature version of the JDK whose java launcher is $1 (empty on failure).
java_feature() {
    "$1" -XshowSettings:properties -version 2>&1 \
        | sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n 1
}

find_java() {
    local candidate v
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        v="$(java_feature "$JAVA_HOME/bin/java")"
        if [ -n "$v" ] && [ "$v" -ge 22 ]; then
            echo "$JAVA_HOME/bin/java"
            return 0
        fi
    fi
    for candidate in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*-2[2-9]* /usr/lib/jvm/*-3[0-9]*; do
        [ -x "$candidate/bin/java" ] || continue
        v="$(java_feature "$candidate/bin/java")"
        if [ -n "$v" ] && [ "$v" -ge 22 ]; then
            echo "$candidate/bin/java"
            return 0
        fi
    done
    return 1
}

JAVA="$(find_java)" || {
    echo "tools/bindgen: no JDK 22+ found: set JAVA_HOME to a JDK 22 or newer" \
         "(looked at \$JAVA_HOME, /usr/lib/jvm/temurin-25*, /usr/lib/jvm/*-2[2-9]*, /usr/lib/jvm/*-3*)" >&2
    exit 1
}

HEADER=native/adept_torch.h
PACKAGE=adept.bindings
HEADER_CLASS=adept_torch_h

# run_bindgen OUTPUT_DIR: generates the bindings into OUTPUT_DIR (run from $ROOT).
run_bindgen() {
    (cd "$ROOT" && "$JAVA" --enable-native-access=ALL-UNNAMED tools/bindgen/BindGen.java \
        --header "$HEADER" --output "$1" --target-package "$PACKAGE" --header-class-name "$HEADER_CLASS")
}
