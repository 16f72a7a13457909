package app

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/cedula/cedula/consent/consentapi"
	"github.com/cedula/cedula/internal/reqid"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer/pages"
)

// CitizenExportRing is the key ring (ES256) that signs citizens' exports;
// its public keys are at /account/export-keys.
const CitizenExportRing = "citizen-export"

// CitizenExportJWSType is the "typ" of an export's signature.
const CitizenExportJWSType = "citizen-export+jwt"

// CitizenExport is everything Cedula holds about a citizen (GDPR Art. 15,
// and Art. 20 in a machine-readable form).
type CitizenExport struct {
	Issuer  string    `json:"iss"`
	Issued  time.Time `json:"issued"`
	Subject string    `json:"audit_subject"` // the citizen's pseudonym in the audit log
	Citizen struct {
		ID         string    `json:"id"`
		GivenName  string    `json:"given_name,omitempty"`
		FamilyName string    `json:"family_name,omitempty"`
		Birthdate  string    `json:"birthdate,omitempty"`
		Email      string    `json:"email,omitempty"`
		Locale     string    `json:"locale,omitempty"`
		Created    time.Time `json:"created"`
	} `json:"citizen"`
	Passkeys          []exportPasskey `json:"passkeys"`
	RecoveryCodesLeft int             `json:"recovery_codes_left"`
	// AgenciesWithAccess hold unexpired, unrevoked tokens for the citizen.
	AgenciesWithAccess []string       `json:"agencies_with_access"`
	Consents           []consentState `json:"consents"`
	ConsentHistory     []eventJSON    `json:"consent_history"`
	// Audit holds every entry about the citizen, newest first, with its
	// inclusion proof against the checkpoint carried once.
	Audit AuditPage `json:"audit"`
}

type exportPasskey struct {
	Name           string    `json:"name"`
	Created        time.Time `json:"created"`
	LastUsed       time.Time `json:"last_used,omitzero"`
	BackupEligible bool      `json:"backup_eligible"`
	BackupState    bool      `json:"backup_state"`
	Transports     []string  `json:"transports,omitempty"`
	AAGUID         string    `json:"aaguid,omitempty"`
}

type consentState struct {
	Record         string    `json:"record"`
	Purpose        string    `json:"purpose"`
	PurposeVersion int       `json:"purpose_version"`
	Controller     string    `json:"controller"`
	State          string    `json:"state"`
	LegalBasis     string    `json:"legal_basis"`
	Categories     []string  `json:"categories"`
	NoticeVersion  string    `json:"notice_version"`
	Updated        time.Time `json:"updated"`
	Expires        time.Time `json:"expires,omitzero"`
}

// exportOf gathers everything held about citizenID.
func (s *Server) exportOf(ctx context.Context, citizenID string) (CitizenExport, error) {
	var x CitizenExport
	c, err := s.Store.Citizen(ctx, citizenID)
	if err != nil {
		return x, err
	}
	x.Issuer, x.Issued, x.Subject = s.Config.PublicURL, time.Now().UTC(), s.AuditSubject(citizenID)
	x.Citizen.ID, x.Citizen.GivenName, x.Citizen.FamilyName = c.ID, c.GivenName, c.FamilyName
	x.Citizen.Birthdate, x.Citizen.Email, x.Citizen.Locale, x.Citizen.Created = c.Birthdate, c.Email, c.Locale, c.Created
	pks, err := s.Store.PasskeysOf(ctx, citizenID)
	if err != nil {
		return x, err
	}
	x.Passkeys = []exportPasskey{}
	for _, p := range pks {
		x.Passkeys = append(x.Passkeys, exportPasskey{Name: p.Name, Created: p.Created, LastUsed: p.LastUsed,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState, Transports: p.Transports, AAGUID: hex.EncodeToString(p.AAGUID)})
	}
	if x.RecoveryCodesLeft, err = s.Store.RecoveryCodesLeft(ctx, citizenID); err != nil {
		return x, err
	}
	if x.AgenciesWithAccess, err = s.Store.GrantClients(ctx, citizenID, time.Now()); err != nil {
		return x, err
	}
	recs, err := s.Consent.Records(ctx, citizenID)
	if err != nil {
		return x, err
	}
	x.Consents = []consentState{}
	for _, r := range recs {
		x.Consents = append(x.Consents, consentState{Record: r.Ref().String(), Purpose: r.Key.Purpose, PurposeVersion: r.PurposeVersion,
			Controller: r.Key.Controller, State: string(r.State), LegalBasis: string(r.LegalBasis), Categories: r.Categories,
			NoticeVersion: r.NoticeVersion, Updated: r.Updated, Expires: r.Expires})
	}
	es, err := s.Consent.History(ctx, citizenID)
	if err != nil {
		return x, err
	}
	x.ConsentHistory = consentapi.Events(es)
	// Everything appended so far, under a checkpoint signed now.
	if err := s.Audit.Flush(ctx); err != nil {
		return x, err
	}
	if _, err := s.Checkpointer.Checkpoint(ctx); err != nil {
		return x, err
	}
	var all []AuditEntry
	for after := int64(0); ; {
		page, err := s.auditPage(ctx, after, func(after int64) ([]audit.Record, int64, error) {
			return s.Audit.EntriesAbout(ctx, x.Subject, after, audit.MaxEntries)
		}, s.openDetails(ctx, x.Subject))
		if err != nil {
			return x, err
		}
		if after == 0 {
			x.Audit = page
		}
		all = append(all, page.Entries...)
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	x.Audit.Entries, x.Audit.Next = all, 0
	return x, nil
}

// citizenExport serves GET /account/export to the logged-in citizen: the
// export as JSON and, in "signature", a JWS (ring CitizenExportRing) whose
// payload is the same export, so that anyone can check it came from
// Cedula unchanged. Taking the export is itself audited.
func (s *Server) citizenExport(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	citizen, err := s.Pages.CitizenFromRequest(r)
	if errors.Is(err, pages.ErrNoSession) {
		writeProblem(w, http.StatusUnauthorized, "Unauthorized", "log in to Cedula to download your data")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	subject := s.AuditSubject(citizen.ID)
	if _, err := s.Audit.Append(ctx, audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorCitizen, ID: subject},
		Action: "citizen.export", Subject: subject, LegalBasis: "legal-obligation", Outcome: audit.Allowed, RequestID: reqid.From(ctx)}); err != nil {
		s.internalError(w, r, err)
		return
	}
	x, err := s.exportOf(ctx, citizen.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	k, err := s.Keys.Active(ctx, CitizenExportRing, keys.ES256)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	sig, err := jose.SignJSON(ctx, k, x, map[string]any{"typ": CitizenExportJWSType})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="cedula-my-data.json"`)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"export": x, "signature": sig, "keys": s.Config.PublicURL + "/account/export-keys"})
}

// jwksHandler serves the public keys of ring (ES256).
func (s *Server) jwksHandler(ring string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if _, err := s.Keys.Active(ctx, ring, keys.ES256); err != nil {
			s.internalError(w, r, err)
			return
		}
		pubs, err := s.Keys.Verification(ctx, ring)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		b, err := jose.JWKS(pubs...)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(b)
	}
}
