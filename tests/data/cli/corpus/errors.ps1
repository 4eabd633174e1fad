Write-Output before
Get-Vmm
Write-Output -Nonsense 1
Select-Object -First
Sort-Object -Descending:$true -Descending
Write-Output after
1 / 0
'x' -match '('
function Forever { Forever }
Forever
'after the runaway function'
