package issuer

// The audit actions the provider records (audit.Entry.Action), one per
// change of the store. Each entry names its actor, the citizen's audit
// pseudonym as subject (when a citizen is concerned) and, for tokens and
// authorizations, the OAuth scopes granted as data categories.
const (
	ActionCitizenCreate   = "citizen.create"   // a registrar created a citizen
	ActionCitizenErase    = "citizen.erase"    // the citizen's personal data erased (GDPR Art. 17)
	ActionClientRegister  = "client.register"  // a client registered or changed
	ActionClientDelete    = "client.delete"    // a client removed
	ActionEnrolmentCreate = "enrolment.create" // an enrolment link issued for a citizen
	ActionEnrolmentUse    = "enrolment.use"    // the citizen opened and used the link
	ActionPasskeyAdd      = "passkey.add"      // a passkey registered
	ActionPasskeyRename   = "passkey.rename"   // a passkey renamed
	ActionPasskeyRemove   = "passkey.remove"   // passkeys removed (one, or all but one at recovery)
	// ActionLogin is a login with a passkey; outcome denied when the
	// authenticator's signature counter went back (a possible clone).
	ActionLogin         = "passkey.login"
	ActionRecoveryCodes = "recovery.codes" // a new set of recovery codes replaced the old one
	ActionRecoveryUse   = "recovery.use"   // a recovery code used
	ActionSessionStart  = "session.start"  // a session with Cedula's own pages began
	ActionSessionEnd    = "session.end"    // sessions ended (logout, recovery, back-channel)
	ActionAuthorize     = "oidc.authorize" // the citizen authorized the client (actor) for the scopes
	ActionToken         = "oidc.token"     // an access token (and refresh token) issued to the client
	ActionRefresh       = "oidc.refresh"   // a refresh token rotated; denied when a used one came back
	ActionRevoke        = "oidc.revoke"    // tokens revoked
	// ActionPrivilegeGrant and ActionPrivilegeRevoke record one privileged
	// scope (PrivilegedScopes) given to or taken from a client, by the
	// operator (actor admin-cli or config); the categories name the client
	// and the scope (PrivilegeCategories).
	ActionPrivilegeGrant  = "client.privilege.grant"
	ActionPrivilegeRevoke = "client.privilege.revoke"
)

// ScopeCategories returns the scopes that name personal data (profile,
// email, …) — every scope but the protocol ones, openid and
// offline_access — as the data categories of an audit entry.
func ScopeCategories(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if s == "openid" || s == "offline_access" || s == "" {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}
