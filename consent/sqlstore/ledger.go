package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/db"
)

const (
	recordCols = `subject, purpose, controller, id, seq, state, purpose_version, notice_version, legal_basis,
	categories, method, created, updated, given, expires`
	eventCols = `pos, record_id, seq, event_type, subject, controller, purpose, purpose_version, notice_version,
	legal_basis, categories, method, actor_kind, actor_id, at, expires`
	// eventsPerInsert is the most events one INSERT carries (16
	// parameters each).
	eventsPerInsert = 64
)

// Append implements consent.Ledger. Records are written in key order, so
// two transactions never wait for each other's record rows in a cycle;
// the head is advanced after them and its lock held to the commit.
func (s *Store) Append(ctx context.Context, within func(*sql.Tx) error, ts ...consent.Transition) (int64, error) {
	if len(ts) == 0 {
		return 0, fmt.Errorf("%w: append: no events", consent.ErrInvalid)
	}
	order := make([]int, len(ts))
	for i, t := range ts {
		if err := t.Validate(); err != nil {
			return 0, err
		}
		order[i] = i
	}
	keyCmp := func(a, b consent.Key) int {
		return cmp.Or(cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.Purpose, b.Purpose), cmp.Compare(a.Controller, b.Controller))
	}
	slices.SortFunc(order, func(i, j int) int { return keyCmp(ts[i].Event.Key, ts[j].Event.Key) })
	for k := 1; k < len(order); k++ {
		if keyCmp(ts[order[k-1]].Event.Key, ts[order[k]].Event.Key) == 0 {
			return 0, fmt.Errorf("%w: append: two events for one record", consent.ErrInvalid)
		}
	}
	var last int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, i := range order {
			if err := s.writeRecord(ctx, tx, ts[i]); err != nil {
				return err
			}
		}
		var err error
		if last, err = bumpHead(ctx, tx, len(ts)); err != nil {
			return err
		}
		first := last - int64(len(ts)) + 1
		for start := 0; start < len(ts); start += eventsPerInsert {
			chunk := ts[start:min(len(ts), start+eventsPerInsert)]
			args := make([]any, 0, 16*len(chunk))
			for i, t := range chunk {
				e := t.Event
				args = append(args, first+int64(start+i), e.RecordID, e.Seq, string(e.Type), e.Key.Subject, e.Key.Controller,
					e.Key.Purpose, e.PurposeVersion, e.NoticeVersion, string(e.LegalBasis), encodeList(e.Categories),
					string(e.Method), string(e.Actor.Kind), e.Actor.ID, micros(e.Time), micros(e.Expires))
			}
			_, err := s.db.ExecCached(ctx, tx, `INSERT INTO consent_events (`+eventCols+`) VALUES `+s.db.Placeholders(len(chunk), 16), args...)
			if db.IsUniqueViolation(err) {
				return fmt.Errorf("%w: an event number is taken", consent.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
		}
		if within != nil {
			return within(tx)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("consent: append: %w", err)
	}
	return last, nil
}

// writeRecord writes the record's state after t: an insert for a new
// record (ErrConflict when it exists), else an update guarded by the
// sequence the writer read (ErrConflict when it moved).
func (s *Store) writeRecord(ctx context.Context, tx *sql.Tx, t consent.Transition) error {
	r := t.Next()
	if t.Prev.Seq == 0 {
		_, err := s.db.ExecCached(ctx, tx, `INSERT INTO consent_records (`+recordCols+`) VALUES `+s.db.Placeholders(1, 15),
			r.Key.Subject, r.Key.Purpose, r.Key.Controller, r.ID, r.Seq, string(r.State), r.PurposeVersion,
			r.NoticeVersion, string(r.LegalBasis), encodeList(r.Categories), string(r.Method),
			micros(r.Created), micros(r.Updated), micros(r.Given), micros(r.Expires))
		if db.IsUniqueViolation(err) {
			return fmt.Errorf("%w: the record was created meanwhile", consent.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert record: %w", err)
		}
		return nil
	}
	res, err := s.db.ExecCached(ctx, tx, `UPDATE consent_records SET seq = $5, state = $6, purpose_version = $7,
	notice_version = $8, legal_basis = $9, categories = $10, method = $11, updated = $12, given = $13, expires = $14
WHERE subject = $1 AND purpose = $2 AND controller = $3 AND id = $4 AND seq = $15`,
		r.Key.Subject, r.Key.Purpose, r.Key.Controller, r.ID, r.Seq, string(r.State), r.PurposeVersion,
		r.NoticeVersion, string(r.LegalBasis), encodeList(r.Categories), string(r.Method),
		micros(r.Updated), micros(r.Given), micros(r.Expires), t.Prev.Seq)
	if err != nil {
		return fmt.Errorf("update record: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update record: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: the record moved past event %d", consent.ErrConflict, t.Prev.Seq)
	}
	return nil
}

func scanRecord(sc interface{ Scan(...any) error }) (consent.Record, error) {
	var r consent.Record
	var state, basis, cats, method string
	var created, updated, given, expires int64
	err := sc.Scan(&r.Key.Subject, &r.Key.Purpose, &r.Key.Controller, &r.ID, &r.Seq, &state, &r.PurposeVersion,
		&r.NoticeVersion, &basis, &cats, &method, &created, &updated, &given, &expires)
	if err != nil {
		return consent.Record{}, err
	}
	if r.Categories, err = decodeList(cats); err != nil {
		return consent.Record{}, err
	}
	r.State, r.LegalBasis, r.Method = consent.State(state), consent.LegalBasis(basis), consent.Method(method)
	r.Created, r.Updated, r.Given, r.Expires = fromMicros(created), fromMicros(updated), fromMicros(given), fromMicros(expires)
	return r, nil
}

// Record implements consent.Ledger: one primary-key lookup.
func (s *Store) Record(ctx context.Context, k consent.Key) (consent.Record, error) {
	r, err := scanRecord(s.queryRow(ctx, `SELECT `+recordCols+` FROM consent_records
WHERE subject = $1 AND purpose = $2 AND controller = $3`, k.Subject, k.Purpose, k.Controller))
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Record{}, fmt.Errorf("consent: record: %w", consent.ErrNotFound)
	}
	if err != nil {
		return consent.Record{}, fmt.Errorf("consent: record: %w", err)
	}
	return r, nil
}

// RecordByID implements consent.Ledger.
func (s *Store) RecordByID(ctx context.Context, id string) (consent.Record, error) {
	r, err := scanRecord(s.queryRow(ctx, `SELECT `+recordCols+` FROM consent_records WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Record{}, fmt.Errorf("consent: record %.80q: %w", id, consent.ErrNotFound)
	}
	if err != nil {
		return consent.Record{}, fmt.Errorf("consent: record %.80q: %w", id, err)
	}
	return r, nil
}

func (s *Store) records(ctx context.Context, op, q string, args ...any) ([]consent.Record, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("consent: %s: %w", op, err)
	}
	defer rows.Close()
	var out []consent.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("consent: %s: %w", op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: %s: %w", op, err)
	}
	return out, nil
}

// SubjectRecords implements consent.Ledger.
func (s *Store) SubjectRecords(ctx context.Context, subject string) ([]consent.Record, error) {
	return s.records(ctx, "subject records", `SELECT `+recordCols+` FROM consent_records
WHERE subject = $1 ORDER BY purpose, controller`, subject)
}

// ScanRecords implements consent.Ledger: a range of the primary key,
// which is (subject, purpose, controller) and compares bytes in both
// dialects.
func (s *Store) ScanRecords(ctx context.Context, after consent.Key, limit int) ([]consent.Record, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: scan records: limit %d", consent.ErrInvalid, limit)
	}
	return s.records(ctx, "scan records", `SELECT `+recordCols+` FROM consent_records
WHERE (subject, purpose, controller) > ($1, $2, $3) ORDER BY subject, purpose, controller LIMIT $4`,
		after.Subject, after.Purpose, after.Controller, limit)
}

// DueToExpire implements consent.Ledger through the partial index
// consent_records_expiry.
func (s *Store) DueToExpire(ctx context.Context, at time.Time, limit int) ([]consent.Record, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: due to expire: limit %d", consent.ErrInvalid, limit)
	}
	return s.records(ctx, "due to expire", `SELECT `+recordCols+` FROM consent_records
WHERE state IN ('given', 'renewed') AND expires > 0 AND expires <= $1 ORDER BY expires LIMIT $2`, micros(at), limit)
}

// OnOldNotice implements consent.Ledger through the partial index
// consent_records_notice.
func (s *Store) OnOldNotice(ctx context.Context, purpose, notice string, limit int) ([]consent.Record, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: on old notice: limit %d", consent.ErrInvalid, limit)
	}
	return s.records(ctx, "on old notice", `SELECT `+recordCols+` FROM consent_records
WHERE purpose = $1 AND state IN ('given', 'renewed') AND notice_version <> $2 LIMIT $3`, purpose, notice, limit)
}

// Counts implements consent.Ledger from the index consent_records_counts.
func (s *Store) Counts(ctx context.Context) ([]consent.Count, error) {
	rows, err := s.query(ctx, `SELECT purpose, controller, state, count(*) FROM consent_records
GROUP BY purpose, controller, state ORDER BY purpose, controller, state`)
	if err != nil {
		return nil, fmt.Errorf("consent: counts: %w", err)
	}
	defer rows.Close()
	var out []consent.Count
	for rows.Next() {
		var c consent.Count
		var state string
		if err := rows.Scan(&c.Purpose, &c.Controller, &state, &c.N); err != nil {
			return nil, fmt.Errorf("consent: counts: %w", err)
		}
		c.State = consent.State(state)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: counts: %w", err)
	}
	return out, nil
}

// microsPerDay is a UTC day in the microseconds the store keeps times in.
const microsPerDay = 86_400_000_000

// EventCounts implements consent.Ledger.
func (s *Store) EventCounts(ctx context.Context, from, to time.Time) ([]consent.EventCount, error) {
	rows, err := s.query(ctx, `SELECT at / `+fmt.Sprint(microsPerDay)+` AS day, purpose, controller, event_type, count(*)
FROM consent_events WHERE at >= $1 AND at < $2
GROUP BY at / `+fmt.Sprint(microsPerDay)+`, purpose, controller, event_type ORDER BY 1, 2, 3, 4`, micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("consent: event counts: %w", err)
	}
	defer rows.Close()
	var out []consent.EventCount
	for rows.Next() {
		var c consent.EventCount
		var day int64
		var typ string
		if err := rows.Scan(&day, &c.Purpose, &c.Controller, &typ, &c.N); err != nil {
			return nil, fmt.Errorf("consent: event counts: %w", err)
		}
		c.Day, c.Type = time.UnixMicro(day*microsPerDay).UTC(), consent.EventType(typ)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: event counts: %w", err)
	}
	return out, nil
}

func (s *Store) events(ctx context.Context, op, q string, args ...any) ([]consent.Event, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("consent: %s: %w", op, err)
	}
	defer rows.Close()
	var out []consent.Event
	for rows.Next() {
		var e consent.Event
		var typ, basis, cats, method, kind string
		var at, expires int64
		err := rows.Scan(&e.Pos, &e.RecordID, &e.Seq, &typ, &e.Key.Subject, &e.Key.Controller, &e.Key.Purpose,
			&e.PurposeVersion, &e.NoticeVersion, &basis, &cats, &method, &kind, &e.Actor.ID, &at, &expires)
		if err != nil {
			return nil, fmt.Errorf("consent: %s: %w", op, err)
		}
		if e.Categories, err = decodeList(cats); err != nil {
			return nil, fmt.Errorf("consent: %s: %w", op, err)
		}
		e.Type, e.LegalBasis, e.Method = consent.EventType(typ), consent.LegalBasis(basis), consent.Method(method)
		e.Actor.Kind = audit.ActorKind(kind)
		e.Time, e.Expires = fromMicros(at), fromMicros(expires)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: %s: %w", op, err)
	}
	return out, nil
}

// History implements consent.Ledger.
func (s *Store) History(ctx context.Context, k consent.Key) ([]consent.Event, error) {
	return s.events(ctx, "history", `SELECT `+eventCols+` FROM consent_events
WHERE subject = $1 AND purpose = $2 AND controller = $3 ORDER BY seq`, k.Subject, k.Purpose, k.Controller)
}

// SubjectHistory implements consent.Ledger through consent_events_subject.
func (s *Store) SubjectHistory(ctx context.Context, subject string) ([]consent.Event, error) {
	return s.events(ctx, "subject history", `SELECT `+eventCols+` FROM consent_events
WHERE subject = $1 ORDER BY pos`, subject)
}
