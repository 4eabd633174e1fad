Write-Output 'pipeline cmdlets run without hvd'
Get-VM
