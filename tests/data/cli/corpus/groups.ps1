$vms = @{Name='web1'; State='Running'; Cpu=2}, @{Name='web2'; State='Off'; Cpu=1}, @{Name='db1'; State='Off'; Cpu=4}
$vms | Group-Object State | Select-Object Name, Count
($vms | Group-Object State | Where-Object Name -eq Off).Group.Name
$vms | Group-Object { $_.Cpu -gt 1 } | Select-Object Name, Count
$vms | Measure-Object -Property Cpu -Average -Minimum | Format-List Count, Average, Minimum
$vms | Get-Member | Select-Object -First 2 -Property Name, MemberType
