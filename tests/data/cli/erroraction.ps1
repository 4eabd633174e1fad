# A binding error ends its statement whatever -ErrorAction says (as in PowerShell).
Write-Output 1 | Select-Object -Nope -ErrorAction SilentlyContinue
'next statement'
@{a=1} | Select-Object -ExpandProperty b -ErrorAction SilentlyContinue
'after the silenced error'
1, 2 | Out-File -FilePath /nonexistent-dir/x.txt -WhatIf
@{a=1} | Select-Object -ExpandProperty b -ErrorAction Stop
'never printed: -ErrorAction Stop ends the script'
