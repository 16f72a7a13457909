package issuer

import (
	"github.com/cedula/cedula/internal/scopes"

	"slices"
	"strings"
)

// The privileged scopes. A client_credentials token with one of them reaches
// beyond the client's own agency: ScopeAdmin administers citizens, clients
// and purposes; ScopeDPO reads every citizen's audit trail and consents. For
// separation of duties they are granted and removed only by the operator —
// on the command line or in the configuration — each grant and removal its
// own audit entry (ActionPrivilegeGrant, ActionPrivilegeRevoke); the admin
// API cannot change them, not even for the calling client (ErrPrivileged).
const (
	ScopeAdmin = scopes.Admin
	ScopeDPO   = scopes.DPO
)

// PrivilegedScopes lists the privileged scopes, sorted: the one place that
// says which scopes are.
func PrivilegedScopes() []string { return []string{ScopeAdmin, ScopeDPO} }

// IsPrivileged reports whether scope is one of PrivilegedScopes.
func IsPrivileged(scope string) bool { return slices.Contains(PrivilegedScopes(), scope) }

// Privileges returns the privileged scopes c holds, sorted, without
// repeats; nil when none.
func (c Client) Privileges() []string {
	var out []string
	for _, p := range PrivilegedScopes() {
		if slices.Contains(c.Scopes, p) {
			out = append(out, p)
		}
	}
	return out
}

// PrivilegeChanges returns the privileged scopes that after holds and
// before does not (granted) and those before holds and after does not
// (revoked), each sorted.
func PrivilegeChanges(before, after Client) (granted, revoked []string) {
	was, is := before.Privileges(), after.Privileges()
	for _, p := range is {
		if !slices.Contains(was, p) {
			granted = append(granted, p)
		}
	}
	for _, p := range was {
		if !slices.Contains(is, p) {
			revoked = append(revoked, p)
		}
	}
	return granted, revoked
}

// clientCategory marks the category that names the client in the entry of
// a privilege change: audit entries name citizens as subjects, never
// clients, so the client and the scope are the entry's two categories.
const clientCategory = "client:"

// PrivilegeCategories are the categories of the audit entry of a change of
// clientID's privileged scope: "client:" + clientID, and the scope.
func PrivilegeCategories(clientID, scope string) []string {
	return []string{clientCategory + clientID, scope}
}

// ParsePrivilegeCategories reads back what PrivilegeCategories wrote; ok is
// false for categories of another shape.
func ParsePrivilegeCategories(categories []string) (clientID, scope string, ok bool) {
	if len(categories) != 2 {
		return "", "", false
	}
	for _, c := range categories {
		if id, isClient := strings.CutPrefix(c, clientCategory); isClient {
			clientID = id
		} else {
			scope = c
		}
	}
	return clientID, scope, clientID != "" && IsPrivileged(scope)
}
