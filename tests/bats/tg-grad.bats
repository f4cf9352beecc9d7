#!/usr/bin/env bats
# tg-grad: usage, errors, the seeds' examples, and every function's gradient
# against PyTorch (tests/fixtures/tg-grad/cases.json, made by
# tests/fixtures/make_tg_grad_fixtures.py; the tests need no torch).

load helpers

FIX="$TG_ROOT/tests/fixtures/tg-grad"

# h5val FILE DATASET: the dataset's values, flattened, one per line (%.17g).
h5val() {
  py 'f = h5py.File(sys.argv[1], "r")
for v in np.asarray(f[sys.argv[2]][()], dtype=np.float64).reshape(-1): print("%.17g" % v)' "$@"
}

# ---- help, version ----------------------------------------------------------

@test "tg-grad --help prints usage on stdout and exits 0" {
  run --separate-stderr tg-grad --help
  assert_success
  assert_output --partial "Usage: tg-grad -e EXPR --wrt NAME"
  assert_output --partial "--grad-output"
  assert_output --partial "--order"
  assert_output --partial "--hessian"
  assert_output --partial "--allow-unused"
  assert_output --partial "--seed"
  [ -z "$stderr" ]
}

@test "tg-grad --version" {
  run tg-grad --version
  assert_success
  assert_output "tg-grad (tg) 0.1.0"
}

# ---- usage errors: exit 2, a message naming the culprit, no output ----------

@test "missing -e: exit 2 and a hint" {
  run tg-grad --wrt x x=5 -o out.h5
  assert_failure 2
  assert_line --index 0 "tg-grad: missing -e EXPR: the expression to differentiate"
  assert_line --index 1 "Try 'tg-grad --help' for more information."
  assert_no_file out.h5
}

@test "missing --wrt: exit 2" {
  run tg-grad -e 'x^2' x=5 -o out.h5
  assert_failure 2
  assert_output --partial "tg-grad: missing --wrt NAMES"
  assert_output --partial "Try 'tg-grad --help'"
  assert_no_file out.h5
}

@test "bad --order values are refused" {
  run tg-grad -e 'x^2' --wrt x --order 0 x=5 -o out.h5
  assert_failure 2
  assert_output --partial "tg-grad: --order must be a positive integer, got '0'"
  run tg-grad -e 'x^2' --wrt x --order two x=5 -o out.h5
  assert_failure 2
  assert_output --partial "invalid value 'two' for --order: not a number"
  run tg-grad -e 'x^2' --wrt x --order 1.5 x=5 -o out.h5
  assert_failure 2
  assert_output --partial "invalid value '1.5' for --order: not an integer"
  run tg-grad -e 'x^2' --wrt x --order 101 x=5 -o out.h5
  assert_failure 2
  assert_output --partial "--order 101 is too large (at most 100)"
  assert_no_file out.h5
}

@test "unknown option, missing argument" {
  run tg-grad -e 'x^2' --wrt x --bogus x=5 -o out.h5
  assert_failure 2
  assert_line --index 0 "tg-grad: unrecognized option '--bogus'"
  assert_line --index 1 "Try 'tg-grad --help' for more information."
  run tg-grad -e 'x^2' x=5 --wrt
  assert_failure 2
  assert_output --partial "tg-grad: option '--wrt' requires an argument"
  run tg-grad -e
  assert_failure 2
  assert_output --partial "option requires an argument -- 'e'"
  assert_no_file out.h5
}

@test "--hessian with --order 2, -e twice, odd --wrt lists, a word that is no binding" {
  run tg-grad -e 'x^2' --wrt x --hessian --order 2 x=5 -o out.h5
  assert_failure 2
  assert_output --partial "tg-grad: --hessian and --order 2 cannot be used together"
  run tg-grad -e 'x^2' -e 'x^3' --wrt x x=5 -o out.h5
  assert_failure 2
  assert_output --partial "tg-grad: -e given twice"
  run tg-grad -e 'x^2' --wrt x,,w x=5 -o out.h5
  assert_failure 2
  assert_output --partial "invalid value 'x,,w' for --wrt: empty name"
  run tg-grad -e 'x^2' --wrt 'x,2y' x=5 -o out.h5
  assert_failure 2
  assert_output --partial "invalid value 'x,2y' for --wrt: '2y' is not a name"
  run tg-grad -e 'x^2' --wrt x --wrt x x=5 -o out.h5
  assert_failure 2
  assert_output --partial "tg-grad: --wrt names 'x' twice"
  run tg-grad -e 'x^2' --wrt x x=5 five -o out.h5
  assert_failure 2
  assert_output --partial "tg-grad: unexpected argument 'five': bindings are NAME=VALUE"
  run tg-grad -e 'x^2' --wrt x x= -o out.h5
  assert_failure 2
  assert_output --partial "tg-grad: x=: missing value after '='"
  assert_no_file out.h5
}

@test "a --wrt name that is not bound lists the bound ones (exit 2)" {
  run tg-grad -e 'x^2 * w' --wrt x,z x=5 w=2 -o out.h5
  assert_failure 2
  assert_output --partial "tg-grad: --wrt: 'z' is not bound (bound: x, w); bind it as z=VALUE"
  assert_output --partial "Try 'tg-grad --help'"
  assert_no_file out.h5
}

@test "a syntax error in -e: exit 2, the column and a caret" {
  run tg-grad -e 'x^2 +* 3' --wrt x x=5 -o out.h5
  assert_failure 2
  assert_line --index 0 --partial "tg-grad: -e: syntax error at column 6"
  assert_output --partial "x^2 +* 3"
  assert_output --regexp $'\n *\\^'
  assert_output --partial "Try 'tg-grad --help'"
  assert_no_file out.h5
}

@test "a syntax error in a binding: exit 2, naming the binding" {
  run tg-grad -e 'x^2' --wrt x 'x=[1,2' -o out.h5
  assert_failure 2
  assert_output --partial "x=[1,2"
  assert_output --partial "syntax error"
  assert_no_file out.h5
}

# ---- runtime errors: exit 1, PyTorch's words, no output ---------------------

@test "an unknown name in -e is a runtime error naming it (exit 1)" {
  run tg-grad -e 'x^2 + y' --wrt x x=5 -o out.h5
  assert_failure 1
  assert_line --index 0 --partial "tg-grad: -e: "
  assert_output --partial "'y'"
  refute_output --partial "Try 'tg-grad --help'"
  assert_no_file out.h5
}

@test "a shape error in -e is a runtime error (exit 1)" {
  run tg-grad -e 'sum(x + y)' --wrt x 'x=[1,2,3]' 'y=[1,2]' -o out.h5
  assert_failure 1
  assert_output --partial "tg-grad: -e: "
  assert_output --partial "must match"
  assert_no_file out.h5
}

@test "an element count beyond int64 is an error, not a silent 0 (expand to 3037000500^2)" {
  run tg-grad -e 'sum(expand(x,3037000500,3037000500))' --wrt x x=1 -o out.h5
  assert_failure 1
  assert_output "tg-grad: -e: in expand at column 5: a tensor of shape [3037000500, 3037000500] would have more than 9223372036854775807 elements"
  assert_no_file out.h5
  run tg-grad -e 'sum(expand(x,3037000500,1) * expand(x,1,3037000500))' --wrt x x=1 -o out.h5
  assert_failure 1
  assert_output --partial "broadcast: a tensor of shape [3037000500, 3037000500] would have more than"
}

@test "a non-scalar output needs --grad-output: PyTorch's message and a hint" {
  run tg-grad -e 'x^2' --wrt x 'x=[1,2,3]' -o out.h5
  assert_failure 1
  assert_output "tg-grad: grad can be implicitly created only for scalar outputs (use --grad-output ones, or reduce the output, e.g. sum(...))"
  assert_no_file out.h5
}

@test "a --grad-output of the wrong shape: PyTorch's mismatch message" {
  run tg-grad -e 'x^2' --wrt x 'x=[1,2,3]' --grad-output '[1,1]' -o out.h5
  assert_failure 1
  assert_output "tg-grad: --grad-output: Mismatch in shape: grad_output[0] has a shape of torch.Size([2]) and output[0] has a shape of torch.Size([3])."
  assert_no_file out.h5
}

@test "a --wrt name the output does not use: PyTorch's message naming it; --allow-unused gives zeros" {
  run tg-grad -e 'sum(x^2)' --wrt x,w 'x=[1,2]' 'w=[3,4,5]' -o out.h5
  assert_failure 1
  assert_output --partial "tg-grad: --wrt w: One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior."
  assert_output --partial "--allow-unused"
  assert_no_file out.h5
  run tg-grad -e 'sum(x^2)' --wrt x,w --allow-unused 'x=[1,2]' 'w=[3,4]' --format csv
  assert_success
  assert_output "$(printf 'grad/x,grad/w\n2,0\n4,0')"
}

@test "an output that depends on no --wrt name: PyTorch's message; zeros with --allow-unused" {
  run tg-grad -e 'sum(w^2)' --wrt x x=1 'w=[1,2]' -o out.h5
  assert_failure 1
  assert_output --partial "element 0 of tensors does not require grad and does not have a grad_fn"
  assert_output --partial "--allow-unused"
  assert_no_file out.h5
  run tg-grad -e 'sum(w^2)' --wrt x --allow-unused 'x=[1,2]' w=3 --format csv
  assert_success
  assert_output "$(printf 'grad/x\n0\n0')"
}

@test "an integer binding cannot require grad: PyTorch's message naming it" {
  skip_unless_h5py
  py 'h5py.File("i.h5", "w").create_dataset("x", data=np.arange(-2, 4))'
  run tg-grad -e 'sum(x)' --wrt x x=i.h5 -o out.h5
  assert_failure 1
  assert_output "tg-grad: --wrt x: Only Tensors of floating point dtype can require gradients (x holds int64)"
  assert_no_file out.h5
  run tg-grad -e 'sum(x > 1)' --wrt x 'x=[1,2,3] > 1' -o out.h5
  assert_failure 1
  assert_output --partial "Only Tensors of floating point dtype can require gradients (x holds bool)"
}

@test "a missing file or dataset in a binding is a runtime error naming it (exit 1)" {
  run tg-grad -e 'sum(x)' --wrt x x=nothere.h5:x -o out.h5
  assert_failure 1
  assert_line --index 0 --partial "tg-grad: x=nothere.h5:x: no file 'nothere.h5'"
  refute_output --partial "Try 'tg-grad --help'"
  printf 'a,b\n1,2\n' > d.csv
  run tg-grad -e 'sum(x)' --wrt x x=d.csv:q -o out.h5
  assert_failure 1
  assert_output --partial "no column 'q'"
  assert_no_file out.h5
}

@test "-o into a missing directory fails before the work" {
  run tg-grad -e 'x^2' --wrt x x=5 -o nodir/out.h5
  assert_failure 1
  assert_output --partial "tg-grad: cannot write 'nodir/out.h5'"
}

# ---- the seeds' examples ------------------------------------------------------

@test "seed 000: y = x^2 at 5: dy/dx = 10 (autograd.grad)" {
  run tg-grad -e 'x^2' --wrt x x=5 --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n25,10')"
}

@test "seed 000: the second derivative of x^2 at 5 is 2 (--order 2)" {
  run tg-grad -e 'x^2' --wrt x --order 2 x=5 --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n25,2')"
  run tg-grad -e 'x^2' --wrt x --order 2 --retain x=5 --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n25,2')"
  run tg-grad -e 'x^2' --wrt x --order 3 x=5 --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n25,0')"
}

@test "seed 000: prod of the positive elements of arange(-2,4): grad [0,0,0,6,3,2]" {
  run tg-grad -e 'prod(where(x > 0, x, 1))' --wrt x 'x=arange(-2,4)' --format csv
  assert_success
  assert_output "$(printf 'grad/x\n0\n0\n0\n6\n3\n2')"
}

@test "seed 000: z = sum(x^2 + 2x) at [0,1,2]: [2,4,6]; y.backward(ones) gives the same" {
  run tg-grad -e 'sum(x^2 + 2*x)' --wrt x 'x=arange(0,3)' --format csv
  assert_success
  assert_output "$(printf 'grad/x\n2\n4\n6')"
  run tg-grad -e 'x^2 + x*2' --wrt x 'x=[0,1,2]' --grad-output ones --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n0,2\n3,4\n8,6')"
  run tg-grad -e 'x^2 + x*2' --wrt x 'x=[0,1,2]' --grad-output '[1,1,1]' --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n0,2\n3,4\n8,6')"
}

@test "seed 000: the gradient of an intermediate (autograd.grad(z, y)) is ones" {
  run tg-grad -e 'y = x * w; z = sum(y); z' --wrt y 'x=ones(3)' 'w=rand(3)' --format csv
  assert_success
  assert_output "$(printf 'grad/y\n1\n1\n1')"
}

@test "seed 000: z = w*x + b: dz/dw = x, dz/db = 1; x needs no grad" {
  run tg-grad -e 'w * x + b' --wrt w,b x=3 w=0.5 b=0.25 --format csv
  assert_success
  assert_output "$(printf 'out,grad/w,grad/b\n1.75,3,1')"
}

@test "seed 000: x^2 exp(x) on randn(3,4), backward(ones): (2x + x^2) exp(x), as PyTorch" {
  skip_unless_h5py
  run tg-grad -e 'x^2 * exp(x)' --wrt x --grad-output ones x="$FIX/seed000_x.h5" -o out.h5
  assert_success
  run py 'import json
c = json.load(open(sys.argv[1]))["seed000"]
f = h5py.File("out.h5", "r")
g = f["grad/x"][()]
assert g.dtype == np.float32 and g.shape == (3, 4), (g.dtype, g.shape)
want = np.array(c["grad"]["values"]).reshape(3, 4)
closed = np.array(c["closed_form"]["values"]).reshape(3, 4)
assert np.allclose(g, want, rtol=1e-5, atol=1e-6), (g, want)
assert np.allclose(g, closed, rtol=1e-5, atol=1e-6), (g, closed)
print("ok")' "$FIX/cases.json"
  assert_success
  assert_output "ok"
}

@test "seed 002: the orthogonal loss has a zero gradient at the total-least-squares optimum" {
  skip_unless_h5py
  read -r a b aoff boff < <(py 'import json
t = json.load(open(sys.argv[1]))["tls"]
print(repr(t["a"]), repr(t["b"]), repr(t["a_off"]), repr(t["b_off"]))' "$FIX/cases.json")
  L='mean((w*x - y + b)^2 / (w^2 + 1)) / 2'
  tg-grad -e "$L" --wrt w,b --dtype f64 x="$FIX/tls.csv:x" y="$FIX/tls.csv:y" w="$a" b="$b" -o opt.h5
  tg-grad -e "$L" --wrt w,b --dtype f64 x="$FIX/tls.csv:x" y="$FIX/tls.csv:y" w="$aoff" b="$boff" -o off.h5
  run py 'import json
t = json.load(open(sys.argv[1]))["tls"]
f, g = h5py.File("opt.h5", "r"), h5py.File("off.h5", "r")
gw, gb = float(f["grad/w"][()]), float(f["grad/b"][()])
scale = t["scale"]
assert abs(gw) < 1e-6 * scale and abs(gb) < 1e-6 * scale, (gw, gb, scale)
assert abs(float(f["out"][()]) - t["loss"]) < 1e-12, (float(f["out"][()]), t["loss"])
# away from the optimum: the gradient PyTorch gives
assert np.allclose([float(g["grad/w"][()]), float(g["grad/b"][()])], t["grad_off"], rtol=1e-10), t["grad_off"]
print("ok")' "$FIX/cases.json"
  assert_success
  assert_output "ok"
}

# ---- every function of the language against PyTorch --------------------------

# run_cases SECTION: runs tg-grad for each case of cases.json[SECTION] and
# compares /out, /grad/NAME (and /hessian/...) with PyTorch's values.
run_cases() {
  py 'import json, subprocess
section = sys.argv[2]
cases = json.load(open(sys.argv[1]))[section]
bad = []
for i, c in enumerate(cases):
    cmd = ["tg-grad", "-e", c["expr"], "--wrt", ",".join(c["wrt"]), "--dtype", c.get("dtype", "f64"), "-o", "case.h5"]
    if "grad_output" in c: cmd += ["--grad-output", c["grad_output"]]
    if "order" in c: cmd += ["--order", str(c["order"])]
    if "hessian" in c: cmd += ["--hessian"]
    cmd += c["bind"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        bad.append("%s: exit %d: %s" % (c["expr"], r.returncode, r.stderr.strip())); continue
    f = h5py.File("case.h5", "r")
    want = {"out": c["out"]}
    want.update({"grad/" + k: v for k, v in c["grads"].items()})
    want.update(c.get("hessian", {}))
    f32 = c.get("dtype", "f64") == "f32"
    for name, w in want.items():
        if name not in f:
            bad.append("%s: no /%s" % (c["expr"], name)); continue
        got = f[name][()]
        exp = np.array(w["values"], dtype=np.float64).reshape(w["shape"])
        if got.shape != exp.shape:
            bad.append("%s: /%s has shape %s, PyTorch %s" % (c["expr"], name, got.shape, exp.shape)); continue
        if got.dtype != (np.float32 if f32 else np.float64):
            bad.append("%s: /%s is %s" % (c["expr"], name, got.dtype)); continue
        rtol, atol = (1e-5, 1e-6) if f32 else (1e-9, 1e-12)
        if not np.allclose(got, exp, rtol=rtol, atol=atol):
            bad.append("%s: /%s = %s, PyTorch %s" % (c["expr"], name, got.reshape(-1).tolist(), exp.reshape(-1).tolist()))
    f.close()
for b in bad: print(b)
print("%d of %d cases match" % (len(cases) - len(bad), len(cases)))
sys.exit(1 if bad else 0)' "$FIX/cases.json" "$1"
}

@test "every function of the language: gradients as PyTorch's (float64)" {
  skip_unless_h5py
  run run_cases functions
  assert_success
  assert_output --regexp "^([0-9]+) of \\1 cases match$"
}

@test "--order K, per name, as PyTorch's repeated autograd.grad of the summed gradient" {
  skip_unless_h5py
  run run_cases orders
  assert_success
  assert_output --regexp "^([0-9]+) of \\1 cases match$"
}

@test "--hessian as torch.autograd.functional.hessian (one name; two names in blocks)" {
  skip_unless_h5py
  run run_cases hessians
  assert_success
  assert_output --regexp "^([0-9]+) of \\1 cases match$"
}

@test "--hessian of sum(x^3) at [1,2] in csv: the matrix diag(6x)" {
  run tg-grad -e 'sum(x^3)' --wrt x --hessian 'x=[1,2]' --format csv
  assert_success
  assert_output "$(printf '6,0\n0,12')"
}

# ---- output: HDF5, -o, text forms ------------------------------------------------

@test "HDF5 through a pipe: /out and /grad/x, with the command line as an attribute" {
  skip_unless_h5py
  cat > check.py <<'PY'
import sys, io, h5py, numpy as np
f = h5py.File(io.BytesIO(sys.stdin.buffer.read()), "r")
assert sorted(f.keys()) == ["grad", "out"], list(f.keys())
assert sorted(f["grad"].keys()) == ["w", "x"], list(f["grad"].keys())
assert f["out"].shape == () and f["out"].dtype == np.float32 and f["out"][()] == 28
assert np.array_equal(f["grad/x"][()], [4, 8, 12]) and f["grad/x"].dtype == np.float32
assert f["grad/w"][()] == 14
a = dict(f.attrs)
def s(v): return v.decode() if isinstance(v, bytes) else str(v)
assert s(a["command"]) == "tg-grad -e 'sum(x^2 * w)' --wrt x,w 'x=[1,2,3]' w=2 --seed 4", a["command"]
assert s(a["expression"]) == "sum(x^2 * w)" and s(a["wrt"]) == "x,w" and a["order"] == 1 and a["seed"] == 4
assert s(a["dtype"]) == "float32" and s(a["tg_version"]) == "0.1.0"
print("ok")
PY
  run bash -c "tg-grad -e 'sum(x^2 * w)' --wrt x,w 'x=[1,2,3]' w=2 --seed 4 | /usr/bin/python3 check.py"
  assert_success
  assert_output "ok"
}

@test "-o FILE.h5 writes HDF5, --dtype f64 gives float64, and the file holds the Hessian" {
  skip_unless_h5py
  run tg-grad -e 'sum(x^3)' --wrt x --hessian --dtype f64 'x=[1,2]' -o r.h5
  assert_success
  assert_output ""
  run py 'f = h5py.File("r.h5", "r")
assert f["grad/x"].dtype == np.float64
assert np.array_equal(f["grad/x"][()], [3, 12])
assert np.array_equal(f["hessian/x"][()], [[6, 0], [0, 12]])
print("ok")'
  assert_output "ok"
}

@test "-o FILE.csv and -o FILE.txt pick the text forms by extension" {
  run tg-grad -e 'sum(x^2)' --wrt x 'x=[1,2]' -o r.csv
  assert_success
  run cat r.csv
  assert_output "$(printf 'grad/x\n2\n4')"
  run tg-grad -e 'x^2' --wrt x --grad-output ones 'x=[1,2]' --format tsv
  assert_success
  assert_output "$(printf 'out\tgrad/x\n1\t2\n4\t4')"
}

@test "a 2-D gradient in csv is written as rows" {
  run tg-grad -e 'sum(w * [[1,2],[3,4]])' --wrt w 'w=ones(2,2)' --format csv
  assert_success
  assert_output "$(printf '1,2\n3,4')"
}

@test "a terminal gets PyTorch's printing" {
  run on_tty "tg-grad -e 'x^2' --wrt x x=5"
  assert_success
  assert_line --index 0 --partial "out = tensor(25., grad_fn=<PowBackward0>)"
  assert_line --index 1 --partial "grad/x = tensor(10.)"
}

@test "--format torch: PyTorch's printing anywhere, continuation lines aligned" {
  run tg-grad -e 'sum(w * x)' --wrt w 'w=ones(2,2)' 'x=[[1,2],[3,4]]' --format torch
  assert_success
  assert_line --index 0 "out = tensor(10., grad_fn=<SumBackward0>)"
  assert_line --index 1 "grad/w = tensor([[1., 2.],"
  assert_line --index 2 "                 [3., 4.]])"
  run tg-grad -e 'x^2' --wrt x x=5 --order 2 --format torch --dtype f64
  assert_success
  assert_line --index 0 "out = tensor(25., dtype=torch.float64, grad_fn=<PowBackward0>)"
  assert_line --index 1 "grad/x = tensor(2., dtype=torch.float64)"
}

@test "--format torch -o FILE writes the same text to the file" {
  run tg-grad -e 'x^2' --wrt x x=5 --format torch -o r.txt
  assert_success
  assert_output ""
  run cat r.txt
  assert_line --index 0 "out = tensor(25., grad_fn=<PowBackward0>)"
  assert_line --index 1 "grad/x = tensor(10.)"
}

@test "HDF5 is refused on a terminal" {
  run on_tty "tg-grad -e 'x^2' --wrt x x=5 --format h5"
  assert_failure 2
  assert_output --partial "refusing to write binary HDF5 to a terminal"
}

# ---- inputs: files, pipes, seeds --------------------------------------------------

@test "bindings from a pipe: tg-gen line | tg-grad ... x=-:x y=-:y" {
  skip_unless_h5py
  tg-gen line --slope 2 --intercept 1 -n 5 --x-linspace 0,4 -o d.h5
  run bash -c "tg-gen line --slope 2 --intercept 1 -n 5 --x-linspace 0,4 | tg-grad -e 'mean((w*x + b - y)^2)' --wrt w,b x=-:x y=-:y w=2 b=1 --format csv"
  assert_success
  assert_output "$(printf 'out,grad/w,grad/b\n0,0,0')"
  run bash -c "tg-gen line -n 5 | tg-grad -e 'sum(x)' --wrt x x=- y=- --format csv"
  assert_failure 1
  assert_output "tg-grad: x=-: standard input holds 2 datasets (x, y): name one, as in -:x"
}

@test "a wide text table reads in linear time (3 rows x 200000 columns, by column name)" {
  # Pairwise header checks and linear name lookups took minutes here; linear
  # time is well under a second, the bound is generous for a loaded machine.
  awk 'BEGIN { n = 200000; for (r = -1; r < 3; r++) { for (i = 0; i < n; i++)
    printf "%s%s", (i ? "," : ""), (r < 0 ? "c" i : r + i); print "" } }' > wide.csv
  run timeout 20 tg-grad -e 'sum(x * x)' --wrt x x=wide.csv:c199999 --format csv
  assert_success
  assert_output "$(printf 'grad/x\n399998\n400000\n400002')"
}

@test "--grad-output from a file" {
  printf 'g\n1\n10\n100\n' > g.csv
  run tg-grad -e 'x^2' --wrt x 'x=[1,2,3]' --grad-output g.csv:g --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n1,2\n4,40\n9,600')"
}

@test "--seed makes randn in expressions reproducible" {
  run tg-grad -e 'sum(x * randn(3))' --wrt x 'x=ones(3)' --seed 7 --format csv
  assert_success
  first=$output
  run tg-grad -e 'sum(x * randn(3))' --wrt x 'x=ones(3)' --seed 7 --format csv
  assert_output "$first"
  run tg-grad -e 'sum(x * randn(3))' --wrt x 'x=ones(3)' --seed 8 --format csv
  refute_output "$first"
}

@test "-e reassigning a --wrt name: the gradient is of the bound leaf" {
  run tg-grad -e 'x = x * 3; x^2' --wrt x x=2 --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n36,36')"
}

# ---- NaN as PyTorch 1.13, and the constants -----------------------------------

@test "max/min over all elements put the gradient on the NaN; two NaNs split it" {
  run tg-grad -e 'max(x)' --wrt x 'x=[1,0/0,3]' --format csv
  assert_success
  assert_output "$(printf 'grad/x\n0\n1\n0')"
  run tg-grad -e 'min(x)' --wrt x 'x=[1,nan,nan]' --format csv
  assert_success
  assert_output "$(printf 'grad/x\n0\n0.5\n0.5')"
}

@test "relu'(NaN) = 1, abs'(NaN) = 0, sign(NaN) = 0, as in PyTorch 1.13" {
  run tg-grad -e 'relu(x) + abs(x) + sign(x)' --wrt x --grad-output ones 'x=[nan,-1]' --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\nnan,1\n0,-1')"
  run tg-grad -e 'sign(x)' --wrt x --grad-output ones 'x=[nan]' --format csv
  assert_output "$(printf 'out,grad/x\n0,0')"
}

@test "the constants pi, e, inf, nan; a binding of the same name wins" {
  run tg-grad -e 'x * pi + e' --wrt x x=1 --dtype f64 --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n5.859874482048838,3.141592653589793')"
  run tg-grad -e 'x + e' --wrt x x=1 e=2 --format csv
  assert_output "$(printf 'out,grad/x\n3,1')"
  run tg-grad -e 'min(x, inf)' --wrt x 'x=[1,-inf]' --grad-output ones --format csv
  assert_success
  assert_output "$(printf 'out,grad/x\n1,1\n-inf,1')"
}

@test "indexing: x[0], x[1:3], x[idx] with repeats, x[:, 0]; out of bounds is PyTorch's message" {
  run tg-grad -e 'sum(x[[2, 0, 2]])' --wrt x 'x=[1,2,3]' --format csv
  assert_success
  assert_output "$(printf 'grad/x\n1\n0\n2')"
  run tg-grad -e 'sum(x[:, 0] + x[1, 1:3])' --wrt x 'x=[[1,2,3],[4,5,6]]' --format csv
  assert_success
  assert_output "$(printf '1,0,0\n1,1,1')"
  run tg-grad -e 'x[5]' --wrt x 'x=[1,2,3]'
  assert_failure 1
  assert_output "tg-grad: -e: in indexing at column 3: index 5 is out of bounds for dimension 0 with size 3"
}
