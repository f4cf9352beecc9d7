#!/usr/bin/env bats
# The command-line tools on Vulkan (Mesa's lavapipe, set up by tests/run with
# the validation layer on): the same numbers as on the CPU, and a clear error
# without a driver. Every test skips, with the reason, when no Vulkan device
# can be made; any validation-layer message on stderr fails a test.

load helpers

# skip_unless_vulkan: skips the test when tg cannot make vulkan:0.
skip_unless_vulkan() {
  local err
  err=$(tg-gen line -n 1 --seed 1 --device vulkan --format csv 2>&1 >/dev/null) ||
    skip "no Vulkan device: ${err:-tg-gen --device vulkan failed}"
}

# no_validation_messages TEXT: fails when TEXT holds a validation-layer message.
no_validation_messages() {
  if grep -q 'vulkan validation' <<< "$1"; then
    grep 'vulkan validation' <<< "$1" | head -5
    fail "validation-layer messages (above)"
  fi
}

# skip_if_missing_kernels TEXT: skips, naming them, when a kernel is still missing.
skip_if_missing_kernels() {
  local missing
  missing=$(grep -o 'has no kernel for [^ ]*' <<< "$1" | sort -u | tr '\n' ';')
  [ -z "$missing" ] || skip "the vulkan backend $missing"
}

# same_uniform DTYPE TOL: tg-gen line on vulkan and cpu: x (uniform, from
# --x-range) bitwise the same text; y (with normal noise) within TOL relative.
same_uniform() {
  local dt=$1 tol=$2
  local args=(line --slope 2 --intercept 3 -n 2000 --x-range -5,20 --noise 3 --seed 7 --format csv --dtype "$dt")
  run --separate-stderr tg-gen "${args[@]}" --device vulkan
  [ "$status" -eq 0 ] || fail "tg-gen --device vulkan: exit status $status: $stderr"
  no_validation_messages "$stderr"
  skip_if_missing_kernels "$stderr"
  printf '%s\n' "$output" > v.csv
  tg-gen "${args[@]}" --device cpu > c.csv
  [ "$(wc -l < c.csv)" -eq 2001 ]
  cmp <(cut -d, -f1 v.csv) <(cut -d, -f1 c.csv) || fail "x differs between vulkan and cpu ($dt)"
  paste -d, v.csv c.csv | awk -F, -v tol="$tol" 'NR > 1 {
    d = $2 - $4; if (d < 0) d = -d; m = $4 < 0 ? -$4 : $4
    if (d > tol * (1 + m)) { printf "y[%d]: vulkan %s, cpu %s\n", NR - 2, $2, $4; bad = 1 } }
    END { exit bad }'
}

@test "tg-gen line --device vulkan: the same uniform x (bitwise) and y as on the cpu, float32" {
  skip_unless_vulkan
  same_uniform f32 1e-6
}

@test "tg-gen line --device vulkan: the same uniform x (bitwise) and y as on the cpu, float64" {
  skip_unless_vulkan
  same_uniform f64 1e-12
}

@test "tg-gen rand --device vulkan: the same numbers as on the cpu, bitwise" {
  skip_unless_vulkan
  for dt in f32 f64; do
    run --separate-stderr tg-gen rand --shape 3,333 --seed 11 --dtype "$dt" --format csv --device vulkan
    assert_success
    no_validation_messages "$stderr"
    [ "$output" = "$(tg-gen rand --shape 3,333 --seed 11 --dtype "$dt" --format csv --device cpu)" ] ||
      fail "tg-gen rand differs between vulkan and cpu ($dt)"
  done
}

@test "tg-check --all --device vulkan passes" {
  skip_unless_vulkan
  run --separate-stderr tg-check --all --device vulkan
  no_validation_messages "$stderr"
  skip_if_missing_kernels "$output$stderr"
  assert_success
  assert_output --partial PASS
  refute_output --partial FAIL
  assert_output --regexp 'all [0-9]+ checks passed'
}

# Seed 001: y = 3x + 0.8 on 500 points, full-batch gd, lr 0.01, mse, w = 0.5, b = 0.
@test "seed 001: tg-fit --device vulkan gives the cpu's answer to 1e-5" {
  skip_unless_vulkan
  tg-gen line --slope 3 --intercept 0.8 -n 500 --seed 1001 -o d.h5
  for spec in "f64 2000" "f32 500"; do
    read -r dt steps <<< "$spec"
    args=(d.h5 --optimizer gd --lr 0.01 --steps "$steps" --init w=0.5,b=0 --dtype "$dt" --format kv)
    run --separate-stderr tg-fit "${args[@]}" --device vulkan
    no_validation_messages "$stderr"
    skip_if_missing_kernels "$stderr"
    grep -q 'not supported\|not implemented' <<< "$stderr" && skip "tg-fit --device vulkan: $stderr"
    assert_success
    eval "$output"
    vw=$w vb=$b vsteps=$steps
    eval "$(tg-fit "${args[@]}" --device cpu)"
    [ "$vsteps" = "$steps" ]
    awk -v a="$vw" -v b="$w" -v c="$vb" -v d="$b" -v dt="$dt" 'BEGIN {
      e = a - b; if (e < 0) e = -e; f = c - d; if (f < 0) f = -f
      if (e > 1e-5 * (1 + (b < 0 ? -b : b)) || f > 1e-5 * (1 + (d < 0 ? -d : d))) {
        printf "%s: vulkan w=%s b=%s, cpu w=%s b=%s\n", dt, a, c, b, d; exit 1 } }'
  done
}

@test "no Vulkan driver: tg-gen --device vulkan exits 1 with a clear message, --device cpu works" {
  export VK_DRIVER_FILES=$TMP/no-such-icd.json
  run --separate-stderr tg-gen line -n 3 --seed 1 --device vulkan --format csv
  [ "$status" -eq 1 ] || fail "exit status $status, expected 1 (stderr: $stderr)"
  [ -z "$output" ]
  [[ $stderr == *"tg-gen: "*"Vulkan"* ]] || fail "unclear message: $stderr"
  [[ $stderr == *"--device cpu"* ]] || fail "the message does not suggest --device cpu: $stderr"
  run --separate-stderr tg-gen line -n 3 --seed 1 --device cpu --format csv
  assert_success
  [ "${#lines[@]}" -eq 4 ]
  [ "$output" = "$(env -u VK_DRIVER_FILES tg-gen line -n 3 --seed 1 --device cpu --format csv)" ]
  tg-gen line -n 20 --seed 1 --device cpu -o d.h5
  run --separate-stderr tg-fit d.h5 --method exact --device vulkan
  [ "$status" -eq 1 ] || fail "tg-fit without a driver: exit status $status, expected 1 ($stderr)"
  [[ $stderr == *"tg-fit: "*"Vulkan"* ]] || fail "unclear message: $stderr"
}
