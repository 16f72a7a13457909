// Package config loads Cedula's configuration: defaults that run the embedded
// mode with nothing else installed, then an optional YAML file (unknown fields
// rejected), then CEDULA_* environment variables, then command-line flags.
// Validate reports every problem at once. Secrets never live in the file:
// the Vault token, the key-encryption key and the pairwise-subject secret
// come from the environment or from files the operator points at.
package config
