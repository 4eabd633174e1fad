# tests shared
