package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/issuer"
)

// ConsentScope lets an agency system ask the consent ledger before it uses
// a citizen's data (POST /consent/decide).
const ConsentScope = "cedula:consent"

// decideJSON is the body of POST /consent/decide: the citizen by the sub
// the agency knows them by, the purpose (one of the agency's own) and the
// data categories it would use.
type decideJSON struct {
	Sub        string   `json:"sub"`
	Purpose    string   `json:"purpose"`
	Categories []string `json:"categories"`
}

// decisionJSON is the answer: whether the agency may, on which basis, and
// the consent record event it rests on.
type decisionJSON struct {
	Allow          bool      `json:"allow"`
	Reason         string    `json:"reason"`
	LegalBasis     string    `json:"legal_basis,omitempty"`
	PurposeVersion int       `json:"purpose_version,omitempty"`
	Record         string    `json:"record,omitempty"`
	Time           time.Time `json:"time"`
}

// decideConsent serves POST /consent/decide for agency systems (a
// client_credentials token with scope cedula:consent; the controller is
// always the calling client). Every decision, allow or deny, is in the
// audit log before the answer leaves.
func (s *Server) decideConsent(w http.ResponseWriter, r *http.Request, caller string) {
	var in decideJSON
	if !decodeJSON(w, r, &in) {
		return
	}
	if in.Sub == "" || len(in.Sub) > 256 {
		writeProblem(w, http.StatusBadRequest, "Invalid request", "sub, the citizen's subject identifier at this client, is required")
		return
	}
	citizenID, err := s.Provider.SubjectCitizen(r.Context(), caller, in.Sub)
	if errors.Is(err, issuer.ErrNotFound) {
		writeProblem(w, http.StatusNotFound, "Unknown subject", "no citizen is known to this client by that sub")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	d, err := s.Consent.Decide(r.Context(), consent.Query{Subject: citizenID, Controller: caller, Purpose: in.Purpose, Categories: in.Categories})
	if errors.Is(err, consent.ErrInvalid) {
		writeProblem(w, http.StatusBadRequest, "Invalid request", strings.TrimPrefix(err.Error(), "consent: invalid: "))
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := decisionJSON{Allow: d.Allow, Reason: string(d.Reason), LegalBasis: string(d.Basis), PurposeVersion: d.PurposeVersion, Time: d.Time}
	if !d.Record.IsZero() {
		out.Record = d.Record.String()
	}
	writeJSON(w, http.StatusOK, out)
}
