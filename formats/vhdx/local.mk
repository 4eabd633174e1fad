# formats/vhdx
