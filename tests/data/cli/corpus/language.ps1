$n = 3
"n is $n, twice is $($n * 2)"
'single $n stays'
"tab`tand quote `" and ""doubled"""
1 + 2 * 3
(1 + 2) * 3
7 / 2
7 % 3
'ab' + 'cd'
1, 2, 3 -contains 2
'Web1' -eq 'web1'
'web10' -like 'web?'
5 -in 1, 5, 9
-not (1 -eq 1)
$null -eq $nothing
$list = 1, 2, 3
$list[-1]
$list.Count
@(1).Count
1, 5, 10 -gt 4
'abc'.Length
512MB / 1MB
-1..2
$a = -1, 2
$a.Count
5 -3
@{a=1; b=2}.Count
$env:HVKIT_TEST_VAR = 'set'
$env:HVKIT_TEST_VAR
