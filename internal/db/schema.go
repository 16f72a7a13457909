package db

import "strings"

// Schema returns a migration written once for both databases in d's
// dialect, replacing its placeholders:
//
//	{BLOB}           BLOB | BYTEA
//	{INDEX}          INTEGER | BIGINT (on SQLite an INTEGER PRIMARY KEY is the rowid: no second index)
//	{SERIAL}         INTEGER PRIMARY KEY | BIGSERIAL PRIMARY KEY
//	{C}              (nothing) | COLLATE "C" (byte order, as SQLite compares TEXT)
//	{WITHOUT_ROWID}  " WITHOUT ROWID" | (nothing)
func Schema(schema string, d Dialect) string {
	return replacers[d].Replace(schema)
}

var replacers = map[Dialect]*strings.Replacer{
	SQLite: strings.NewReplacer("{BLOB}", "BLOB", "{INDEX}", "INTEGER", "{SERIAL}", "INTEGER PRIMARY KEY",
		"{C}", "", "{WITHOUT_ROWID}", " WITHOUT ROWID"),
	Postgres: strings.NewReplacer("{BLOB}", "BYTEA", "{INDEX}", "BIGINT", "{SERIAL}", "BIGSERIAL PRIMARY KEY",
		"{C}", `COLLATE "C"`, "{WITHOUT_ROWID}", ""),
}
