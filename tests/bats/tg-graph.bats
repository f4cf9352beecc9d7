#!/usr/bin/env bats
# tg-graph: the autograd graph as DOT, its structure, rendering, and errors.

load helpers

SEED=(-e 'w*x + b' --wrt w,b w='rand(1)' b='rand(1)' x='ones(1)')

# edges: reads DOT on stdin and prints its edges by label, sorted, one a line:
# "FROM -> TO" (or "FROM -- TO" for dir=none). A label is its text with the
# newline as a space ("w (1)"); an AccumulateGrad node is written with the
# name of its leaf, "AccumulateGrad(w)", so that edges name which leaf. Fails
# on a statement it does not understand.
edges() {
  /usr/bin/python3 -c '
import re, sys
text = sys.stdin.read()
head = "digraph {\n\tgraph [size=\"12,12\"]\n\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style=filled]\n"
assert text.startswith(head), "unexpected head: %r" % text[:200]
assert text.endswith("\n}\n"), "unexpected end"
body = text[len(head):-2]
stmt = re.compile(r"\t(\d+) \[label=(\"(?:[^\"\\]|\\.)*\"|\w+)(?: fillcolor=(\w+))?\]\n"
                  r"|\t(\d+) -> (\d+)( \[dir=none\])?\n")
labels, colors, es, pos = {}, {}, [], 0
while pos < len(body):
    m = stmt.match(body, pos)
    assert m, "cannot parse: %r" % body[pos:pos + 80]
    if m.group(1):
        lab = m.group(2)
        labels[m.group(1)] = lab[1:-1].replace("\n", "") if lab.startswith("\"") else lab
        colors[m.group(1)] = m.group(3) or ""
    else:
        es.append((m.group(4), m.group(5), bool(m.group(6))))
    pos = m.end()
def name(i):
    lab = labels[i]
    if lab == "AccumulateGrad":
        leaves = [labels[a].split(" ")[0] for a, b, u in es if b == i and not u]
        return "AccumulateGrad(%s)" % ",".join(leaves)
    return lab
print("\n".join(sorted("%s %s %s" % (name(a), "--" if u else "->", name(b)) for a, b, u in es)))
'
}

# nodes: "LABEL [COLOR]" for each node statement, sorted ("MulBackward0 []").
nodes() {
  /usr/bin/python3 -c '
import re, sys
for m in sorted(re.findall(r"\t\d+ \[label=(\"(?:[^\"\\]|\\.)*\"|\w+)(?: fillcolor=(\w+))?\]\n", sys.stdin.read())):
    lab = m[0][1:-1].replace("\n", "") if m[0].startswith("\"") else m[0]
    print("%s [%s]" % (lab, m[1]))
' | sort
}

# renders: DOT on stdin renders with dot -Tsvg, exit 0 and nothing on stderr.
renders() {
  command -v dot >/dev/null || skip "Graphviz's dot is not installed"
  local err
  err=$(dot -Tsvg 2>&1 >/dev/null) || fail "dot -Tsvg failed: $err"
  [ -z "$err" ] || fail "dot -Tsvg warned: $err"
}

# ---- help, version ----------------------------------------------------------

@test "tg-graph --help prints usage on stdout and exits 0" {
  run --separate-stderr tg-graph --help
  assert_success
  assert_output --partial "Usage: tg-graph -e EXPR --wrt"
  assert_output --partial "--show-saved"
  assert_output --partial "--backward"
  [ -z "$stderr" ]
}

@test "tg-graph --version" {
  run tg-graph --version
  assert_success
  assert_output "tg-graph (tg) 0.1.0"
}

# ---- the seed graph: z = w*x + b --------------------------------------------

@test "seed graph: AddBackward0 <- (MulBackward0, AccumulateGrad b); MulBackward0 <- AccumulateGrad w, nothing for x" {
  run --separate-stderr tg-graph "${SEED[@]}"
  assert_success
  [ -z "$stderr" ]
  run edges <<<"$output"
  assert_success
  assert_output "$(printf '%s\n' \
    'AccumulateGrad(b) -> AddBackward0' \
    'AccumulateGrad(w) -> MulBackward0' \
    'AddBackward0 -> out (1)' \
    'MulBackward0 -> AddBackward0' \
    'b (1) -> AccumulateGrad(b)' \
    'w (1) -> AccumulateGrad(w)')"
}

@test "seed graph: leaves w and b labelled with shapes (lightblue), the output (darkolivegreen1), no x" {
  run tg-graph "${SEED[@]}"
  assert_success
  run nodes <<<"$output"
  assert_output "$(printf '%s\n' \
    'AccumulateGrad []' 'AccumulateGrad []' 'AddBackward0 []' 'MulBackward0 []' \
    'b (1) [lightblue]' 'out (1) [darkolivegreen1]' 'w (1) [lightblue]')"
}

@test "seed graph: the same command twice gives identical bytes" {
  tg-graph "${SEED[@]}" >a.dot
  tg-graph "${SEED[@]}" >b.dot
  [ -s a.dot ]
  cmp a.dot b.dot
}

@test "seed graph: the exact DOT text" {
  run tg-graph "${SEED[@]}"
  assert_success
  assert_output "$(printf 'digraph {\n\tgraph [size="12,12"]\n\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style=filled]\n\t0 [label="out\n (1)" fillcolor=darkolivegreen1]\n\t1 [label=AddBackward0]\n\t2 -> 1\n\t2 [label=MulBackward0]\n\t3 -> 2\n\t4 [label="w\n (1)" fillcolor=lightblue]\n\t4 -> 3\n\t3 [label=AccumulateGrad]\n\t5 -> 1\n\t6 [label="b\n (1)" fillcolor=lightblue]\n\t6 -> 5\n\t5 [label=AccumulateGrad]\n\t1 -> 0\n}')"
}

@test "seed graph renders with dot -Tsvg without warnings" {
  tg-graph "${SEED[@]}" | renders
}

@test "the output is named after the last statement that binds it" {
  run tg-graph -e 'y = w*x; z = y + b' --wrt w,b w='rand(1)' b='rand(1)' x='ones(1)'
  assert_success
  run edges <<<"$output"
  assert_line 'AddBackward0 -> z (1)'
  refute_line --partial 'out'
}

@test "--wrt w only: b's edge is none, so AddBackward0 has one incoming edge" {
  run tg-graph -e 'w*x + b' --wrt w w='rand(1)' b='rand(1)' x='ones(1)'
  assert_success
  run edges <<<"$output"
  assert_output "$(printf '%s\n' \
    'AccumulateGrad(w) -> MulBackward0' \
    'AddBackward0 -> out (1)' \
    'MulBackward0 -> AddBackward0' \
    'w (1) -> AccumulateGrad(w)')"
}

# ---- --show-saved, --backward --------------------------------------------------

@test "--show-saved: MulBackward0's saved tensor (x) as an orange box joined by dir=none" {
  run tg-graph "${SEED[@]}" --show-saved
  assert_success
  assert_output --partial "[dir=none]"
  dot_text=$output
  run edges <<<"$dot_text"
  assert_line 'MulBackward0 -- other (1)'
  run nodes <<<"$dot_text"
  assert_line 'other (1) [orange]'
  tg-graph "${SEED[@]}" --show-saved | renders
}

@test "--backward for y = x^2 at 5: the graph of dy/dx (PowBackward0's backward), grad/x as output" {
  run --separate-stderr tg-graph -e 'x^2' --wrt x x=5 --backward
  assert_success
  [ -z "$stderr" ]
  dot_text=$output
  run edges <<<"$dot_text"
  assert_output "$(printf '%s\n' \
    'AccumulateGrad(x) -> PowBackward0' \
    'MulBackward0 -> MulBackward0' \
    'MulBackward0 -> grad/x ()' \
    'PowBackward0 -> MulBackward0' \
    'x () -> AccumulateGrad(x)')"
  run nodes <<<"$dot_text"
  assert_line 'grad/x () [darkolivegreen1]'
  assert_line 'x () [lightblue]'
  printf '%s\n' "$dot_text" | renders
  tg-graph -e 'x^2' --wrt x x=5 --backward --show-saved | renders
}

@test "--backward with two --wrt names: one output per gradient" {
  run tg-graph -e 'w*x + b' --wrt w --wrt b w='rand(1)' b='rand(1)' x='ones(1)' --backward
  assert_success
  run nodes <<<"$output"
  assert_line --partial 'grad/w (1) [darkolivegreen1]'
  assert_line --partial 'grad/b (1) [darkolivegreen1]'
}

@test "--backward of a non-scalar output: PyTorch's error and a hint, exit 1" {
  run --separate-stderr tg-graph -e 'x*x' --wrt x x='ones(3)' --backward
  assert_failure 1
  [ -z "$output" ]
  [[ $stderr == *"tg-graph: --backward: grad can be implicitly created only for scalar outputs"* ]]
  [[ $stderr == *"hint:"*"sum("* ]]
}

# ---- output: -o, --format ----------------------------------------------------

@test "-o g.dot writes the DOT text to the file, and nothing else is left there" {
  tg-graph "${SEED[@]}" >stdout.dot
  run tg-graph "${SEED[@]}" -o g.dot
  assert_success
  [ -z "$output" ]
  cmp stdout.dot g.dot
  [ "$(ls | sort | tr '\n' ' ')" = "g.dot stdout.dot " ]
}

@test "--format svg writes SVG; -o g.svg picks it by extension" {
  command -v dot >/dev/null || skip "Graphviz's dot is not installed"
  run --separate-stderr tg-graph "${SEED[@]}" --format svg
  assert_success
  [ -z "$stderr" ]
  [[ ${output:0:5} == "<?xml" || ${output:0:4} == "<svg" ]]
  assert_output --partial "AddBackward0"
  assert_output --partial "</svg>"
  tg-graph "${SEED[@]}" -o g.svg
  head -c 5 g.svg | grep -q '^<?xml'
  grep -q '</svg>' g.svg
}

@test "--format png writes a PNG to a pipe; -o g.png picks it by extension" {
  command -v dot >/dev/null || skip "Graphviz's dot is not installed"
  tg-graph "${SEED[@]}" --format png >pipe.png
  [ "$(head -c 8 pipe.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
  tg-graph -e 'x^2' --wrt x x=5 --backward -o g.png
  [ "$(head -c 8 g.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
}

@test "--format png is never written to a terminal" {
  run on_tty "tg-graph -e 'w*x' --wrt w w=1 x=2 --format png"
  assert_failure 2
  assert_output --partial "refusing to write binary PNG to a terminal"
}

@test "--format svg without Graphviz's dot: a clear error, exit 1, nothing written" {
  run --separate-stderr env PATH=/nonexistent "$(command -v tg-graph)" "${SEED[@]}" --format svg -o g.svg
  assert_failure 1
  assert_equal "$stderr" "tg-graph: --format svg needs Graphviz's dot (apt-get install graphviz)"
  assert_no_file g.svg
}

@test "a failing dot: its message passed on, exit 1, nothing written" {
  mkdir fake
  printf '#!/bin/sh\ncat >/dev/null\necho "Error: something broke" >&2\nexit 3\n' >fake/dot
  chmod +x fake/dot
  run --separate-stderr env PATH="$TMP/fake:$PATH" tg-graph "${SEED[@]}" -o g.png
  assert_failure 1
  [ -z "$output" ]
  [[ $stderr == *"tg-graph: dot: Error: something broke"* ]]
  [[ $stderr == *"tg-graph: dot -Tpng failed (exit status 3)"* ]]
  assert_no_file g.png
  [ -z "$(ls -A | grep '^g\.png')" ] # no temporary left either
}

# ---- errors ------------------------------------------------------------------

@test "a syntax error in -e shows the expression and a caret; exit 2, nothing on stdout" {
  run --separate-stderr tg-graph -e 'w*x +' --wrt w,b w='rand(1)' b='rand(1)' x='ones(1)'
  assert_failure 2
  [ -z "$output" ]
  [[ $stderr == "tg-graph: -e: syntax error at column "* ]]
  [[ $stderr == *"w*x +"* ]]
  [[ $stderr == *"^"* ]]
}

@test "a syntax error in a binding is a usage error naming it; a missing file is exit 1" {
  run --separate-stderr tg-graph -e 'w*x' --wrt w w='[1,2' x=2
  assert_failure 2
  [[ $stderr == "tg-graph: w=[1,2: syntax error at column "* ]]
  run --separate-stderr tg-graph -e 'w*x' --wrt w w=nofile.h5:/x x=2
  assert_failure 1
  [[ $stderr == *"nofile.h5"* ]]
}

@test "--wrt on a tensor that cannot require grad: PyTorch's error, exit 1" {
  run --separate-stderr tg-graph -e 'w*2' --wrt w w='[1,2] > 1'
  assert_failure 1
  [ -z "$output" ]
  assert_equal "$stderr" "tg-graph: --wrt w: Only Tensors of floating point dtype can require gradients"
}

@test "--backward with a --wrt name the output does not use: PyTorch's error naming it, exit 1" {
  run --separate-stderr tg-graph -e '2*w' --wrt w,x w=1 x=2 --backward
  assert_failure 1
  [ -z "$output" ]
  [[ $stderr == "tg-graph: --backward: --wrt x: One of the differentiated Tensors appears to not have been used in the graph."* ]]
}

@test "an unknown --wrt name: usage error naming it" {
  run tg-graph -e 'w*x' --wrt q w=1 x=2 -o g.dot
  assert_failure 2
  assert_line --index 0 --partial "tg-graph: --wrt q: 'q' is not bound"
  assert_no_file g.dot
}

@test "missing -e, missing --wrt, a stray argument: usage errors" {
  run tg-graph --wrt w w=1
  assert_failure 2
  assert_line --index 0 "tg-graph: missing -e EXPR: the expression to draw"
  assert_line --index 1 "Try 'tg-graph --help' for more information."
  run tg-graph -e 'w*2' w=1
  assert_failure 2
  assert_line --index 0 --partial "tg-graph: missing --wrt"
  run tg-graph -e 'w*2' --wrt w w=1 stray
  assert_failure 2
  assert_line --index 0 "tg-graph: unexpected argument 'stray': expected NAME=VALUE"
  run tg-graph -e 'w*2' --wrt w,w w=1
  assert_failure 2
  assert_line --index 0 "tg-graph: --wrt names 'w' twice"
}

@test "unknown option: exit 2 and a hint" {
  run tg-graph "${SEED[@]}" --bogus
  assert_failure 2
  assert_line --index 0 "tg-graph: unrecognized option '--bogus'"
  assert_line --index 1 "Try 'tg-graph --help' for more information."
}

@test "--format jpg is a usage error" {
  run tg-graph "${SEED[@]}" --format jpg -o g.jpg
  assert_failure 2
  assert_line --index 0 "tg-graph: invalid value 'jpg' for --format: expected dot, svg or png"
  assert_no_file g.jpg
}

@test "-o into a missing directory: exit 1, nothing written" {
  run tg-graph "${SEED[@]}" -o nodir/g.dot
  assert_failure 1
  assert_output "tg-graph: cannot write 'nodir/g.dot': No such file or directory"
  assert_no_file nodir
}

@test "square(x) is pow(x, 2), as PyTorch composes it: PowBackward0" {
  run tg-graph -e 'square(x)' --wrt x 'x=[1,2]'
  assert_success
  assert_output --partial 'PowBackward0'
  refute_output --partial 'Square'
}

@test "indexing records PyTorch's nodes: x[0] SelectBackward0, x[1:3] SliceBackward0, x[:, idx] IndexBackward0" {
  run tg-graph -e 'x[0, 1:3]' --wrt x 'x=[[1,2,3],[4,5,6]]'
  assert_success
  assert_output --partial 'SelectBackward0'
  assert_output --partial 'SliceBackward0'
  run tg-graph -e 'x[:, [2, 0]]' --wrt x 'x=[[1,2,3],[4,5,6]]'
  assert_success
  assert_output --partial 'IndexBackward0'
  assert_output --partial 'SliceBackward0'
}
