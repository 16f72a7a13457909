package app

import (
	"context"
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/issuer"
)

// The DPO's view of the privileged scopes (issuer.PrivilegedScopes), which
// only the operator grants and removes (scope cedula:dpo):
//
//	GET /dpo/privileges[?format=csv]          who holds which privileged scope now, since when
//	GET /dpo/privileges/history[?format=csv]  every grant and removal, newest first: when, which client and scope, by whom
//
// The history is read from the audit log (the entries of
// issuer.ActionPrivilegeGrant and ActionPrivilegeRevoke), so each change
// comes with its index: GET /dpo/audit/export?action=… proves it.

func (s *Server) mountDPOPrivileges(mux router) {
	mux.Handle("GET /dpo/privileges", s.withScope(DPOScope, s.dpoPrivileges))
	mux.Handle("GET /dpo/privileges/history", s.withScope(DPOScope, s.dpoPrivilegeHistory))
}

// PrivilegeHolder is a client holding a privileged scope. Since is the
// time of the latest grant of that scope to that client in the log; nil
// when the log has none (a grant made before grants were recorded).
type PrivilegeHolder struct {
	Scope      string     `json:"scope"`
	ClientID   string     `json:"client_id"`
	ClientName string     `json:"client_name"`
	Since      *time.Time `json:"since,omitempty"`
}

// PrivilegeChange is one grant or removal of a privileged scope.
type PrivilegeChange struct {
	Index     int64      `json:"index"`
	Time      time.Time  `json:"time"`
	Change    string     `json:"change"` // "grant" or "revoke"
	Scope     string     `json:"scope"`
	ClientID  string     `json:"client_id"`
	Actor     AuditActor `json:"actor"`
	RequestID string     `json:"request_id,omitempty"`
}

// PrivilegeHistory reads every grant and removal of a privileged scope by
// the operator from the log, newest first.
func (s *Server) PrivilegeHistory(ctx context.Context) ([]PrivilegeChange, error) {
	if err := s.Audit.Flush(ctx); err != nil { // changes still in the outbox
		return nil, err
	}
	var out []PrivilegeChange
	for action, change := range map[string]string{issuer.ActionPrivilegeGrant: "grant", issuer.ActionPrivilegeRevoke: "revoke"} {
		q := audit.Query{Action: action, Limit: audit.MaxSearch}
		for {
			recs, next, err := s.Audit.Search(ctx, q)
			if err != nil {
				return nil, err
			}
			for _, rec := range recs {
				e, err := rec.Entry()
				if err != nil {
					return nil, err
				}
				// The operator's changes only: an agency with cedula:audit
				// may append an entry of that action, but as itself.
				clientID, scope, ok := issuer.ParsePrivilegeCategories(e.Categories)
				if !ok || e.Actor.Kind != audit.ActorSystem {
					continue
				}
				out = append(out, PrivilegeChange{Index: rec.Index, Time: e.Time, Change: change, Scope: scope, ClientID: clientID,
					Actor: AuditActor{Kind: string(e.Actor.Kind), ID: e.Actor.ID}, RequestID: e.RequestID})
			}
			if next == 0 {
				break
			}
			q.After = next
		}
	}
	slices.SortFunc(out, func(a, b PrivilegeChange) int { return int(b.Index - a.Index) })
	return out, nil
}

func (s *Server) dpoPrivileges(w http.ResponseWriter, r *http.Request, _ string) {
	asCSV, ok := wantsCSV(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	history, err := s.PrivilegeHistory(ctx)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	clients, err := s.Store.ListClients(ctx)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := []PrivilegeHolder{}
	for _, scope := range issuer.PrivilegedScopes() {
		for _, c := range clients {
			if !slices.Contains(c.Privileges(), scope) {
				continue
			}
			h := PrivilegeHolder{Scope: scope, ClientID: c.ID, ClientName: c.Name}
			for _, ch := range history { // newest first
				if ch.Change == "grant" && ch.Scope == scope && ch.ClientID == c.ID {
					h.Since = &ch.Time
					break
				}
			}
			out = append(out, h)
		}
	}
	if asCSV {
		rows := make([][]string, 0, len(out))
		for _, h := range out {
			since := ""
			if h.Since != nil {
				since = h.Since.UTC().Format(time.RFC3339Nano)
			}
			rows = append(rows, []string{h.Scope, h.ClientID, h.ClientName, since})
		}
		writeCSV(w, "privileges.csv", []string{"scope", "client_id", "client_name", "since"}, rows)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"privileged_scopes": issuer.PrivilegedScopes(), "holders": out})
}

func (s *Server) dpoPrivilegeHistory(w http.ResponseWriter, r *http.Request, _ string) {
	asCSV, ok := wantsCSV(w, r)
	if !ok {
		return
	}
	history, err := s.PrivilegeHistory(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if asCSV {
		rows := make([][]string, 0, len(history))
		for _, c := range history {
			rows = append(rows, []string{strconv.FormatInt(c.Index, 10), c.Time.UTC().Format(time.RFC3339Nano), c.Change, c.Scope,
				c.ClientID, c.Actor.Kind, c.Actor.ID, c.RequestID})
		}
		writeCSV(w, "privilege-history.csv", []string{"index", "time", "change", "scope", "client_id", "actor_kind", "actor_id", "request_id"}, rows)
		return
	}
	if history == nil {
		history = []PrivilegeChange{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": history})
}

// wantsCSV reads ?format=: json (default) or csv; anything else is a 400.
func wantsCSV(w http.ResponseWriter, r *http.Request) (csvOut, ok bool) {
	switch r.URL.Query().Get("format") {
	case "", "json":
		return false, true
	case "csv":
		return true, true
	}
	writeProblem(w, http.StatusBadRequest, "Invalid request", "format must be json or csv")
	return false, false
}

// writeCSV writes a header and rows as text/csv (RFC 4180).
func writeCSV(w http.ResponseWriter, name string, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	cw.Write(header)
	cw.WriteAll(rows)
}
