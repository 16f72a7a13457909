//go:build !cedula_noaudit

package sqlstore

// TokenAudit reports whether the token endpoint's writes append their
// audit entries: always, except in the benchmark-only build (build tag
// cedula_noaudit), which exists to measure the entry's share of a token
// request and must never serve anyone.
const TokenAudit = true
