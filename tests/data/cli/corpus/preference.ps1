$ErrorActionPreference = 'Stop'
'first'
Get-Vmm
'never printed'
