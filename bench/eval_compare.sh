#!/usr/bin/env bash
# Compares two builds' verdicts on every evaluation set: prints, per set, the cases the new
# build misjudges that the old one did not, and how many the new build fixed.
#
#   bash bench/eval_compare.sh OLD_WARDEN NEW_WARDEN
#
# Run from the repository root. Sets are the directories policies/eval, policies/holdout,
# policies/blind*, policies/conversations and policies/injection-blind*.
set -euo pipefail
old=${1:?old warden binary}
new=${2:?new warden binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
regressions=0
for set in policies/eval policies/holdout policies/blind policies/blind*/* policies/conversations policies/injection-blind*; do
  [ -d "$set" ] || continue
  "$old" policy eval "$set" -v 2>/dev/null | grep -E '^  \[' | sort >"$tmp/old" || true
  "$new" policy eval "$set" -v 2>/dev/null | grep -E '^  \[' | sort >"$tmp/new" || true
  added=$(comm -13 "$tmp/old" "$tmp/new")
  fixed=$(comm -23 "$tmp/old" "$tmp/new" | wc -l)
  if [ -n "$added" ]; then
    regressions=$((regressions + $(printf '%s\n' "$added" | wc -l)))
    echo "== $set: new misses (fixed $fixed)"
    printf '%s\n' "$added"
  elif [ "$fixed" -gt 0 ]; then
    echo "== $set: fixed $fixed, no new miss"
  fi
done
echo "new misses in all sets: $regressions"
