// Package db opens Cedula's database — an embedded SQLite file by default, or
// a PostgreSQL server shared by several replicas — and applies the schema
// migrations that each room declares.
//
// Queries are written once with $N placeholders, which both drivers accept.
// Where the two dialects differ (column types, locking), a migration carries
// one statement per dialect and code asks DB.Dialect.
package db
