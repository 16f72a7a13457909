// Package app wires Cedula's rooms into one server: configuration →
// database and keys → stores → services → each API's routes on the one
// HTTP edge (internal/httpapi), plus the admin listener and the background
// work (housekeeping, checkpoints, back-channel logouts). It is the
// composition root; `cedula serve` and the whole-server tests use it.
//
// The handlers still defined here are moving into their rooms' API
// packages (issue 10).
package app
