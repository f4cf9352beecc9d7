#!/usr/bin/env bats
# What every command writes: --format accepts exactly what it lists, --help
# describes the same, and -o's extension picks a form or is refused.

load helpers

# A minimal run of each command, writing to standard output.
declare -A RUN=(
  [tg-gen]="tg-gen line -n 3"
  [tg-grad]="tg-grad -e sum(x^2) --wrt x x=[1,2]"
  [tg-fit]="tg-fit fit.csv --method exact"
  [tg-graph]="tg-graph -e w*x --wrt w w=1 x=2"
  [tg-check]="tg-check -e x^2 --wrt x x=2"
)

setup() {
  tg_setup
  printf 'x,y\n0,1\n1,3\n2,5.1\n' > fit.csv
}

# forms CMD: the names its --format error lists, one per line.
forms() {
  run $1 --format json
  assert_failure 2
  sed -n "1s/^$1: invalid value 'json' for --format: expected //p" <<< "$output" | sed 's/,\| or /\n/g' | grep .
}

@test "--format accepts every name it lists, and --help lists the same names" {
  local c f names
  command -v dot >/dev/null || skip "Graphviz's dot is not installed"
  for c in "${!RUN[@]}"; do
    names=$(forms "$c")
    [ -n "$names" ] || fail "$c lists no forms"
    for f in $names; do
      # shellcheck disable=SC2086
      run ${RUN[$c]} --format "$f" -o "out.$f"
      [[ "$output" != *"invalid value"* ]] || fail "$c --format $f: $output"
    done
    # the help's --format line names each of them
    run "$c" --help
    local help
    help=$(sed -n '/--format /,/^  *-[-a-z]/p' <<< "$output" | tr -s ' \n' ' ')
    for f in $names; do
      [[ "$help" == *"$f"* ]] || fail "$c --help does not name --format $f: $help"
    done
  done
}

@test "tg-grad --help gives one default for a terminal" {
  run tg-grad --help
  assert_success
  [ "$(grep -c 'terminal' <<< "$output")" = 1 ] || fail "$(grep terminal <<< "$output")"
  assert_output --partial "(default: torch on a"
}

@test "README: the first example's commands run as written (h5dump reads the file tg-gen wrote)" {
  command -v h5dump >/dev/null || skip "h5dump is not installed"
  local block
  block=$(awk '/^```sh$/ { n++; next } /^```$/ { if (n == 1) exit } n == 1' "$TG_ROOT/README.md" | grep -E '^(tg-gen|h5dump) ' | grep -v '|')
  [ "$(grep -c . <<< "$block")" -ge 3 ] || fail "README's first block changed: $block"
  run bash -c "$block"
  assert_success
  assert_output --partial 'DATASET "x"'
  assert_output --partial "x,y"
}

@test "README: the table of output forms is each program's --format list" {
  local c row listed
  for c in "${!RUN[@]}"; do
    row=$(grep -m1 "^| \`$c\` | \`" "$TG_ROOT/README.md") || fail "README has no output row for $c"
    listed=$(cut -d'|' -f3 <<< "$row" | tr -d '` ' | tr , '\n')
    assert_equal "$(sort <<< "$listed")" "$(forms "$c" | sort)"
  done
}
