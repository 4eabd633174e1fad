# Select-Object -First stops the stages before it: only two objects are ever made.
1..5 | ForEach-Object { Write-Host "made $_"; $_ } | Select-Object -First 2
1..10 | Select-Object -Skip 7
1..10 | Select-Object -Last 2
1, 1, 2, 3, 3 | Select-Object -Unique
'a', 'b' | Write-Output
Write-Host 'host', 'line' -Separator '-'
