#!/usr/bin/env bash
# Check the C framer for warnings, memory errors and undefined behaviour.
#
# Not part of the pytest suite (it needs gcc's sanitizer runtimes and valgrind); .ci/run
# runs steps 1-3 with CASES=20000 after the tests. Run from anywhere; PYTHON names an
# interpreter with sidecar_sync's test deps (default: python). CASES sets the fuzz
# harness's case count (default 200000); STEPS the steps to run (default "1 2 3 4").
#
#   1. -Wall -Wextra + framer_build.py's flags, as errors, on the framer and on the
#      cffi-generated module;
#   2. csrc/tests/fuzz_framer.c (random streams, random chunkings, both output forms
#      against a reference) under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the same harness under valgrind memcheck, leaks included;
#   4. the Python framer and decoder tests against an ASan + UBSan build of the module.
#
# A missing compiler, sanitizer runtime or valgrind is an error, never a skip.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python}
cases=${CASES:-200000}
steps=" ${STEPS:-1 2 3 4} "
cc=${CC:-gcc}
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
warn="-std=c99 -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror"

fail() {
    echo "run_sanitizers.sh: FAILED: $*" >&2
    exit 1
}
runs() { [[ $steps == *" $1 "* ]]; }

# Preflight: name what is missing before anything runs.
command -v "$cc" >/dev/null || fail "no C compiler '$cc' (set CC, or install gcc)"
for lib in libasan.so libubsan.so; do
    # gcc prints the bare name back when it has no such runtime
    [[ $("$cc" -print-file-name=$lib) == /* ]] || fail "$cc has no $lib (install libasan/libubsan for $cc)"
done
if runs 3; then
    command -v valgrind >/dev/null || fail "no valgrind (install valgrind, or leave step 3 out of STEPS)"
fi
if runs 1 || runs 4; then
    "$python" -c "import cffi" 2>/dev/null || fail "PYTHON=$python cannot import cffi"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$repo"

if runs 1; then
echo "== 1. warnings as errors ($cc $warn)"
"$cc" -O3 $warn -c csrc/ndjson_framer.c -o "$scratch/framer.o"
mkdir "$scratch/warn"
cp -r csrc sidecar_sync "$scratch/warn/"
rm -f "$scratch"/warn/sidecar_sync/*.so
(cd "$scratch/warn" && SIDECAR_SYNC_CFLAGS="-Werror" "$python" csrc/framer_build.py >/dev/null)
echo "ok: framer and cffi module compile warning-free"
fi

if runs 2; then
echo "== 2. fuzz harness under ASan + UBSan, $cases cases x 2 seeds"
"$cc" -O1 -g $warn $san -Icsrc csrc/tests/fuzz_framer.c csrc/ndjson_framer.c -o "$scratch/fuzz_asan"
"$scratch/fuzz_asan" "$cases" 1
"$scratch/fuzz_asan" "$cases" 2
fi

if runs 3; then
echo "== 3. fuzz harness under valgrind, $((cases / 20)) cases"
"$cc" -O2 -g $warn -Icsrc csrc/tests/fuzz_framer.c csrc/ndjson_framer.c -o "$scratch/fuzz"
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all "$scratch/fuzz" $((cases / 20)) 3
fi

runs 4 || exit 0
echo "== 4. Python framer + decoder tests on an ASan + UBSan build"
mkdir "$scratch/asan"
cp -r csrc sidecar_sync tests "$scratch/asan/"
rm -f "$scratch"/asan/sidecar_sync/*.so
cd "$scratch/asan"
SIDECAR_SYNC_CFLAGS="-O1 -g $san" "$python" csrc/framer_build.py >/dev/null
cp "$repo/pyproject.toml" .  # pytest's configuration, after the build that need not see it
preload="$("$cc" -print-file-name=libasan.so) $("$cc" -print-file-name=libubsan.so)"
export LD_PRELOAD=$preload
# CPython is not instrumented: its own allocations would all look leaked. With
# PYTHONMALLOC=malloc every bytes object is its own malloc block, so a read past a
# chunk handed to C is caught too (pymalloc arenas would hide most of them).
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONMALLOC=malloc
"$python" -c 'import sidecar_sync._framer as m, sys; assert m.__file__.startswith(sys.argv[1]), m.__file__; print("module:", m.__file__)' "$scratch/asan"
# Left out: the 200 MB peak-RSS checks (ASan's quarantine holds freed memory on purpose)
# and the packaging tests (they build from the repo, not from this copy).
# --capture=sys leaves fd 2 alone, so a sanitizer report reaches the terminal before the abort.
"$python" -m pytest tests/framer tests/decoder -q -p no:cacheprovider --capture=sys \
    -k "not 200_mb" --ignore=tests/framer/test_build.py
