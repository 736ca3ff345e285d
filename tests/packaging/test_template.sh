#!/usr/bin/env bash
# test_template.sh TEMPLATE_DIR PKG_CONFIG_DIR WORK_DIR [FLAGS] — builds the plugin
# template (sdk/template, or the installed copy in /usr/share/switchyard/
# template) the way a plugin author does, outside the Switchyard tree,
# finding the SDK with pkg-config, with -Werror (plus FLAGS: the
# sanitizers, when the test kit was built with them), and runs its tests.
set -euo pipefail
tmpl=$1 pc=$2 work=$3 flags=${4:-}
rm -rf "$work"
export PKG_CONFIG_PATH=$pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
cmake -S "$tmpl" -B "$work" -DCMAKE_C_FLAGS="-Werror $flags" \
      -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_MODULE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work"
ctest --test-dir "$work" --output-on-failure
