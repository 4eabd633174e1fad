Get-Help Set-VMProcessor
Get-Command *-VMMemory | Select-Object Name, Source
