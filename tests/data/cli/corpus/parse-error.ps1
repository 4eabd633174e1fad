Write-Output fine
Write-Output @{a=1; b=
