package app

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/reqid"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
)

// AdminScope is the scope an agency's client_credentials token needs for the
// admin API; a privileged scope (issuer.PrivilegedScopes).
const AdminScope = issuer.ScopeAdmin

func decodeHex(s string) ([]byte, error) { return hex.DecodeString(s) }

// mountAdmin adds the admin API: citizens, enrolment links and clients, for
// registrars and operators, authenticated with a client_credentials access
// token carrying AdminScope.
func (s *Server) mountAdmin(mux router) {
	mux.Handle("POST /admin/citizens", s.adminOnly(s.adminCreateCitizen))
	mux.Handle("DELETE /admin/citizens/{id}/sessions", s.adminOnly(s.adminEndSessions))
	mux.Handle("POST /admin/enrolments", s.adminOnly(s.adminEnrol))
	mux.Handle("GET /admin/clients", s.adminOnly(s.adminListClients))
	mux.Handle("POST /admin/clients", s.adminOnly(s.adminPutClient))
}

func (s *Server) adminOnly(h func(w http.ResponseWriter, r *http.Request, caller string)) http.Handler {
	return s.withScope(AdminScope, h)
}

// withScope admits requests as the echo routes' Guard does (apiAuth) and
// passes the calling client's ID on. Handlers written this way move into
// their rooms' APIs.
func (s *Server) withScope(scope string, h func(w http.ResponseWriter, r *http.Request, caller string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at, e := apiAuth{s}.Authenticate(r, scope)
		if e == nil && at.CitizenID != "" {
			e = &httpapi.Error{Status: http.StatusForbidden, Title: "Forbidden", Detail: "a citizen's token cannot call this API",
				Challenge: `Bearer realm="cedula", error="insufficient_scope", scope="` + scope + `"`}
		}
		if e != nil {
			if e.Challenge != "" {
				w.Header().Set("WWW-Authenticate", e.Challenge)
			}
			if e.Status >= 500 {
				s.internalError(w, r, e.Cause)
				return
			}
			writeProblem(w, e.Status, e.Title, e.Detail)
			return
		}
		r = r.WithContext(s.guard.OnCaller(r.Context(), at))
		h(w, r, at.ClientID)
	})
}

// decodeJSON reads a JSON body into v, rejecting unknown fields and bodies
// over 64 KiB, and writes a 400 problem when it fails.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeProblem(w, http.StatusBadRequest, "Malformed JSON", "the request body is not the JSON object this endpoint takes: "+jsonErr(err))
		return false
	}
	return true
}

// jsonErr describes a decoding error without echoing the body.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error"
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case errors.Is(err, io.EOF):
		return "empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "unreadable body"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

type citizenJSON struct {
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	Birthdate  string `json:"birthdate"`
	Email      string `json:"email"`
	Locale     string `json:"locale"`
}

func (s *Server) adminCreateCitizen(w http.ResponseWriter, r *http.Request, caller string) {
	var in citizenJSON
	if !decodeJSON(w, r, &in) {
		return
	}
	c := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: in.GivenName, FamilyName: in.FamilyName,
		Birthdate: in.Birthdate, Email: in.Email, Locale: in.Locale, Created: time.Now()}
	if err := issuer.ValidateCitizen(c); err != nil {
		writeProblem(w, http.StatusBadRequest, "Invalid citizen", strings.TrimPrefix(err.Error(), "issuer: invalid citizen: "))
		return
	}
	if err := s.Store.CreateCitizen(r.Context(), c); err != nil {
		s.internalError(w, r, err)
		return
	}
	// The registrar knows the citizen from now on, by its own sub.
	sub, err := s.Provider.Register(r.Context(), caller, c.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "citizen created", "by", caller, "citizen", c)
	writeJSON(w, http.StatusCreated, map[string]string{"id": c.ID, "sub": sub})
}

// adminEndSessions ends every session of a citizen (a lost or stolen
// device): each agency the sessions logged in to is told by back-channel
// logout; the citizen must log in again with a passkey.
func (s *Server) adminEndSessions(w http.ResponseWriter, r *http.Request, caller string) {
	id := r.PathValue("id")
	if _, err := s.Store.Citizen(r.Context(), id); errors.Is(err, issuer.ErrNotFound) {
		writeProblem(w, http.StatusNotFound, "Unknown citizen", "no citizen has that id")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	n, err := s.Provider.EndSessions(r.Context(), id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "citizen's sessions ended", "by", caller, "sessions", n)
	writeJSON(w, http.StatusOK, map[string]int{"sessions_ended": n})
}

func (s *Server) adminEnrol(w http.ResponseWriter, r *http.Request, caller string) {
	var in struct {
		CitizenID string `json:"citizen_id"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	link, expires, err := pages.Enrol(r.Context(), s.Store, in.CitizenID, "client:"+caller, s.Config.EnrolmentTTL.D(), s.Config.PublicURL)
	if errors.Is(err, issuer.ErrNotFound) {
		writeProblem(w, http.StatusNotFound, "Unknown citizen", "no citizen has that id")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"link": link, "expires": expires.UTC().Format(time.RFC3339)})
}

type clientJSON struct {
	ID                     string          `json:"client_id"`
	Name                   string          `json:"client_name"`
	RedirectURIs           []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs []string        `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes             []string        `json:"grant_types"`
	AuthMethod             string          `json:"token_endpoint_auth_method"`
	JWKS                   json.RawMessage `json:"jwks,omitempty"`
	SubjectType            string          `json:"subject_type,omitempty"`
	SectorID               string          `json:"sector_identifier,omitempty"`
	IDTokenAlg             string          `json:"id_token_signed_response_alg,omitempty"`
	BackchannelLogoutURI   string          `json:"backchannel_logout_uri,omitempty"`
	RequirePAR             bool            `json:"require_pushed_authorization_requests,omitempty"`
	Scopes                 []string        `json:"scopes,omitempty"`
	Secret                 string          `json:"client_secret,omitempty"`
}

func toClientJSON(c issuer.Client) clientJSON {
	return clientJSON{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, AuthMethod: c.AuthMethod, JWKS: c.JWKS, SubjectType: c.SubjectType, SectorID: c.SectorID,
		IDTokenAlg: c.IDTokenAlg, BackchannelLogoutURI: c.BackchannelLogoutURI, RequirePAR: c.RequirePAR, Scopes: c.Scopes}
}

func (s *Server) adminListClients(w http.ResponseWriter, r *http.Request, _ string) {
	cs, err := s.Store.ListClients(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := make([]clientJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toClientJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// adminPutClient registers or replaces a client. For client_secret_basic
// Cedula generates the secret and returns it this once.
func (s *Server) adminPutClient(w http.ResponseWriter, r *http.Request, caller string) {
	var in clientJSON
	if !decodeJSON(w, r, &in) {
		return
	}
	if in.Secret != "" {
		writeProblem(w, http.StatusBadRequest, "Invalid client", "client_secret is generated by Cedula, not sent")
		return
	}
	c := issuer.Client{ID: in.ID, Name: in.Name, RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		GrantTypes: in.GrantTypes, AuthMethod: in.AuthMethod, JWKS: in.JWKS, SubjectType: in.SubjectType, SectorID: in.SectorID,
		IDTokenAlg: in.IDTokenAlg, BackchannelLogoutURI: in.BackchannelLogoutURI, RequirePAR: in.RequirePAR, Scopes: in.Scopes, Created: time.Now()}
	if c.SubjectType == "" {
		c.SubjectType = issuer.SubjectPairwise
	}
	var secret string
	if c.AuthMethod == issuer.AuthClientSecretBasic {
		secret, c.SecretHash = issuer.NewClientSecret()
	}
	if err := c.Validate(); err != nil {
		writeProblem(w, http.StatusBadRequest, "Invalid client", strings.TrimPrefix(err.Error(), "issuer: invalid client configuration: "))
		return
	}
	if len(c.JWKS) > 0 {
		if err := jose.ValidPublicJWKS(c.JWKS); err != nil {
			writeProblem(w, http.StatusBadRequest, "Invalid client", "jwks is not a JSON Web Key Set of public keys")
			return
		}
	}
	// Separation of duties: privileged scopes are the operator's to grant
	// and remove, never the admin API's — not even for the caller itself.
	err := s.Store.PutClientKeepPrivileges(r.Context(), c)
	if errors.Is(err, issuer.ErrPrivileged) {
		writeProblem(w, http.StatusForbidden, "Privileged scope",
			"this registration would add or remove "+strings.Join(issuer.PrivilegedScopes(), " or ")+
				" compared with the stored client; those are granted and removed by the operator only "+
				"(cedula admin client grant|revoke, or the clients configuration); nothing was stored")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.Provider.ForgetClient(c.ID) // this replica applies the change at once; others within seconds
	s.log.InfoContext(r.Context(), "client registered", "by", caller, "client_id", c.ID)
	out := toClientJSON(c)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	id := reqid.From(r.Context())
	s.log.ErrorContext(r.Context(), "internal error", "err", err)
	writeProblem(w, http.StatusInternalServerError, "Internal error", "Something went wrong on our side. Quote request ID "+id+".")
}
