//go:build cedula_noaudit

package sqlstore

// TokenAudit is false in this benchmark-only build (build tag
// cedula_noaudit): access tokens are issued without their audit entry, so
// that `cedula bench token` can measure the entry's share of a request.
// Such a build breaks the rule that every token is audited; it must never
// serve anyone (TestTokenAuditInDefaultBuild fails in it).
const TokenAudit = false
