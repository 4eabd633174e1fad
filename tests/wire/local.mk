# tests/wire
