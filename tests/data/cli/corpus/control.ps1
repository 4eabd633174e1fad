# if/elseif/else, foreach, functions, return, break, continue, ranges, scopes
function Double($x) { $x * 2 }
Double 21
function Greet { param($name = 'world') "hello $name" }
Greet
Greet -name hvkit
foreach ($i in 1..6) {
    if ($i -eq 2) { continue }
    elseif ($i -gt 4) { break }
    else { "i=$i" }
}
$total = 0
foreach ($n in 1..10) { $total = $total + $n }
"total $total"
if ($false) { 'no' } else { 'else branch' }
function Count-Input { $input.Count }
1..7 | Count-Input
function Early { 'a'; return 'b'; 'c' }
Early
$x = 'outer'
function Shadow { $x = 'inner'; $x }
Shadow
$x
function Rest($first) { "first=$first rest=$($args.Count)" }
Rest 1 2 3
5..3
