package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/issuer/pages"
)

// Page sizes of GET /account/audit.
const (
	defaultCitizenAuditPage = 50
	maxCitizenAuditPage     = 200
)

// citizenAudit serves GET /account/audit?after=&limit= to a citizen logged
// in with the pages' session cookie: who accessed their data and why.
func (s *Server) citizenAudit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	citizen, err := s.Pages.CitizenFromRequest(r)
	if errors.Is(err, pages.ErrNoSession) {
		writeProblem(w, http.StatusUnauthorized, "Unauthorized", "log in to Cedula to see who accessed your data")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	q := r.URL.Query()
	var after int64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 1 {
			writeProblem(w, http.StatusBadRequest, "Invalid cursor", "after must be a positive integer, the next of a previous page")
			return
		}
	}
	limit := defaultCitizenAuditPage
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxCitizenAuditPage {
			writeProblem(w, http.StatusBadRequest, "Invalid limit", "limit must be an integer from 1 to "+strconv.Itoa(maxCitizenAuditPage))
			return
		}
	}
	subject := s.AuditSubject(citizen.ID)
	out, err := s.auditPage(ctx, after, func(after int64) ([]audit.Record, int64, error) {
		return s.Audit.EntriesAbout(ctx, subject, after, limit)
	}, s.openDetails(ctx, subject))
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// openDetails returns the function that puts an entry's details, opened
// with the subject's key, into the answer: the JSON itself, a JSON string
// for other bytes, or "erased".
func (s *Server) openDetails(ctx context.Context, subject string) func(e audit.Entry, ae *AuditEntry) error {
	return func(e audit.Entry, ae *AuditEntry) error {
		if len(e.Details) == 0 {
			return nil
		}
		plain, err := s.Shredder.Open(ctx, subject, e.Details)
		switch {
		case errors.Is(err, audit.ErrErased):
			ae.Details = json.RawMessage(`"erased"`)
		case err != nil:
			return err
		case json.Valid(plain):
			ae.Details = plain
		default:
			ae.Details, _ = json.Marshal(string(plain))
		}
		return nil
	}
}
