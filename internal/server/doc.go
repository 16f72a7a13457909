// Package server wires Cedula's rooms into one HTTP server: it opens the
// database and the key manager, applies migrations, registers the configured
// agency clients, and mounts the OpenID provider, the citizen pages, the
// admin API, health checks and metrics behind common middleware (request
// IDs, structured access logs, metrics, panic recovery).
package server
