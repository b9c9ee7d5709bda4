#!/usr/bin/env bash
# Instructions per policy decision, this checkout against another revision, counted by
# callgrind (a count repeats exactly on a shared machine; a time does not).
#
#   bench/instructions.sh [REV] [DECISIONS]     (default: 9d8db83, the build before Judgement v2)
#
# Builds crates/policy/examples/repeat.rs in both trees (copied, with the prose it judges, into
# REV's, which may predate it), runs it with 0 and DECISIONS decisions at 1, 4 and 16 KB, and
# prints the difference per decision and the ratio. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-9d8db83}
decisions=${2:-500}
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 2; }
other=$(mktemp -d /tmp/warden-instructions.XXXXXX)
trap 'git worktree remove --force "$other/tree" >/dev/null 2>&1 || true; rm -rf "$other"' EXIT
git worktree add --detach "$other/tree" "$rev" >/dev/null 2>&1
mkdir -p "$other/tree/crates/policy/examples" "$other/tree/crates/policy/benches/common"
cp crates/policy/examples/repeat.rs "$other/tree/crates/policy/examples/repeat.rs"
cp crates/policy/benches/common/prose.rs "$other/tree/crates/policy/benches/common/prose.rs"
build() { (cd "$1" && CARGO_TARGET_DIR="$2" cargo build --release -q -p warden-policy --example repeat); }
build . target
build "$other/tree" "$other/target"
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1 | awk '/Collected/ { print $4 }'; }
per_decision() { echo $(( ($(count "$1" "$2" "$decisions") - $(count "$1" "$2" 0)) / decisions )); }
printf '%-8s %14s %14s %7s\n' size "$rev" "$(git rev-parse --short HEAD)" ratio
for size in 1024 4096 16384; do
    old=$(per_decision "$other/target/release/examples/repeat" "$size")
    new=$(per_decision target/release/examples/repeat "$size")
    printf '%-8s %14s %14s %7s\n' "$size" "$old" "$new" "$(awk -v a="$old" -v b="$new" 'BEGIN { printf "%.3f", b / a }')"
done
