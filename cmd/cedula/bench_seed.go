package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/audit"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// benchSeedOptions are the flags of cedula bench seed.
type benchSeedOptions struct {
	db, dataDir string
	entries     int64
	citizens    int
	days        int
	quiet       bool
}

func newBenchSeedCmd() *cobra.Command {
	var o benchSeedOptions
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Load a database in bulk with audit entries and citizens",
		Long: `Load a database in bulk with --entries audit entries (hashes, proofs and every
index as the server writes them) and --citizens citizens (a passkey and pairwise
subjects each), to measure the server at a national service's size.`,
		Example: "  cedula bench seed --entries 10000000 --citizens 1000000 --db postgres://…",
		Args:    noArgs,
		RunE:    runWith(&o, benchSeed),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.db, "db", "", "database: a SQLite path or postgres://… (default DATA_DIR/cedula.db)")
	fs.StringVar(&o.dataDir, "data-dir", "./data", "the server's data folder: its secret (CEDULA_SECRET, else DATA_DIR/secret) keys the pseudonyms and subjects, so that the server serves what was seeded")
	fs.Int64Var(&o.entries, "entries", 0, "audit entries to append")
	fs.IntVar(&o.citizens, "citizens", 0, "citizens to create, each with a passkey and a pairwise subject per sector")
	fs.IntVar(&o.days, "days", 30, "the entries' times spread over this many days up to now")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines, only the summary")
	return cmd
}

// benchSeed loads a database with audit entries and citizens in bulk, for
// measuring the server on a database of a national service's size.
func benchSeed(ctx context.Context, o benchSeedOptions, stdout io.Writer) error {
	var bad []error
	if o.entries < 0 || o.citizens < 0 || o.entries+int64(o.citizens) == 0 {
		bad = append(bad, errors.New("--entries and --citizens: give at least one, neither negative"))
	}
	if o.days < 1 {
		bad = append(bad, fmt.Errorf("--days %d: want at least 1", o.days))
	}
	if err := errors.Join(bad...); err != nil {
		return fmt.Errorf("cedula bench seed: %w", err)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.DB = o.dataDir, o.db
	d, km, err := app.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = km // opened (and created) as the server would; the seed signs nothing
	secret, err := app.Secret(cfg)
	if err != nil {
		return err
	}
	sd, err := newSeeder(ctx, d, secret, o.entries, o.citizens, time.Duration(o.days)*24*time.Hour)
	if err != nil {
		return err
	}
	out := &seedOutput{w: stdout, quiet: o.quiet, start: time.Now()}
	fmt.Fprintf(stdout, "seeding %s: %d audit entries, %d citizens\n", d.Dialect, o.entries, o.citizens)

	start := time.Now()
	if err := sqlstore.LoadCitizens(ctx, d, o.citizens, sd.citizen, func(table string, done, total int) {
		out.progress(table, int64(done), int64(total))
	}); err != nil {
		return err
	}
	tCitizens := time.Since(start)
	start = time.Now()
	var tEntries time.Duration
	if err := auditstore.Load(ctx, d, o.entries, sd.entry, func(p auditstore.LoadProgress) {
		if p.Phase == "indexes" && tEntries == 0 {
			tEntries = time.Since(start)
		}
		out.progress("audit "+p.Phase, p.Done, p.Total)
	}); err != nil {
		return err
	}
	tAudit := time.Since(start)
	if tEntries == 0 {
		tEntries = tAudit
	}
	start = time.Now()
	if err := settle(ctx, d); err != nil {
		return err
	}
	tSettle := time.Since(start)
	fmt.Fprintf(stdout, "seeded %s in %v: citizens %v, audit entries %v, their indexes %v, %s %v\n",
		d.Dialect, round(tCitizens+tAudit+tSettle), round(tCitizens), round(tEntries), round(tAudit-tEntries), settleWhat(d), round(tSettle))
	return nil
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// settle leaves the database as a server would find it after a quiet
// night: on PostgreSQL vacuumed and analysed (else autovacuum would do it
// during the first measurement), on SQLite with its WAL checkpointed.
func settle(ctx context.Context, d *db.DB) error {
	if d.Dialect == db.Postgres {
		_, err := d.ExecContext(ctx, `VACUUM (ANALYZE)`)
		return err
	}
	_, err := d.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func settleWhat(d *db.DB) string {
	if d.Dialect == db.Postgres {
		return "VACUUM ANALYZE"
	}
	return "WAL checkpoint"
}

// seedOutput prints a progress line at most once a second.
type seedOutput struct {
	w     io.Writer
	quiet bool
	start time.Time
	last  time.Time
}

func (o *seedOutput) progress(what string, done, total int64) {
	if o.quiet || (time.Since(o.last) < time.Second && done < total) {
		return
	}
	o.last = time.Now()
	fmt.Fprintf(o.w, "%6.0fs  %-22s %11d / %d\n", time.Since(o.start).Seconds(), what, done, total)
}

// seeder makes the seeded citizens and entries, each a function of its
// number (and of a run key, so that two seeds into one database never
// collide): the same number gives the same citizen every time, as
// sqlstore.LoadCitizens needs.
type seeder struct {
	runKey   [16]byte
	secret   []byte
	ps       *audit.Pseudonyms
	citizens int
	entries  int64
	from     time.Time
	span     time.Duration
	// sectors are the clients whose sectors know every citizen by a
	// pairwise subject: the registered clients of the code flow, and two
	// agencies of the seed's own.
	sectors []issuer.Client
	// agencies act in the entries: the registered clients and the seed's.
	agencies []string
	// pseudonyms caches each citizen's audit pseudonym.
	pseudonyms []string
}

// seedAgencies are the seed's own agencies (clients that need not be
// registered: entries and subjects only name them).
var seedAgencies = []issuer.Client{
	{ID: "seed-tributaria", RedirectURIs: []string{"https://tributaria.seed.example/cb"}, SubjectType: issuer.SubjectPairwise},
	{ID: "seed-salud", RedirectURIs: []string{"https://salud.seed.example/cb"}, SubjectType: issuer.SubjectPairwise},
}

func newSeeder(ctx context.Context, d *db.DB, secret []byte, entries int64, citizens int, span time.Duration) (*seeder, error) {
	sd := &seeder{secret: secret, ps: audit.NewPseudonyms(secret), citizens: citizens, entries: entries,
		span: span, from: time.Now().Add(-span), pseudonyms: make([]string, citizens)}
	if _, err := rand.Read(sd.runKey[:]); err != nil {
		return nil, err
	}
	clients, err := sqlstore.New(d).ListClients(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range clients {
		if c.HasGrant(issuer.GrantAuthorizationCode) {
			sd.sectors = append(sd.sectors, c)
		}
		sd.agencies = append(sd.agencies, c.ID)
	}
	for _, c := range seedAgencies {
		sd.sectors = append(sd.sectors, c)
		sd.agencies = append(sd.agencies, c.ID)
	}
	return sd, nil
}

// derive returns 32 bytes that stand for (what, n) in this run.
func (sd *seeder) derive(what string, n int64) [32]byte {
	h := sha256.New()
	h.Write(sd.runKey[:])
	h.Write([]byte(what))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func (sd *seeder) citizenID(i int) string {
	b := sd.derive("citizen", int64(i))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (sd *seeder) pseudonym(i int) string {
	if sd.pseudonyms[i] == "" {
		sd.pseudonyms[i] = sd.ps.Of(sd.citizenID(i))
	}
	return sd.pseudonyms[i]
}

var (
	seedGiven  = []string{"Ana", "José", "María", "Juan", "Lucía", "Carlos", "Carmen", "Luis", "Elena", "Javier", "Laura", "Pedro"}
	seedFamily = []string{"García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín", "Ruiz", "Díaz"}
	// seedCOSEPrefix opens an ES256 COSE_Key (RFC 9053 §7.1.1: kty EC2,
	// alg ES256, crv P-256, then x and y of 32 bytes each).
	seedCOSEPrefix = []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20}
	seedAAGUID     = []byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4}
)

// citizen returns citizen i: a fictional person enrolled with one passkey
// (whose private key nobody holds: it can never log in) and known to every
// sector of sd.sectors by a pairwise subject.
func (sd *seeder) citizen(i int) sqlstore.LoadedCitizen {
	id := sd.citizenID(i)
	r := sd.derive("person", int64(i))
	given, family := seedGiven[int(r[0])%len(seedGiven)], seedFamily[int(r[1])%len(seedFamily)]+" "+seedFamily[int(r[2])%len(seedFamily)]
	created := sd.from.Add(time.Duration(float64(sd.span) * float64(i) / float64(max(sd.citizens, 1)) / 4)).UTC().Truncate(time.Microsecond)
	locale := "es"
	if r[3]%5 == 0 {
		locale = "en"
	}
	c := issuer.Citizen{ID: id, GivenName: given, FamilyName: family,
		Birthdate: fmt.Sprintf("%04d-%02d-%02d", 1940+int(r[4])%66, 1+int(r[5])%12, 1+int(r[6])%28),
		Email:     fmt.Sprintf("ciudadano%d@correo.seed.example", i), Locale: locale, Created: created}
	k := sd.derive("passkey", int64(i))
	xy := sha256.Sum256(k[:])
	pub := append(append(append(append([]byte{}, seedCOSEPrefix...), k[:]...), 0x22, 0x58, 0x20), xy[:]...)
	p := issuer.Passkey{ID: k[:], CitizenID: id, Name: "Mi teléfono", PublicKey: pub, AttestationType: "none", AAGUID: seedAAGUID,
		BackupEligible: true, BackupState: true, Transports: []string{"hybrid", "internal"}, Created: created, LastUsed: created}
	lc := sqlstore.LoadedCitizen{Citizen: c, Passkeys: []issuer.Passkey{p}}
	for _, sc := range sd.sectors {
		sector, sub := oidcop.PairwiseSubject(sd.secret, sc, id)
		lc.Subjects = append(lc.Subjects, sqlstore.Subject{Sector: sector, Sub: sub})
	}
	return lc
}

// entry returns entry n of the log's seeded part: the enrolment of each
// citizen first (created, enrolment link made and used, passkey added —
// four entries each), then a service's daily life — tokens for agencies'
// back-ends, logins, authorizations, refreshes, consent decisions — about
// citizens at random, with times spread evenly over the span.
func (sd *seeder) entry(n int64) (audit.Entry, error) {
	t := sd.from.Add(time.Duration(float64(sd.span) * float64(n) / float64(max(sd.entries, 1))))
	r := sd.derive("entry", n)
	e := audit.Entry{Time: t, Outcome: audit.Allowed, RequestID: hex.EncodeToString(r[:8])}
	agency := sd.agencies[int(r[8])%len(sd.agencies)]
	system := audit.Actor{Kind: audit.ActorSystem, ID: "oidc-provider"}
	if sd.citizens > 0 && n < 4*int64(sd.citizens) {
		i := int(n / 4)
		e.Subject = sd.pseudonym(i)
		citizen := audit.Actor{Kind: audit.ActorCitizen, ID: e.Subject}
		switch n % 4 {
		case 0:
			e.Action, e.Actor = issuer.ActionCitizenCreate, audit.Actor{Kind: audit.ActorSystem, ID: "admin-cli"}
		case 1:
			e.Action, e.Actor = issuer.ActionEnrolmentCreate, system
		case 2:
			e.Action, e.Actor = issuer.ActionEnrolmentUse, citizen
		case 3:
			e.Action, e.Actor = issuer.ActionPasskeyAdd, citizen
		}
		return e, nil
	}
	if sd.citizens == 0 {
		e.Action, e.Actor = issuer.ActionToken, audit.Actor{Kind: audit.ActorClient, ID: agency}
		return e, nil
	}
	e.Subject = sd.pseudonym(int(binary.BigEndian.Uint32(r[12:16]) % uint32(sd.citizens)))
	citizen := audit.Actor{Kind: audit.ActorCitizen, ID: e.Subject}
	client := audit.Actor{Kind: audit.ActorClient, ID: agency}
	switch k := r[9] % 100; {
	case k < 30: // an agency's back-end (client_credentials): about nobody
		e.Action, e.Actor, e.Subject = issuer.ActionToken, client, ""
	case k < 40:
		e.Action, e.Actor = issuer.ActionLogin, citizen
	case k < 48:
		e.Action, e.Actor = issuer.ActionSessionStart, citizen
	case k < 58:
		e.Action, e.Actor, e.Categories = issuer.ActionAuthorize, client, []string{"email", "profile"}
	case k < 68:
		e.Action, e.Actor, e.Categories = issuer.ActionToken, client, []string{"email", "profile"}
	case k < 74:
		e.Action, e.Actor, e.Categories = issuer.ActionRefresh, client, []string{"email", "profile"}
	case k < 94:
		e.Action, e.Actor, e.Purpose, e.LegalBasis = consent.ActionDecide, client, "dpv:ServiceProvision", "consent"
		e.ConsentRecord = consent.AuditRecord(agency+"-avisos", 1, consent.Ref{RecordID: hex.EncodeToString(r[16:24]), Seq: 1})
		e.Categories = []string{"contact"}
		if r[10]%10 == 0 {
			e.Outcome = audit.Denied
		}
	case k < 97:
		e.Action, e.Actor = issuer.ActionSessionEnd, citizen
	default:
		e.Action, e.Actor = issuer.ActionRevoke, client
	}
	if strings.HasPrefix(e.Action, "passkey.") && r[11]%50 == 0 {
		e.Outcome = audit.Denied // an authenticator whose counter went back
	}
	return e, nil
}
