# Sourced by generate.sh and check.sh: repository root, a JDK 22+, and run_bindgen OUTPUT_DIR.
. "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
ROOT="$ADEPT_ROOT"

java_home="$(find_java_home)" || {
    echo "tools/bindgen: no JDK 22+ found: set JAVA_HOME to a JDK 22 or newer (looked at \$JAVA_HOME and /usr/lib/jvm)" >&2
    exit 1
}
JAVA="$java_home/bin/java"

HEADER=native/adept_torch.h
PACKAGE=adept.bindings
HEADER_CLASS=adept_torch_h

# run_bindgen OUTPUT_DIR: generates the bindings into OUTPUT_DIR (run from $ROOT).
run_bindgen() {
    (cd "$ROOT" && "$JAVA" --enable-native-access=ALL-UNNAMED tools/bindgen/BindGen.java \
        --header "$HEADER" --output "$1" --target-package "$PACKAGE" --header-class-name "$HEADER_CLASS")
}
