#!/usr/bin/env bats
# tg-check: usage, the built-in ops (--all), expressions, shell-defined custom
# ops and the example plugin (examples/ops, built against an installed tg).
# The expected failure messages are PyTorch 1.13's, from
# torch.autograd.gradcheck on the same values (the tests need no torch).

load helpers

MA_FWD='w*x + b'
MA_BWD='grad*x,grad*w,grad'
SIG_FWD='1/(1+exp(-x))'
SIG_BWD='out*(1-out)*grad'

# Installs tg into a temporary prefix once and builds examples/ops against it.
setup_file() {
  export PREFIX_DIR="$BATS_FILE_TMPDIR/prefix" OPS_DIR="$BATS_FILE_TMPDIR/ops"
  mkdir -p "$OPS_DIR"
  make -s -C "$TG_ROOT" install PREFIX="$PREFIX_DIR" >"$BATS_FILE_TMPDIR/install.log" 2>&1 || return 0
  make -s -C "$TG_ROOT/examples/ops" PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig" O="$OPS_DIR" \
    >"$BATS_FILE_TMPDIR/ops.log" 2>&1 || return 0
}

need_plugin() {
  [ -f "$OPS_DIR/ops.so" ] || fail "examples/ops was not built: $(cat "$BATS_FILE_TMPDIR"/*.log)"
}

# ---- help, version, usage ------------------------------------------------------

@test "tg-check --help and --version" {
  run --separate-stderr tg-check --help
  assert_success
  assert_output --partial "Usage: tg-check --all"
  for opt in --forward --backward --inputs --plugin --op --order --eps --atol --rtol --dtype --shape --seed --format --device; do
    assert_output --partial -- "$opt"
  done
  [ -z "$stderr" ]
  run tg-check --version
  assert_success
  assert_output "tg-check (tg) 0.1.0"
}

@test "usage errors exit 2" {
  run tg-check
  assert_failure 2
  assert_line --index 0 "tg-check: nothing to check: give --all, -e EXPR, --forward EXPR or --plugin LIB.so"
  assert_line --index 1 "Try 'tg-check --help' for more information."
  run tg-check --all -e x --wrt x
  assert_failure 2
  assert_output --partial "--all and -e cannot be used together"
  run tg-check -e 'x^2' x=1
  assert_failure 2
  assert_output --partial "missing --wrt NAMES"
  run tg-check --forward 'x' --inputs x
  assert_failure 2
  assert_output --partial "missing --backward"
  run tg-check --forward 'x' --backward grad
  assert_failure 2
  assert_output --partial "missing --inputs"
  run tg-check --forward 'x' --backward grad --inputs out
  assert_failure 2
  assert_output --partial "--inputs: 'out' is taken"
  run tg-check --all --order 3
  assert_failure 2
  assert_output --partial "--order 3 is too large (at most 2)"
  run tg-check --all --eps 0
  assert_failure 2
  run tg-check --all --format csv
  assert_failure 2
  assert_output --partial "invalid value 'csv' for --format: expected text, tap or kv"
  run tg-check --all --op nope
  assert_failure 2
  assert_output --partial "--op nope: no such op in --all (ops: neg, exp, log,"
  run tg-check -e 'x*' --wrt x
  assert_failure 2
  assert_output --partial "syntax error at column 3"
}

# ---- --all ------------------------------------------------------------------------

@test "--all: every built-in op passes gradcheck on the CPU" {
  run --separate-stderr tg-check --all --device cpu
  assert_success
  assert_line --index 0 --regexp '^op +input +order +max abs err +max rel err +worst element +result$'
  assert_line --regexp '^softmax +x +1 .* PASS$'
  assert_line --regexp '^matmul +b +1 .* PASS$'
  assert_line --regexp '^where +a +1 .* PASS$'
  assert_line --regexp '^bmm +b +1 .* PASS$'
  assert_line "all 168 checks passed"
  refute_output --partial FAIL
  [ -z "$stderr" ]
}

@test "--all --order 2: gradcheck and gradgradcheck pass for every op" {
  run --separate-stderr tg-check --all --order 2
  assert_success
  assert_line --regexp '^log_softmax +grad_out +2 .* PASS$'
  assert_line --regexp '^prod +x +2 .* PASS$'
  assert_line "all 460 checks passed"
}

@test "--all covers every differentiable function of the expression language" {
  run tg-check --all --list
  assert_success
  for f in exp log sqrt sin cos tanh sigmoid relu abs sign erf log1p expm1 softplus square atan atan2 asin acos \
           sinh cosh pow sum mean max min prod matmul transpose reshape expand where clamp softmax log_softmax \
           mse_loss l1_loss smooth_l1_loss huber_loss logsumexp cumsum; do
    assert_output --partial "$f("
  done
  for op in ' + ' ' - ' ' * ' ' / ' ' ^ ' ' ** ' ' @ ' '-x' 'x[[' 'x[:, [' 'x[1, 1:3]' 'x[::2, -1]'; do
    assert_output --partial "$op"
  done
}

@test "--all --format tap is TAP; --format kv is name=value" {
  run tg-check --all --op exp,matmul --format tap
  assert_success
  assert_line --index 0 "TAP version 13"
  assert_line --index 1 "1..3"
  assert_line --index 2 --regexp '^ok 1 - exp input x order 1: max abs err [0-9.e+-]+, max rel err [0-9.e+-]+, worst x\[[0-9],[0-9]\] -> out\[[0-9],[0-9]\]$'
  assert_line --index 4 --regexp '^ok 3 - matmul input b order 1'
  run tg-check --all --op exp --format kv
  assert_success
  assert_line --index 0 --regexp "^op=exp expr='exp\(x\)' input=x order=1 max_abs_err=[0-9.e+-]+ max_rel_err=[0-9.e+-]+ worst='x\[.*\] -> out\[.*\]' numerical=[0-9.e+-]+ analytical=[0-9.e+-]+ result=pass$"
  assert_line --index 1 "checks=1 passed=1 failed=0 errors=0"
  eval "$(sed -n 1p <<<"$output" | sed 's/ \([a-z_]*=\)/;\1/g')"
  [ "$result" = pass ] && [ "$op" = exp ]
}

@test "-o writes the report to a file" {
  run tg-check --all --op neg -o report.txt
  assert_success
  assert_output ""
  run cat report.txt
  assert_line "all 1 checks passed"
}

# ---- expressions: kinks as in PyTorch --------------------------------------------------

@test "relu at 0 fails (numerical 0.5, analytical 0), as in PyTorch" {
  run --separate-stderr tg-check -e 'relu(x)' --wrt x x=0
  assert_failure 1
  assert_line --regexp '^relu\(x\) +x +1 +5\.00e-01 +1\.00e\+00 +x\[\] -> out\[\] +FAIL$'
  assert_line "FAIL relu(x), input x (input 0), order 1:"
  assert_line "  worst element x[] -> out[]: numerical 0.5, analytical 0 (abs err 0.5, rel err 1; allowed atol + rtol |numerical| = 0.00051)"
  # torch.autograd.gradcheck(torch.relu, (torch.tensor(0., dtype=torch.double, requires_grad=True),))
  assert_line "  Jacobian mismatch for output 0 with respect to input 0,"
  assert_line "  numerical:tensor([[0.5000]], dtype=torch.float64)"
  assert_line "  analytical:tensor([[0.]], dtype=torch.float64)"
  assert_line "1 of 1 checks failed"
}

@test "abs at 0 passes, as in PyTorch" {
  run tg-check -e 'abs(x)' --wrt x x=0
  assert_success
  assert_line --regexp '^abs\(x\) +x +1 +0\.00e\+00 +0\.00e\+00 +x\[\] -> out\[\] +PASS$'
}

@test "-e with bindings, constants and random inputs; --eps/--atol/--rtol" {
  run tg-check -e 'a*x^2 + sin(w)' --wrt x,w a=3 --shape 2,2 --seed 7
  assert_success
  assert_line --regexp '^a\*x\^2 \+ sin\(w\) +x +1 .* x\[[01],[01]\] -> out\[[01],[01]\] +PASS$'
  assert_line --regexp '^a\*x\^2 \+ sin\(w\) +w +1 .* PASS$'
  # A tolerance too tight for central differences fails.
  run tg-check -e 'exp(x)' --wrt x x='[1,2,3]' --atol 0 --rtol 1e-14
  assert_failure 1
  run tg-check -e 'x^3' --wrt x x=2 --order 2
  assert_success
  assert_line --regexp '^x\^3 +x +2 .* PASS$'
  assert_line --regexp '^x\^3 +grad_out +2 .* PASS$'
}

@test "--dtype f32 warns as PyTorch does; looser tolerances pass" {
  run --separate-stderr tg-check --forward "$SIG_FWD" --backward "$SIG_BWD" --inputs x --name Sigmoid --dtype f32 \
    --eps 1e-3 --atol 1e-2 --rtol 1e-2
  assert_success
  # PyTorch's warning text, worded as every message of the command is
  [[ "$stderr" == *"tg-check: warning: Input #0 requires gradient and is not a double precision floating point. This check will likely fail if all the inputs are not of double precision floating point."* ]]
  [[ "$stderr" != *"UserWarning"* ]]
  [ "$(grep -c 'warning: Input #0 requires gradient' <<< "$stderr")" = 1 ]
  [[ "$stderr" == *"tg-check: note: checking in float32"*"--eps 1e-3 --atol 1e-2 --rtol 1e-2"* ]]
  run --separate-stderr tg-check --forward "$SIG_FWD" --backward "$SIG_BWD" --inputs x --name Sigmoid --dtype f32
  assert_failure 1
}

# ---- custom ops written in the shell --------------------------------------------------------

@test "MultiplyAdd as a shell-defined op passes gradcheck and gradgradcheck" {
  run --separate-stderr tg-check --forward "$MA_FWD" --backward "$MA_BWD" --inputs w,x,b --name MultiplyAdd --order 2
  assert_success
  for i in w x b; do
    assert_line --regexp "^MultiplyAdd +$i +1 .* PASS$"
    assert_line --regexp "^MultiplyAdd +$i +2 .* PASS$"
  done
  assert_line --regexp "^MultiplyAdd +grad_out +2 .* PASS$"
  assert_line "all 7 checks passed"
}

@test "Sigmoid as a shell-defined op passes (seed 000: randn(3,4), eps 1e-3)" {
  run tg-check --forward "$SIG_FWD" --backward "$SIG_BWD" --inputs x --name Sigmoid --shape 3,4 --eps 1e-3 --order 2
  assert_success
  assert_line --regexp '^Sigmoid +x +1 .* x\[[0-2],[0-3]\] -> out\[[0-2],[0-3]\] +PASS$'
  assert_line "all 3 checks passed"
}

@test "MultiplyAdd with grad*w and grad*x swapped fails with exit 1 and names w and x" {
  run --separate-stderr tg-check --forward "$MA_FWD" --backward 'grad*w,grad*x,grad' --inputs w,x,b --name MultiplyAdd \
    w='[1,2,3]' x='[4,5,6]' b='[7,8,9]'
  assert_failure 1
  assert_line --regexp '^MultiplyAdd +w +1 +3\.00e\+00 +7\.50e-01 +w\[0\] -> out\[0\] +FAIL$'
  assert_line --regexp '^MultiplyAdd +x +1 +3\.00e\+00 +3\.00e\+00 +x\[0\] -> out\[0\] +FAIL$'
  assert_line --regexp '^MultiplyAdd +b +1 .* PASS$'
  assert_line "FAIL MultiplyAdd, input w (input 0), order 1:"
  assert_line "FAIL MultiplyAdd, input x (input 1), order 1:"
  assert_line --partial "worst element w[0] -> out[0]: numerical 4.0000000005591119, analytical 1 (abs err 3, rel err 0.75"
  # PyTorch 1.13, the same Function and values:
  # 'Jacobian mismatch for output 0 with respect to input 0,\nnumerical:tensor([[4.0000, 0.0000, 0.0000],\n
  #  [0.0000, 5.0000, 0.0000],\n [0.0000, 0.0000, 6.0000]], dtype=torch.float64)\nanalytical:tensor([[1., 0., 0.],\n ...'
  assert_line "  Jacobian mismatch for output 0 with respect to input 0,"
  assert_line "  numerical:tensor([[4.0000, 0.0000, 0.0000],"
  assert_line "          [0.0000, 5.0000, 0.0000],"
  assert_line "          [0.0000, 0.0000, 6.0000]], dtype=torch.float64)"
  assert_line "  analytical:tensor([[1., 0., 0.],"
  assert_line "          [0., 2., 0.],"
  assert_line "          [0., 0., 3.]], dtype=torch.float64)"
  assert_line "  Jacobian mismatch for output 0 with respect to input 1,"
  assert_line "2 of 3 checks failed"
}

@test "Sigmoid with a wrong backward (out*grad) fails with PyTorch's Jacobians" {
  run --separate-stderr tg-check --forward "$SIG_FWD" --backward 'out*grad' --inputs x --name Sigmoid x='[-1,0,2]'
  assert_failure 1
  assert_line "FAIL Sigmoid, input x (input 0), order 1:"
  assert_line "  numerical:tensor([[0.1966, 0.0000, 0.0000],"
  assert_line "          [0.0000, 0.2500, 0.0000],"
  assert_line "          [0.0000, 0.0000, 0.1050]], dtype=torch.float64)"
  assert_line "  analytical:tensor([[0.2689, 0.0000, 0.0000],"
  assert_line "          [0.0000, 0.5000, 0.0000],"
  assert_line "          [0.0000, 0.0000, 0.8808]], dtype=torch.float64)"
}

@test "a backward count that does not match the inputs is PyTorch's error (exit 2)" {
  run --separate-stderr tg-check --forward "$MA_FWD" --backward 'grad*x,grad*w' --inputs w,x,b --name MultiplyAdd
  assert_failure 2
  [ "$stderr" = "tg-check: MultiplyAdd: function MultiplyAddBackward returned an incorrect number of gradients (expected 3, got 2)" ]
  assert_line --regexp '^MultiplyAdd +- +1 +- +- +- +ERROR$'
  run --separate-stderr tg-check --forward 'x' --backward 'grad,grad' --inputs x
  assert_failure 2
  [ "$stderr" = "tg-check: Custom: function CustomBackward returned an incorrect number of gradients (expected 1, got 2)" ]
  # extra 'none' gradients are allowed, as in PyTorch
  run tg-check --forward '2*x' --backward '2*grad,none' --inputs x
  assert_success
}

@test "'none' for an input without gradient; commas inside calls; constants" {
  run tg-check --forward 'clamp(x, -5, 5) * s' --backward 'where(abs(x) < k, grad*s, 0*grad),none' \
    --inputs x,s k=5 x='[1,-2,3]' s=2
  assert_success
  assert_line --regexp '^Custom +x +1 .* PASS$'
}

@test "a shell-defined op is a node <Name>Backward (--graph, as tg-graph draws)" {
  run --separate-stderr tg-check --forward "$SIG_FWD" --backward "$SIG_BWD" --inputs x --name Sigmoid --graph
  assert_success
  assert_line --index 0 "digraph {"
  assert_line --partial "[label=SigmoidBackward]"
  assert_line --partial "[label=AccumulateGrad]"
  run --separate-stderr tg-check --forward "$MA_FWD" --backward "$MA_BWD" --inputs w,x,b --graph
  assert_success
  assert_line --partial "[label=CustomBackward]"
}

@test "errors in the shell-defined op name the expression" {
  run --separate-stderr tg-check --forward 'x*' --backward grad --inputs x
  assert_failure 2
  [[ "$stderr" == *"--forward: syntax error at column 3"* ]]
  run --separate-stderr tg-check --forward 'x*2' --backward 'grad*q' --inputs x
  assert_failure 2
  [[ "$stderr" == *"--backward expression 1 ('grad*q'): unknown name 'q'"* ]]
}

# ---- plugins --------------------------------------------------------------------------------

@test "examples/ops builds against the installed tg and lists its ops" {
  need_plugin
  run tg-check --plugin "$OPS_DIR/ops.so" --list
  assert_success
  assert_line "MultiplyAdd(w: [3, 4], x: [3, 4], b: [3, 4])  w * x + b"
  assert_line "Sigmoid(x: [3, 4])  1 / (1 + exp(-x))"
}

@test "MultiplyAdd and Sigmoid pass as the example plugin, first and second order" {
  need_plugin
  run --separate-stderr tg-check --plugin "$OPS_DIR/ops.so" --order 2
  assert_success
  for i in w x b; do assert_line --regexp "^MultiplyAdd +$i +1 .* PASS$"; assert_line --regexp "^MultiplyAdd +$i +2 .* PASS$"; done
  assert_line --regexp '^Sigmoid +x +1 .* x\[[0-2],[0-3]\] -> out\[[0-2],[0-3]\] +PASS$'
  assert_line --regexp '^Sigmoid +x +2 .* PASS$'
  assert_line "all 10 checks passed"
  run tg-check --plugin "$OPS_DIR/ops.so" --op Sigmoid --shape 5
  assert_success
  assert_line --regexp '^Sigmoid +x +1 .* x\[[0-4]\] -> out\[[0-4]\] +PASS$'
  run --separate-stderr tg-check --plugin "$OPS_DIR/ops.so" --graph --op MultiplyAdd
  assert_success
  assert_line --partial "[label=MultiplyAddBackward]"
}

@test "a copy of the plugin with grad*w and grad*x swapped fails with exit 1 naming the inputs" {
  need_plugin
  cp -r "$TG_ROOT/examples/ops" myops
  sed -i 's/gi\[0\] = tg_mul(grad, x)/gi[0] = tg_mul(grad, w)/; s/gi\[1\] = tg_mul(grad, w)/gi[1] = tg_mul(grad, x)/' myops/ops.c
  sed -i 's/gi\[0\] = d ? tg_mul(d, grad)/gi[0] = d ? tg_mul(out, grad)/' myops/ops.c
  run make -s -C myops PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig"
  assert_success
  run --separate-stderr tg-check --plugin myops/ops.so stray w=1
  assert_failure 2
  run --separate-stderr tg-check --plugin myops/ops.so --op MultiplyAdd w='[1,2,3]' x='[4,5,6]' b='[7,8,9]'
  assert_failure 1
  assert_line "FAIL MultiplyAdd, input w (input 0), order 1:"
  assert_line "FAIL MultiplyAdd, input x (input 1), order 1:"
  assert_line "  numerical:tensor([[4.0000, 0.0000, 0.0000],"
  assert_line "  analytical:tensor([[1., 0., 0.],"
  run --separate-stderr tg-check --plugin myops/ops.so --op Sigmoid x='[-1,0,2]'
  assert_failure 1
  assert_line "FAIL Sigmoid, input x (input 0), order 1:"
  assert_line "  analytical:tensor([[0.2689, 0.0000, 0.0000],"
}

@test "a plugin that is missing, not a shared object, or lacks the entry point: exit 2" {
  run tg-check --plugin missing.so
  assert_failure 2
  assert_output "tg-check: --plugin missing.so: No such file or directory"
  echo 'not a library' > notalib.so
  run tg-check --plugin notalib.so
  assert_failure 2
  assert_output --partial "tg-check: --plugin notalib.so: cannot load it as a shared object:"
  printf 'int f(void) { return 1; }\n' > f.c
  cc -shared -fPIC -o noentry.so f.c
  run tg-check --plugin ./noentry.so
  assert_failure 2
  assert_output "tg-check: --plugin ./noentry.so: no entry point: the library does not define tg_plugin_entry() (see <tg/plugin.h>)"
}

@test "a plugin of another API version is refused; --op and bindings are checked" {
  need_plugin
  printf '#include <tg/plugin.h>\nstatic const tg_plugin p = {99, "future", 0, 0};\nconst tg_plugin *tg_plugin_entry(void) { return &p; }\n' > v.c
  cc -shared -fPIC -I"$TG_ROOT/include" -o v.so v.c
  run tg-check --plugin ./v.so
  assert_failure 2
  assert_output --partial "plugin API version 99, but this tg-check speaks version 1"
  run tg-check --plugin "$OPS_DIR/ops.so" --op Tanh
  assert_failure 2
  assert_output --partial "--op Tanh: no such op in $OPS_DIR/ops.so (ops: MultiplyAdd, Sigmoid)"
  run tg-check --plugin "$OPS_DIR/ops.so" --op Sigmoid w=1
  assert_failure 2
  assert_output --partial "w=1: no selected op of $OPS_DIR/ops.so has an input named 'w'"
}
