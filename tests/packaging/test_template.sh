#!/usr/bin/env bash
# test_template.sh TEMPLATE_DIR PKG_CONFIG_DIR WORK_DIR — builds the plugin
# template (sdk/template, or the installed copy in /usr/share/switchyard/
# template) the way a plugin author does, outside the Switchyard tree,
# finding the SDK with pkg-config, with -Werror, and runs its test.
set -euo pipefail
tmpl=$1 pc=$2 work=$3
rm -rf "$work"
export PKG_CONFIG_PATH=$pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
cmake -S "$tmpl" -B "$work" -DCMAKE_C_FLAGS=-Werror >/dev/null
cmake --build "$work"
ctest --test-dir "$work" --output-on-failure
