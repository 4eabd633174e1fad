# Objects made in the shell go through the same pipeline cmdlets as hvd's.
$vms = @{Name='web1'; State='Running'; Mem=2GB}, @{Name='web2'; State='Off'; Mem=512MB}, @{Name='db1'; State='Off'; Mem=4GB}
$vms | Where-Object State -eq Off | Sort-Object Mem | Select-Object Name, Mem
$vms | Where-Object { $_.Mem -gt 1GB -and $_.Name -like 'w*' } | Select-Object -ExpandProperty Name
$vms | Sort-Object State, Name -Descending | Format-Table Name, State
$vms | Select-Object Name, @{Name='MemMB'; Expression={$_.Mem / 1MB}} | ConvertTo-Json
$vms | Measure-Object -Property Mem -Sum -Maximum | Format-List Count, Sum, Maximum
$vms | Select-Object -First 2 -Property Name | ConvertTo-Csv
$vms | Select-Object -Last 1 | ConvertTo-Json -Compress
($vms | Where-Object Name -match '^web').Count
$vms.Name
$vms | ForEach-Object Name | Sort-Object -Descending
$vms | ? State -eq Off | % Name
$vms | ? { $_.Mem -ge 2GB } | % { $_.Name.Length }
