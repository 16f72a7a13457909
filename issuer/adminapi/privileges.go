package adminapi

// The DPO's view of the privileged scopes (issuer.PrivilegedScopes), which
// only the operator grants and removes (scope cedula:dpo):
//
//	GET /dpo/privileges[?format=csv]          who holds which privileged scope now, since when
//	GET /dpo/privileges/history[?format=csv]  every grant and removal, newest first: when, which client and scope, by whom
//
// The history is read from the audit log (the entries of
// issuer.ActionPrivilegeGrant and ActionPrivilegeRevoke), so each change
// comes with its index: GET /dpo/audit/export?action=… proves it.

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/issuer"
)

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
	Index     int64          `json:"index"`
	Time      time.Time      `json:"time"`
	Change    string         `json:"change"` // "grant" or "revoke"
	Scope     string         `json:"scope"`
	ClientID  string         `json:"client_id"`
	Actor     auditapi.Actor `json:"actor"`
	RequestID string         `json:"request_id,omitempty"`
}

// PrivilegeHistory reads every grant and removal of a privileged scope by
// the operator from the log, newest first.
func (a *API) PrivilegeHistory(ctx context.Context) ([]PrivilegeChange, error) {
	if err := a.cfg.Log.Flush(ctx); err != nil { // changes still in the outbox
		return nil, err
	}
	var out []PrivilegeChange
	for action, change := range map[string]string{issuer.ActionPrivilegeGrant: "grant", issuer.ActionPrivilegeRevoke: "revoke"} {
		q := audit.Query{Action: action, Limit: audit.MaxSearch}
		for {
			recs, next, err := a.cfg.Log.Search(ctx, q)
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
					Actor: auditapi.Actor{Kind: string(e.Actor.Kind), ID: e.Actor.ID}, RequestID: e.RequestID})
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

func (a *API) privileges(c httpapi.Context) error {
	asCSV, err := httpapi.WantsCSV(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	history, err := a.PrivilegeHistory(ctx)
	if err != nil {
		return err
	}
	clients, err := a.cfg.Clients.ListClients(ctx)
	if err != nil {
		return err
	}
	out := []PrivilegeHolder{}
	for _, scope := range issuer.PrivilegedScopes() {
		for _, cl := range clients {
			if !slices.Contains(cl.Privileges(), scope) {
				continue
			}
			h := PrivilegeHolder{Scope: scope, ClientID: cl.ID, ClientName: cl.Name}
			for _, ch := range history { // newest first
				if ch.Change == "grant" && ch.Scope == scope && ch.ClientID == cl.ID {
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
		return httpapi.CSV(c, "privileges.csv", []string{"scope", "client_id", "client_name", "since"}, rows)
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"privileged_scopes": issuer.PrivilegedScopes(), "holders": out})
}

func (a *API) privilegeHistory(c httpapi.Context) error {
	asCSV, err := httpapi.WantsCSV(c)
	if err != nil {
		return err
	}
	history, err := a.PrivilegeHistory(c.Request().Context())
	if err != nil {
		return err
	}
	if asCSV {
		rows := make([][]string, 0, len(history))
		for _, ch := range history {
			rows = append(rows, []string{strconv.FormatInt(ch.Index, 10), ch.Time.UTC().Format(time.RFC3339Nano), ch.Change, ch.Scope,
				ch.ClientID, ch.Actor.Kind, ch.Actor.ID, ch.RequestID})
		}
		return httpapi.CSV(c, "privilege-history.csv", []string{"index", "time", "change", "scope", "client_id", "actor_kind", "actor_id", "request_id"}, rows)
	}
	if history == nil {
		history = []PrivilegeChange{}
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"changes": history})
}
