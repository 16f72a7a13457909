package wallet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/wallet/inbox"
)

// Notifier posts to a citizen's inbox (*inbox.Service).
type Notifier interface {
	Post(ctx context.Context, citizenID string, n inbox.Note) (inbox.Message, bool, error)
}

// Watch is what the wallet watches of a held credential, kept in the
// clear beside it (no claim, no key): where its issuer lists its status,
// when it expires, the status last seen, whether the citizen has been
// warned that it expires.
type Watch struct {
	ID, CitizenID string
	Iss           string // the credential's iss, whose keys sign the list
	ListURI       string // empty when the credential has no status
	Index         int
	Expires       time.Time // zero when it does not expire
	// WarnAt is when the citizen is told it expires (zero: never).
	WarnAt time.Time
	Status Status
	Warned bool
}

// WatchStore keeps the watches (Record.Watch is stored with its record
// and deleted with it). Methods are safe for concurrent use, also from
// several replicas.
type WatchStore interface {
	// Watched lists the citizen's watches.
	Watched(ctx context.Context, citizenID string) ([]Watch, error)
	// WatchedLists gives each status list some unrevoked credential is
	// on, once (Iss and ListURI set).
	WatchedLists(ctx context.Context) ([]Watch, error)
	// WatchedOn lists the watches on one status list.
	WatchedOn(ctx context.Context, listURI string) ([]Watch, error)
	// SetWatchStatus moves a watch from status from to to, and reports
	// whether it did (false: someone else did, or it was not at from).
	SetWatchStatus(ctx context.Context, id string, from, to Status) (bool, error)
	// Expiring lists up to limit unwarned watches whose WarnAt has come
	// by now, soonest first.
	Expiring(ctx context.Context, now time.Time, limit int) ([]Watch, error)
	// SetWarned marks a watch warned, and reports whether it was not.
	SetWarned(ctx context.Context, id string) (bool, error)
}

// maxExpiryNotice is how long before its expiry a citizen is told a
// credential expires, at most; a credential that lives less is announced
// a fifth of its life before.
const maxExpiryNotice = 30 * 24 * time.Hour

// watchOf is what the wallet watches of a credential of summary sum.
func watchOf(id, citizenID string, sum *summary) *Watch {
	w := &Watch{ID: id, CitizenID: citizenID, Iss: sum.Iss, Expires: sum.ExpiresAt, Status: StatusValid}
	if !sum.ExpiresAt.IsZero() {
		notice := maxExpiryNotice
		if !sum.IssuedAt.IsZero() {
			notice = min(notice, sum.ExpiresAt.Sub(sum.IssuedAt)/5)
		}
		w.WarnAt = sum.ExpiresAt.Add(-notice)
	}
	if sum.Status != nil {
		w.ListURI, w.Index = sum.Status.URI, sum.Status.Index
	}
	return w
}

// names are a credential's name and its issuer's, in es and en.
type names struct{ credential, issuer map[string]string }

func namesOf(sum *summary) names {
	n := names{credential: map[string]string{}, issuer: map[string]string{}}
	for _, lang := range []string{"es", "en"} {
		n.credential[lang] = pick(sum.Display, lang).Name
		if n.credential[lang] == "" {
			n.credential[lang] = sum.VCT
		}
		n.issuer[lang] = pick(sum.IssuerDisplay, lang).Name
		if n.issuer[lang] == "" {
			n.issuer[lang] = sum.Issuer
		}
	}
	return n
}

// note is a message about a credential, its texts in both languages from
// the templates given (each with %[1]s the credential's name, %[2]s its
// issuer's, %[3]s a date).
func note(kind Kind, id string, n names, date time.Time, es, en [2]string) inbox.Note {
	out := inbox.Note{Kind: inbox.Kind(kind), CredentialID: id, Title: map[string]string{}, Body: map[string]string{}}
	day := date.UTC().Format(time.DateOnly)
	for lang, t := range map[string][2]string{"es": es, "en": en} {
		out.Title[lang] = fmt.Sprintf(t[0], n.credential[lang], n.issuer[lang], day)
		out.Body[lang] = fmt.Sprintf(t[1], n.credential[lang], n.issuer[lang], day)
	}
	return out
}

// Kind is an inbox message kind the wallet posts.
type Kind = inbox.Kind

// The wallet's texts, by kind: Spanish, then English.
var texts = map[Kind][2][2]string{
	inbox.CredentialReceived: {
		{"Nueva credencial: %[1]s", "%[2]s la ha emitido en tu cartera."},
		{"New credential: %[1]s", "%[2]s issued it into your wallet."}},
	inbox.CredentialSuspended: {
		{"Credencial suspendida: %[1]s", "%[2]s la ha suspendido: no podrás presentarla mientras siga suspendida."},
		{"Credential suspended: %[1]s", "%[2]s has suspended it: you cannot present it while it stays suspended."}},
	inbox.CredentialValid: {
		{"Credencial válida de nuevo: %[1]s", "%[2]s ha levantado la suspensión; puedes volver a presentarla."},
		{"Credential valid again: %[1]s", "%[2]s has lifted the suspension; you can present it again."}},
	inbox.CredentialRevoked: {
		{"Credencial revocada: %[1]s", "%[2]s la ha revocado definitivamente. Si la necesitas, pide una nueva."},
		{"Credential revoked: %[1]s", "%[2]s has revoked it for good. If you need it, ask for a new one."}},
	inbox.CredentialExpiring: {
		{"Tu credencial %[1]s caduca el %[3]s", "Pide una nueva a %[2]s antes de esa fecha si la vas a necesitar."},
		{"Your %[1]s expires on %[3]s", "Ask %[2]s for a new one before then if you will need it."}},
}

// tell posts a message of kind about credential id; a failure is
// returned for the caller to log: the change it reports stands.
func (s *Service) tell(ctx context.Context, citizenID, id string, kind Kind, sum *summary, date time.Time, dedupe string) error {
	if s.cfg.Inbox == nil {
		return nil
	}
	t := texts[kind]
	n := note(kind, id, namesOf(sum), date, t[0], t[1])
	n.Dedupe = dedupe
	_, _, err := s.cfg.Inbox.Post(ctx, citizenID, n)
	return err
}

// statusKinds names the message of a status change.
var statusKinds = map[Status]Kind{StatusSuspended: inbox.CredentialSuspended, StatusRevoked: inbox.CredentialRevoked,
	StatusValid: inbox.CredentialValid}

// CheckStatuses reads afresh the status lists of the citizen's
// credentials — or, with citizenID empty, of every credential the wallet
// watches — and tells each citizen whose credential was suspended,
// reinstated or revoked since last seen. Each list is fetched once. A
// change is told once, whichever replica saw it first. It returns how
// many changes it told.
func (s *Service) CheckStatuses(ctx context.Context, citizenID string) (int, error) {
	ws, ok := s.cfg.Store.(WatchStore)
	if !ok {
		return 0, nil
	}
	byList := map[string][]Watch{}
	var lists []Watch
	if citizenID != "" {
		all, err := ws.Watched(ctx, citizenID)
		if err != nil {
			return 0, err
		}
		for _, w := range all {
			if w.ListURI == "" || w.Status == StatusRevoked {
				continue
			}
			if _, seen := byList[w.ListURI]; !seen {
				lists = append(lists, w)
			}
			byList[w.ListURI] = append(byList[w.ListURI], w)
		}
	} else {
		var err error
		if lists, err = ws.WatchedLists(ctx); err != nil {
			return 0, err
		}
	}
	told := 0
	var errs []error
	for _, l := range lists {
		on, ok := byList[l.ListURI]
		if !ok {
			var err error
			if on, err = ws.WatchedOn(ctx, l.ListURI); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		first := true
		for _, w := range on {
			if w.Status == StatusRevoked {
				continue
			}
			// The list afresh for the first credential, from the cache
			// just filled for the others.
			now, at := s.status.status(ctx, w.Iss, statusRef(w), first)
			first = false
			if at.IsZero() || now == StatusUnknown || now == w.Status {
				continue
			}
			moved, err := ws.SetWatchStatus(ctx, w.ID, w.Status, now)
			if err != nil || !moved {
				errs = append(errs, err)
				continue
			}
			if err := s.tellStatus(ctx, w, now); err != nil {
				errs = append(errs, err)
				continue
			}
			told++
		}
	}
	return told, errors.Join(errs...)
}

// tellStatus tells the citizen their credential's status changed.
func (s *Service) tellStatus(ctx context.Context, w Watch, now Status) error {
	r, err := s.cfg.Store.GetCredential(ctx, w.CitizenID, w.ID)
	if err != nil {
		return err
	}
	sum, err := s.summaryOf(ctx, r)
	if err != nil {
		return err
	}
	return s.tell(ctx, w.CitizenID, w.ID, statusKinds[now], sum, time.Time{}, "")
}

// WarnExpiring tells each citizen whose credential expires soon (30 days
// before, or a fifth of its life for a short-lived one: Watch.WarnAt),
// once, and returns how many it told.
func (s *Service) WarnExpiring(ctx context.Context) (int, error) {
	ws, ok := s.cfg.Store.(WatchStore)
	if !ok {
		return 0, nil
	}
	now := s.cfg.Now()
	told := 0
	var errs []error
	for {
		due, err := ws.Expiring(ctx, now, 200)
		if err != nil {
			return told, err
		}
		progress := false
		for _, w := range due {
			ok, err := ws.SetWarned(ctx, w.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			// Warned now, or by another replica: either way it leaves the
			// list, so the next page moves on.
			progress = true
			if !ok || !now.Before(w.Expires) {
				// Someone else told them, or it expired unseen (the server
				// was down): nothing to warn of.
				continue
			}
			r, err := s.cfg.Store.GetCredential(ctx, w.CitizenID, w.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			sum, err := s.summaryOf(ctx, r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.tell(ctx, w.CitizenID, w.ID, inbox.CredentialExpiring, sum, w.Expires, ""); err != nil {
				errs = append(errs, err)
				continue
			}
			told++
		}
		if len(due) < 200 || !progress {
			return told, errors.Join(errs...)
		}
	}
}

func statusRef(w Watch) statuslist.Reference {
	return statuslist.Reference{URI: w.ListURI, Index: w.Index}
}
