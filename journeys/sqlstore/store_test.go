package sqlstore_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/journeys/sqlstore"
)

// TestSeals, on both databases: a sealed message checks as genuine by its
// code however it is typed, and by the code found in the pasted message;
// the text is compared; an edited text, an unknown or malformed code, a
// seal tampered with in the table, and a seal whose agency's key is gone
// are not ours.
func TestSeals(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testSeals(t, dbtest.SQLite(t, sqlstore.Migrations)) })
	t.Run("postgres", func(t *testing.T) { testSeals(t, dbtest.Postgres(t, sqlstore.Migrations)) })
}

func testSeals(t *testing.T, d *db.DB) {
	ctx := context.Background()
	km, err := localkeys.Open(t.TempDir()+"/ks.json", localkeys.WithKEK(make([]byte, localkeys.KEKSize)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
	seals, err := journeys.NewSeals(km, sqlstore.New(d, nopLog{}), []byte(strings.Repeat("s", 32)), "https://id.example.gob", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	body := "Hola, Ana:\n\nPuede que ahora tenga derecho a la ayuda por cuidado de hijos.\nSolicítela en su oficina de siempre."
	sealed, err := seals.Seal(ctx, journeys.Message{Agency: "social-security", Lang: "es", Subject: "Una ayuda para usted", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed.Code) != 14 || !strings.Contains(sealed.Text, "Código de verificación: "+sealed.Code) ||
		!strings.Contains(sealed.Text, "id.example.gob/check") || strings.Contains(sealed.Text, "https://") {
		t.Fatalf("sealed: %+v", sealed)
	}
	yes, no := true, false
	for _, tc := range []struct {
		name, code, text string
		genuine          bool
		matches          *bool
	}{
		{"the code as shown", sealed.Code, "", true, nil},
		{"the code typed loosely", strings.ToLower(strings.ReplaceAll(sealed.Code, "-", " ")), "", true, nil},
		{"the code and the message", sealed.Code, sealed.Text, true, &yes},
		{"the message alone, rewrapped", "", strings.ReplaceAll(sealed.Text, "\n", "  \r\n "), true, &yes},
		{"the message without its footer", sealed.Code, body, true, &yes},
		{"an edited message", "", strings.Replace(sealed.Text, "oficina de siempre", "web: https://ayudas-gob.example", 1), true, &no},
		{"an unknown code", "ABCD-EFGH-JKMN", "", false, nil},
		{"a malformed code", "ABCD-EFGH-JK!", "", false, nil},
		{"a message without a code", "", "Su paquete está retenido. Pague la tasa aquí.", false, nil},
	} {
		v, err := seals.Check(ctx, tc.code, tc.text)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if v.Genuine != tc.genuine || (tc.genuine && (v.Agency != "social-security" || !v.Sent.Equal(now) || v.Lang != "es")) ||
			(tc.matches == nil) != (v.TextMatches == nil) || (tc.matches != nil && *tc.matches != *v.TextMatches) {
			t.Errorf("%s: %+v (matches %v), want genuine %v, matches %v", tc.name, v, deref(v.TextMatches), tc.genuine, deref(tc.matches))
		}
	}

	// A seal tampered with in the table (another agency named) is not ours.
	other, err := seals.Seal(ctx, journeys.Message{Agency: "tax", Lang: "en", Body: "Your return has been received."})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(other.Text, "Verification code: "+other.Code) {
		t.Errorf("the English footer: %q", other.Text)
	}
	if _, err := d.ExecContext(ctx, `UPDATE journeys_seals SET agency = 'social-security' WHERE agency = 'tax'`); err != nil {
		t.Fatal(err)
	}
	if v, _ := seals.Check(ctx, other.Code, ""); v.Genuine {
		t.Errorf("a seal moved to another agency checks as genuine: %+v", v)
	}

	for name, m := range map[string]journeys.Message{
		"another language": {Agency: "tax", Lang: "fr", Body: "x"},
		"an empty body":    {Agency: "tax", Lang: "es", Body: "  "},
		"no agency":        {Lang: "es", Body: "x"},
		"too long":         {Agency: "tax", Lang: "es", Body: strings.Repeat("x", journeys.MaxMessage+1)},
	} {
		if _, err := seals.Seal(ctx, m); err == nil {
			t.Errorf("%s: sealed", name)
		}
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// nopLog takes the entries and keeps none.
type nopLog struct{}

func (nopLog) AppendTx(context.Context, *sql.Tx, ...audit.Entry) error { return nil }

// TestTakeRun: of two replicas on one database, one takes a scheduled
// journey's run of a day; the next day is another run; a run taken and
// never finished (its replica died) is taken again once its lease passed,
// a finished one never.
func TestTakeRun(t *testing.T) {
	for name, d := range map[string]func(t *testing.T) *db.DB{
		"sqlite":   func(t *testing.T) *db.DB { return dbtest.SQLite(t, sqlstore.Migrations) },
		"postgres": func(t *testing.T) *db.DB { return dbtest.Postgres(t, sqlstore.Migrations) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := sqlstore.New(d(t), nopLog{})
			now := time.Now()
			lease := 30 * time.Minute
			take := func(journey, day string, at time.Time) bool {
				t.Helper()
				ok, err := s.TakeRun(ctx, journey, day, at, at.Add(-lease))
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if !take("j", "2026-12-06", now) {
				t.Fatal("first take: false")
			}
			if take("j", "2026-12-06", now.Add(time.Minute)) {
				t.Error("second take of the day within the lease: true, want false")
			}
			if !take("j", "2026-12-07", now) {
				t.Error("the next day: false, want true")
			}
			// The replica that took the 6th died: after the lease another
			// takes it over, once.
			later := now.Add(lease + time.Minute)
			if !take("j", "2026-12-06", later) {
				t.Error("an unfinished run after its lease: false, want it taken over")
			}
			if take("j", "2026-12-06", later.Add(time.Second)) {
				t.Error("the run taken over, taken again at once: true, want false")
			}
			if err := s.FinishRun(ctx, "j", "2026-12-06", later); err != nil {
				t.Fatal(err)
			}
			if take("j", "2026-12-06", later.Add(24*time.Hour)) {
				t.Error("a finished run taken again: true, want false")
			}
		})
	}
}
