#!/usr/bin/env bash
# Formats every C++ source in place with the repository's .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files --cached --others --exclude-standard '*.cc' '*.h' | xargs clang-format -i
