package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
)

// schemaV4 is the search index (audit.Searcher): a row per entry with the
// fields a DPO filters on, written in the transaction that sequences the
// entry. time is Entry.Time in microseconds since the Unix epoch (UTC);
// actor_id, action and purpose are UTF-8 bytes (they may hold NUL, which
// PostgreSQL TEXT cannot). The subject filter uses audit_subjects.
//
// {BACKFILL} indexes the entries already in the log, except those whose
// encoding holds the escape \u0000, which neither database's JSON functions
// decode faithfully (as in schemaV3); such entries, if any, are missing from
// searches until reindexed.
const schemaV4 = `
CREATE TABLE audit_index (
	idx {INDEX} PRIMARY KEY,
	time BIGINT NOT NULL,
	actor_kind TEXT NOT NULL,
	actor_id {BLOB} NOT NULL,
	action {BLOB} NOT NULL,
	purpose {BLOB} NOT NULL,
	outcome TEXT NOT NULL
);
CREATE INDEX audit_index_time ON audit_index (time, idx);
CREATE INDEX audit_index_actor ON audit_index (actor_id, idx);
CREATE INDEX audit_index_action ON audit_index (action, idx);
CREATE INDEX audit_index_purpose ON audit_index (purpose, idx);
{BACKFILL}
`

func schemaV4For(d db.Dialect) string {
	backfill := map[db.Dialect]string{
		db.SQLite: `INSERT INTO audit_index (idx, time, actor_kind, actor_id, action, purpose, outcome)
	SELECT idx,
		CAST(strftime('%s', substr(json_extract(j, '$.time'), 1, 19)) AS INTEGER) * 1000000 + CAST(substr(json_extract(j, '$.time'), 21, 6) AS INTEGER),
		json_extract(j, '$.actor.kind'), CAST(json_extract(j, '$.actor.id') AS BLOB), CAST(json_extract(j, '$.action') AS BLOB),
		CAST(json_extract(j, '$.purpose') AS BLOB), json_extract(j, '$.outcome')
	FROM (SELECT idx, CAST(data AS TEXT) AS j FROM audit_entries WHERE instr(data, CAST('\u0000' AS BLOB)) = 0) AS e;`,
		db.Postgres: `INSERT INTO audit_index (idx, time, actor_kind, actor_id, action, purpose, outcome)
	SELECT idx,
		round(extract(epoch from (j->>'time')::timestamptz) * 1000000)::bigint,
		j->'actor'->>'kind', convert_to(j->'actor'->>'id', 'UTF8'), convert_to(j->>'action', 'UTF8'),
		convert_to(j->>'purpose', 'UTF8'), j->>'outcome'
	FROM (SELECT idx, CASE WHEN position(convert_to('\u0000', 'UTF8') in data) = 0
		THEN convert_from(data, 'UTF8')::json END AS j FROM audit_entries) AS e
	WHERE j IS NOT NULL;`,
	}[d]
	return strings.Replace(db.Schema(schemaV4, d), "{BACKFILL}", backfill, 1)
}

// insertIndex writes rows of audit_index.
const insertIndex = `INSERT INTO audit_index (idx, time, actor_kind, actor_id, action, purpose, outcome) VALUES `

// indexCols is the number of columns of an audit_index row.
const indexCols = 7

// indexed is what audit_index holds of an entry, as JSON decodes it.
type indexed struct {
	Action string `json:"action"`
	Actor  struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
	} `json:"actor"`
	Outcome string `json:"outcome"`
	Purpose string `json:"purpose"`
	Subject string `json:"subject"`
	Time    string `json:"time"`
}

// indexRows returns the flattened rows of audit_index and audit_subjects
// (an entry without a subject has none there) for leaves numbered from
// base, reading each entry once. Leaves are canonical encodings this store
// made; one that does not decode is an internal error, and nothing is
// indexed.
func indexRows(base int64, leaves [][]byte) (index, subjects []any, err error) {
	index = make([]any, 0, indexCols*len(leaves))
	for i, data := range leaves {
		f, err := fieldsOf(data)
		if err != nil {
			return nil, nil, fmt.Errorf("index entry %d: %w", base+int64(i), err)
		}
		n := base + int64(i)
		index = append(index, n, f.micros, string(f.actorKind), f.actorID, f.action, f.purpose, string(f.outcome))
		if len(f.subject) > 0 {
			subjects = append(subjects, f.subject, n)
		}
	}
	return index, subjects, nil
}

// fieldsOf returns the indexed fields of a canonical encoding: by its
// layout (scanIndexed), else as JSON (decodeIndexed).
func fieldsOf(data []byte) (indexFields, error) {
	if f, ok := scanIndexed(data); ok {
		return f, nil
	}
	return decodeIndexed(data)
}

// decodeIndexed reads the indexed fields from an encoding as JSON:
// the way for the encodings scanIndexed leaves (strings with escapes).
func decodeIndexed(data []byte) (indexFields, error) {
	var x indexed
	if err := json.Unmarshal(data, &x); err != nil {
		return indexFields{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, x.Time)
	if err != nil {
		return indexFields{}, err
	}
	return indexFields{action: []byte(x.Action), actorID: []byte(x.Actor.ID), actorKind: []byte(x.Actor.Kind),
		outcome: []byte(x.Outcome), purpose: []byte(x.Purpose), subject: []byte(x.Subject), micros: t.UnixMicro()}, nil
}

var _ audit.Searcher = (*Store)(nil)

// Search implements audit.Searcher through audit_index (and audit_subjects
// for the subject filter): the database walks whichever index is most
// selective, in descending index order, and stops after the page.
func (s *Store) Search(ctx context.Context, q audit.Query) ([]audit.Record, int64, error) {
	if err := q.Validate(); err != nil {
		return nil, 0, fmt.Errorf("audit: search: %w", err)
	}
	if err := s.catchUp(ctx); err != nil {
		return nil, 0, fmt.Errorf("audit: search: %w", err)
	}
	below := q.After
	if below == 0 {
		below = maxLeaf
	}
	var b strings.Builder
	args := []any{below}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	b.WriteString(`SELECT e.idx, e.data FROM audit_index AS x JOIN audit_entries AS e ON e.idx = x.idx`)
	if q.Subject != "" {
		b.WriteString(` JOIN audit_subjects AS s ON s.idx = x.idx AND s.subject = ` + arg([]byte(q.Subject)))
	}
	b.WriteString(` WHERE x.idx < $1`)
	if !q.From.IsZero() {
		b.WriteString(` AND x.time >= ` + arg(q.From.Truncate(time.Microsecond).UnixMicro()))
	}
	if !q.To.IsZero() {
		b.WriteString(` AND x.time < ` + arg(q.To.Truncate(time.Microsecond).UnixMicro()))
	}
	if q.ActorKind != "" {
		b.WriteString(` AND x.actor_kind = ` + arg(string(q.ActorKind)))
	}
	if q.ActorID != "" {
		b.WriteString(` AND x.actor_id = ` + arg([]byte(q.ActorID)))
	}
	if q.Action != "" {
		b.WriteString(` AND x.action = ` + arg([]byte(q.Action)))
	}
	if q.Purpose != "" {
		b.WriteString(` AND x.purpose = ` + arg([]byte(q.Purpose)))
	}
	if q.Outcome != "" {
		b.WriteString(` AND x.outcome = ` + arg(string(q.Outcome)))
	}
	b.WriteString(` ORDER BY x.idx DESC LIMIT ` + arg(q.Limit+1))
	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("audit: search: %w", err)
	}
	defer rows.Close()
	out := make([]audit.Record, 0, min(q.Limit, 64))
	more := false
	for rows.Next() {
		if len(out) == q.Limit {
			more = true
			break
		}
		var r audit.Record
		if err := rows.Scan(&r.Index, &r.Data); err != nil {
			return nil, 0, fmt.Errorf("audit: search: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("audit: search: %w", err)
	}
	var next int64
	if more {
		next = out[len(out)-1].Index
	}
	return out, next, nil
}
