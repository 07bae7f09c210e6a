#!/bin/bash
# Run kturn's test suites and print one closing line "N passed, N failed, N skipped".
#   tests/run.sh            every suite: unit, fuzz (short), integ + interop
#   tests/run.sh unit|fuzz|integ
# Env: BUILD (build dir), PYTHON (Debian python3 with pytest), FUZZ_SECONDS
# (0: only replay each target's corpus once - the SANITIZE=1 run, whose fuzz
# targets are the same sanitized binaries the plain run already fuzzed).
# Sanitized builds (build-san): a leak (LSan), an ASan report or a UBSan error
# makes the binary exit non-zero, which fails its unit test, and a kturnd that
# does not exit 0 after SIGTERM fails its integration test.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
suites=${1:-"unit fuzz integ"}
passed=0 failed=0 skipped=0
failures=()
logdir=$(mktemp -d /tmp/kturn-test.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

count() { # name status
	case $2 in
	pass) passed=$((passed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$1") ;;
	esac
}

run_unit() {
	local t out p f s
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		out="$logdir/$(basename "$t").log"
		echo "== unit $(basename "$t")"
		CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$out" 2>&1
		local rc=$?
		# cmocka TAP: "ok N - name", "ok N - name # SKIP", "not ok N - name".
		s=$(grep -c '^ok .*# SKIP' "$out")
		p=$(($(grep -c '^ok ' "$out") - s))
		f=$(grep -c '^not ok ' "$out")
		passed=$((passed + p)) skipped=$((skipped + s))
		if [ "$f" -gt 0 ] || [ $rc -ne 0 ] || [ $((p + s)) -eq 0 ]; then
			[ "$f" -eq 0 ] && f=1
			failed=$((failed + f)); failures+=("$(basename "$t")")
			cat "$out"
		else
			echo "   $p passed, $s skipped"
		fi
	done
}

run_fuzz() {
	local t name corpus work
	for t in "$BUILD"/fuzz/fuzz_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		corpus=tests/fuzz/corpus/$name
		work="$logdir/corpus-$name"
		mkdir -p "$work" "$BUILD/fuzz-artifacts"
		[ -d "$corpus" ] && cp -r "$corpus/." "$work/"
		# tests/fuzz/<target>.dict if there is one, else the codec's stun.dict
		dict=()
		if [ -f "tests/fuzz/$name.dict" ]; then
			dict=(-dict="tests/fuzz/$name.dict")
		elif [ -f tests/fuzz/stun.dict ]; then
			dict=(-dict=tests/fuzz/stun.dict)
		fi
		local budget=(-max_total_time="$FUZZ_SECONDS")
		[ "$FUZZ_SECONDS" = 0 ] && budget=(-runs=0) # corpus replay only
		echo "== fuzz $name (${FUZZ_SECONDS}s)"
		if "$t" "${budget[@]}" -print_final_stats=1 "${dict[@]}" \
			-artifact_prefix="$BUILD/fuzz-artifacts/$name-" "$work" >"$logdir/$name.log" 2>&1; then
			grep -E 'stat::number_of_executed_units' "$logdir/$name.log" | sed 's/^/   /'
			count "$name" pass
		else
			tail -n 40 "$logdir/$name.log"
			echo "   crash input kept in $BUILD/fuzz-artifacts/ (add it to the corpus once fixed)"
			count "$name" fail
		fi
	done
}

run_integ() {
	local xml="$logdir/integ.xml"
	echo "== integ + interop (pytest)"
	if ! "$PYTHON" -c 'import pytest' 2>/dev/null; then
		echo "python3-pytest missing"; count pytest fail; return
	fi
	KTURN_BUILD="$BUILD" "$PYTHON" -m pytest -q -p no:cacheprovider --junitxml="$xml" \
		tests/integ tests/interop
	local rc=$?
	if [ ! -s "$xml" ]; then count pytest fail; return; fi
	read -r t f e s < <("$PYTHON" - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
g = lambda k: sum(int(x.get(k, 0)) for x in suites)
print(g("tests"), g("failures"), g("errors"), g("skipped"))
PY
)
	passed=$((passed + t - f - e - s)) failed=$((failed + f + e)) skipped=$((skipped + s))
	if [ $((f + e)) -gt 0 ] || { [ $rc -ne 0 ] && [ $rc -ne 5 ]; }; then
		failures+=("pytest")
		[ $((f + e)) -eq 0 ] && failed=$((failed + 1))
	fi
}

for s in $suites; do "run_$s"; done
echo
[ ${#failures[@]} -gt 0 ] && echo "failing: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
